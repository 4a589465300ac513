"""Screenshots of the lab's panels (docs/lab/*.png) taken in headless Chromium, as the lab tests drive it:
starts a lab in a temporary folder, trains the quick model through the page, draws a digit, runs the
playground, opens the errors of one confusion-matrix cell, and shows a small numnet search (Optuna) that
ran in the lab's folder in the Search panel.

    PYTHONPATH=src python scripts/lab_screenshots.py [--out docs/lab] [--only search]

Needs selenium, /usr/bin/chromium and /usr/bin/chromedriver (scripts/setup-tests.sh installs them).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from numnet.lab import make_server

# a "2" drawn in three strokes on the 280x280 pad (pixel coordinates)
TWO = [[(80, 90), (100, 60), (140, 48), (180, 60), (196, 96), (180, 140), (140, 180), (90, 225)],
       [(90, 225), (150, 225), (205, 225)]]


def chromium(width=1280, height=900) -> webdriver.Chrome:
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def draw(driver, strokes, canvas_id="pad"):
    """Draw polylines on the canvas with real mouse events (offsets from the canvas centre)."""
    pad = driver.find_element(By.ID, canvas_id)
    w, h = pad.size["width"], pad.size["height"]
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        chain = ActionChains(driver, duration=10).move_to_element_with_offset(pad, x - w // 2, y - h // 2).click_and_hold()
        px, py = x, y
        for x, y in rest:
            chain.move_by_offset(x - px, y - py)
            px, py = x, y
        chain.release().perform()


def wait(driver, condition, timeout=60):
    """Wait for condition(driver); an element the page redraws meanwhile (stale) is looked up again."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition(d))


# a small search: 3 epochs on 10,000 images per trial, the median pruner stopping the weak ones
SEARCH_SPACE = {"epochs": 3, "train_size": 10000, "validation_size": 1000, "sizes": [784, 32, 10],
                "optimizer": "momentum",
                "search": {"lr": {"dist": "log", "low": 1e-3, "high": 3.0},
                           "beta": {"dist": "one-minus-log", "low": 0.5, "high": 0.99},
                           "batch_size": {"dist": "choice", "values": [16, 32, 64, 128]}}}


def search_screenshot(driver, workdir, out):
    """Run a 16-trial search into WORKDIR/search (its journal.log) and take the Search panel."""
    from numnet.data import load_mnist
    from numnet.search import search

    (X, y), (Xv, yv), (Xt, yt) = load_mnist(validation_size=1000)
    search(SEARCH_SPACE, trials=16, data=((X[:10000], y[:10000]), (Xv, yv), (Xt[:500], yt[:500])),
           out=Path(workdir) / "search", study="mnist-momentum", pruner="median", seed=3, report=False)
    driver.set_window_size(1280, 1500)
    driver.find_element(By.CSS_SELECTOR, "button[data-panel=search]").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#search-table tbody tr")) == 16)
    time.sleep(0.5)
    driver.save_screenshot(str(out / "search.png"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/lab")
    ap.add_argument("--only", choices=["search"], help="take only this panel's screenshot")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        server = make_server(workdir, port=0)
        server.start()
        driver = chromium()
        try:
            driver.get(server.url())
            wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
            if args.only == "search":
                search_screenshot(driver, workdir, out)
                return 0
            driver.save_screenshot(str(out / "start.png"))
            driver.find_element(By.ID, "quick-train").click()
            wait(driver, lambda d: d.find_element(By.ID, "model").get_attribute("value"), 240)
            draw(driver, TWO)
            time.sleep(0.5)  # past the 100 ms debounce: the last request has been sent
            wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-shown")
                 == d.find_element(By.TAG_NAME, "body").get_attribute("data-requested"))
            hidden = driver.find_element(By.ID, "hidden-1")  # a hidden unit clicked: its weights, its activation
            ActionChains(driver).move_to_element_with_offset(hidden, -30, -30).click().perform()
            wait(driver, lambda d: d.execute_script("const i = document.getElementById('unit-weights');"
                                                    " return i.complete && i.naturalWidth > 0"))
            time.sleep(0.3)
            driver.save_screenshot(str(out / "draw.png"))
            driver.find_element(By.CSS_SELECTOR, "button[data-panel=train]").click()
            for name, value in {"sizes": "784,64,10", "epochs": "5", "train_size": "10000"}.items():
                field = driver.find_element(By.NAME, name)
                field.clear()
                field.send_keys(value)
            driver.find_element(By.ID, "train-start").click()
            wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#runs li"))
            boxes = driver.find_elements(By.CSS_SELECTOR, "#runs li input")
            boxes[-1].click()  # the quick model's run, overlaid
            wait(driver, lambda d: d.find_element(By.ID, "acc-chart").get_attribute("data-epochs") == "2", 120)
            driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.3)
            driver.save_screenshot(str(out / "train.png"))  # live, two epochs in
            driver.find_element(By.ID, "train-stop").click()
            wait(driver, lambda d: "saved" in d.find_element(By.ID, "train-status").text, 60)
            Select(driver.find_element(By.ID, "model")).select_by_value("lab-run-1.npz")
            driver.find_element(By.CSS_SELECTOR, "button[data-panel=inside]").click()
            driver.set_window_size(1280, 1500)
            wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#grad-table td"))
            wait(driver, lambda d: d.execute_script("return document.getElementById('weights').complete"))
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#test-grid figure")) == 40)
            time.sleep(0.5)
            driver.save_screenshot(str(out / "inside.png"))
            driver.set_window_size(1280, 900)
            driver.find_element(By.CSS_SELECTOR, "button[data-panel=play]").click()
            driver.find_element(By.ID, "play-start").click()
            wait(driver, lambda d: d.find_element(By.ID, "boundaries").text.count("epoch 300") == 3, 120)
            time.sleep(0.5)
            driver.save_screenshot(str(out / "playground.png"))
            driver.find_element(By.CSS_SELECTOR, "button[data-panel=errors]").click()
            wait(driver, lambda d: d.find_elements(By.ID, "cell-4-9"))
            driver.find_element(By.ID, "cell-4-9").click()
            wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#gallery .mistake")  # the 4 -> 9 gallery
                 and all(": 4 → 9 " in m.text for m in d.find_elements(By.CSS_SELECTOR, "#gallery .mistake")))
            tag = driver.find_element(By.CSS_SELECTOR, "#gallery .mistake input")
            tag.send_keys("open top, looks like 9\n")
            wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#gallery .mistake.saved"))
            time.sleep(0.5)
            driver.save_screenshot(str(out / "errors.png"))
            search_screenshot(driver, workdir, out)
        finally:
            driver.quit()
            server.close()
    for p in sorted(out.glob("*.png")):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
