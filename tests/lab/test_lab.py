"""numnet lab: the server's safety (token, Host header, size and pixel limits, names, malformed requests),
its API (predict with the predict command's preprocessing, training that streams and stops, errors.csv),
the `numnet lab` command, the Search panel's reading of real numnet searches (read-only, while they grow),
and the page driven in a real headless Chromium (draw, train, tag, search, 403)."""
import csv
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from numnet.data.images import ImageTooLarge, load_digit
from numnet.lab import make_server
from numnet.lab.core import ERRORS_COLUMNS, MAX_PIXELS
from numnet.runs import run

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab")
    run(overrides={"sizes": [784, 32, 10], "epochs": 1, "train_size": 3000, "validation_size": 500,
                   "optimizer": "adam", "lr": 0.005, "seed": 1}, out=d / "tiny.npz", verbose=0)
    return d


@pytest.fixture(scope="module")
def server(lab_dir):
    s = make_server(lab_dir, port=0)
    s.start()
    yield s
    s.close()


@pytest.fixture
def server_factory():
    """Start lab servers (make_server's arguments) for one test; all closed at its end."""
    started = []

    def start(workdir, **kw):
        s = make_server(workdir, port=0, **kw)
        s.start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def request(server, path, body=None, token=True, headers=None, method=None):
    """(status, headers, body bytes) of one request to the lab."""
    h = dict(headers or {})
    if body is not None and not path.startswith("/api/predict"):
        h.setdefault("Content-Type", "application/json")  # the lab reads JSON only when sent as JSON
    if token is True:
        h["X-Lab-Token"] = server.token
    elif token:
        h["X-Lab-Token"] = token
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(server, path, body=None, **kw):
    status, _, data = request(server, path, body, **kw)
    return status, json.loads(data)


def digit_png(lines=(((140, 40), (140, 240)),), size=280) -> bytes:
    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    for line in lines:
        d.line(line, fill=0, width=size // 14)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def alive(server):
    assert request(server, "/api/state")[0] == 200


# ---------------------------------------------------------------------------------------------- safety
def test_token_is_required(server):
    assert request(server, "/", token=None)[0] == 403
    assert request(server, "/api/state", token=None)[0] == 403
    assert request(server, "/api/state", token="wrong")[0] == 403
    assert request(server, "/?token=wrong", token=None)[0] == 403
    assert request(server, "/api/state", token=None, headers={"Cookie": f"{server.cookie}=wrong"})[0] == 403
    status, headers, page = request(server, f"/?token={server.token}", token=None)
    assert status == 200 and b"numnet lab" in page
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert request(server, "/api/state")[1]["X-Content-Type-Options"] == "nosniff"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert request(server, "/api/state", token=None, headers={"Cookie": cookie.split(";")[0]})[0] == 200
    assert request(server, "/api/state", token=None, headers={"Authorization": f"token {server.token}"})[0] == 200


def test_host_header_must_be_local(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/api/state", headers={"Host": "evil.example:80", "X-Lab-Token": server.token})
    assert conn.getresponse().status == 403
    conn.close()
    alive(server)


def test_oversized_upload_is_413_and_the_server_goes_on(server):
    status, body = get_json(server, "/api/predict?model=tiny.npz", b"\0" * (6 * 1024 * 1024))
    assert status == 413 and "limit" in body["error"]
    alive(server)


def test_too_many_pixels_are_refused_before_decoding(server, tmp_path):
    buf = io.BytesIO()
    Image.new("L", (6000, 5000), 255).save(buf, format="PNG")  # 30 megapixels, a few kB of PNG
    assert len(buf.getvalue()) < 1024 * 1024
    status, body = get_json(server, "/api/predict?model=tiny.npz", buf.getvalue())
    assert status == 413 and "megapixels" in body["error"]
    with pytest.raises(ImageTooLarge):
        load_digit(buf.getvalue(), max_pixels=MAX_PIXELS)
    alive(server)


@pytest.mark.parametrize("path,expected", [
    ("/api/inside?model=../tiny.npz", 400),
    ("/api/inside?model=..%2F..%2Fetc%2Fpasswd", 400),
    ("/api/inside?model=%2Fetc%2Fpasswd", 400),
    ("/api/inside?model=sub/tiny.npz", 400),
    ("/api/inside?model=missing.npz", 404),
    ("/../../etc/passwd", 404),
    ("/static/../server.py", 404),
    ("/api/errors/image.png?index=-1", 404),
    ("/api/errors/image.png?index=../../x", 400),
    ("/api/play/events?since=-3", 400),
    ("/api/inside/weights.png?model=tiny.npz&count=abc", 400),
])
def test_paths_outside_the_lab_are_refused(server, path, expected):
    assert request(server, path)[0] == expected
    alive(server)


def test_a_symlink_out_of_the_lab_is_not_a_model(server, lab_dir, tmp_path):
    shutil.copy(lab_dir / "tiny.npz", tmp_path / "outside.npz")
    (lab_dir / "link.npz").symlink_to(tmp_path / "outside.npz")
    try:
        assert request(server, "/api/inside?model=link.npz")[0] == 404
    finally:
        (lab_dir / "link.npz").unlink()


@pytest.mark.parametrize("path,body", [
    ("/api/train", b"{bad json"),
    ("/api/train", b"[1, 2]"),
    ("/api/train", b"\xff\xfe"),
    ("/api/train", b"[" * 200_000),
    ("/api/train", json.dumps({"sizes": "a,b"}).encode()),
    ("/api/train", json.dumps({"sizes": [10, 5, 10]}).encode()),
    ("/api/train", json.dumps({"optimizer": "nope"}).encode()),
    ("/api/train", json.dumps({"sizes": "784,100000,10"}).encode()),
    ("/api/train", json.dumps({"recipe": "../../etc/passwd"}).encode()),
    ("/api/train", json.dumps({"name": "../evil"}).encode()),
    ("/api/train", json.dumps({"epochs": {"x": 1}}).encode()),
    ("/api/errors/tag", json.dumps({"index": "x", "tags": "a"}).encode()),
    ("/api/errors/tag", json.dumps({"index": 3, "tags": ["a"]}).encode()),
    ("/api/play", json.dumps({"dataset": "../../x"}).encode()),
    ("/api/play", json.dumps({"optimizers": "adam"}).encode()),
    ("/api/predict?model=tiny.npz", b"not an image"),
    ("/api/predict?model=tiny.npz", digit_png(lines=())),  # blank
])
def test_malformed_requests_get_400(server, path, body):
    status, answer = get_json(server, path, body)
    assert status == 400 and answer["error"]
    alive(server)


def test_raw_garbage_and_missing_length_leave_the_server_running(server):
    for raw in (b"POST /api/train HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Lab-Token: "
                + server.token.encode() + b"\r\n\r\n",
                b"GARBAGE\r\n\r\n", b"GET /api/state HTTP/1.0\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(raw)
            answer = s.recv(1000)
        assert b"400" in answer or b"403" in answer, answer[:80]
    alive(server)


# ---------------------------------------------------------------------------------------------- issue 23
def test_requests_from_another_origin_or_not_json_are_refused(server, lab_dir):
    """CSRF: a page on another port of this machine is another origin but the same site (the SameSite cookie
    goes along); its no-cors text/plain POST must start nothing."""
    before = sorted(p.name for p in lab_dir.glob("*.npz"))
    cookie = {"Cookie": f"{server.cookie}={server.token}"}
    quick = json.dumps({"train_size": 100, "epochs": 1}).encode()
    for headers in ({"Origin": "http://127.0.0.1:3000", "Content-Type": "text/plain"},
                    {"Origin": "http://127.0.0.1:3000", "Content-Type": "application/json"},
                    {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"},
                    {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
                    {"Origin": "null", "Content-Type": "application/json"}):
        status, r = get_json(server, "/api/train/quick", quick, token=None, headers={**cookie, **headers})
        assert status == 403 and "refused" in r["error"], headers
    status, r = get_json(server, "/api/errors/tag", json.dumps({"model": "tiny.npz", "index": 1, "tags": "x"}).encode(),
                         token=None, headers={**cookie, "Origin": "http://localhost:8000"})
    assert status == 403
    assert get_json(server, "/api/state", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    # the lab's own page: same origin passes the check; a body that is not application/json is never parsed
    status, r = get_json(server, "/api/train/quick", quick, headers={"Content-Type": "text/plain",
                                                                     "Origin": f"http://127.0.0.1:{server.port}"})
    assert status == 415 and "application/json" in r["error"]
    own = {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    assert get_json(server, "/api/play/stop", b"{}", headers=own)[0] == 200
    assert request(server, "/", token=None, headers={"Sec-Fetch-Site": "cross-site", **cookie})[0] == 200  # a link
    assert sorted(p.name for p in lab_dir.glob("*.npz")) == before
    assert get_json(server, "/api/train/status")[1]["status"] != "running"


def test_tags_that_look_like_formulas_are_stored_as_text_and_read_back_unchanged(server, lab_dir):
    m = get_json(server, "/api/errors/mistakes?model=tiny.npz&limit=6")[1]["mistakes"]
    tags = ['=HYPERLINK("http://evil.example","x")', "+1 loop", "-thin", "@SUM(A1)", "'quoted", "plain"]
    for row, tag in zip(m, tags):
        body = json.dumps({"model": "tiny.npz", "index": row["index"], "tags": tag}).encode()
        assert get_json(server, "/api/errors/tag", body)[0] == 200
    with open(lab_dir / "errors.csv", newline="") as f:
        cells = {int(r["index"]): r["tags"] for r in csv.DictReader(f)}
    stored = [cells[row["index"]] for row in m]
    assert all(not c.startswith(("=", "+", "-", "@")) for c in stored)
    assert stored == ["'" + t for t in tags[:5]] + ["plain"]
    shown = {r["index"]: r["tags"] for r in get_json(server, "/api/errors/mistakes?model=tiny.npz&limit=6")[1]["mistakes"]}
    assert [shown[row["index"]] for row in m] == tags
    for row in m:
        get_json(server, "/api/errors/tag", json.dumps({"model": "tiny.npz", "index": row["index"], "tags": ""}).encode())


def _together(n, fn):
    """fn() run by n threads released at once; their results."""
    barrier, out = threading.Barrier(n), [None] * n

    def go(k):
        barrier.wait()
        out[k] = fn()

    threads = [threading.Thread(target=go, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_simultaneous_quick_trains_start_one_run(tmp_path, lab_dir, server_factory):
    shutil.copy(lab_dir / "tiny.npz", tmp_path / "tiny.npz")
    server = server_factory(tmp_path)
    body = json.dumps({"train_size": 300, "validation_size": 100, "epochs": 1, "sizes": "784,8,10"}).encode()
    answers = _together(16, lambda: get_json(server, "/api/train/quick", body))
    started = [r for status, r in answers if status == 200]
    assert len(started) == 1, answers
    assert all(status == 409 and "already training" in r["error"] for status, r in answers if status != 200)
    server.lab.runs.job.thread.join(60)
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["lab-run-1.npz", "tiny.npz"]
    status, r = get_json(server, "/api/train/quick", body)  # the next start takes the next name
    assert status == 200 and r["model"] == "lab-run-2.npz"
    server.lab.runs.job.thread.join(60)


def test_playground_jobs_are_bounded_and_stop_stops_them(server):
    body = json.dumps({"epochs": 5000, "hidden": "16,16", "optimizers": ["sgd", "adam", "momentum"]}).encode()
    answers = _together(8, lambda: get_json(server, "/api/play", body))
    assert all(status in (200, 409) for status, _ in answers) and any(status == 200 for status, _ in answers)
    time.sleep(0.3)
    alive_now = [t for t in threading.enumerate() if t.name.startswith("lab-play")]
    assert 1 <= len(alive_now) <= 4  # one job: its thread and one per optimizer
    status, r = get_json(server, "/api/play/stop", b"{}")
    assert status == 200 and r["stopped"] is True
    assert not [t for t in threading.enumerate() if t.name.startswith("lab-play") and t.is_alive()]


@pytest.mark.parametrize("body,needle", [
    (b'{"epochs": Infinity}', "Infinity"),
    (b'{"epochs": NaN}', "NaN"),
    (b'{"sizes": [784, -Infinity, 10]}', "Infinity"),
    (b'{"lr": 1e999}', "too large"),
    pytest.param(b'{"epochs": ' + b"9" * 5000 + b"}", "digits", id="5000-digits"),
    (b'{"epoch": 3}', "'epoch'"),
    (b'{"optimiser": "adam"}', "'optimiser'"),
    (b'{"activation": "nope"}', "unknown activation"),
    (b'{"validation_size": 1000000000}', "validation_size"),
    (b'{"train_size": 60000}', "train_size"),
    (b'{"epochs": 2.5}', "epochs"),
    (b'{"lr": "fast"}', "lr"),
    (b'{"sizes": [784, 100000000000000000000, 10]}', "sizes"),
])
def test_json_values_are_checked_before_a_run_starts(server, body, needle):
    status, r = get_json(server, "/api/train", body)
    assert status == 400 and needle in r["error"], r
    assert get_json(server, "/api/train/status")[1]["status"] != "running"


@pytest.mark.parametrize("body,needle", [
    (b'{"noise": Infinity}', "Infinity"),
    (b'{"epochs": 1e400}', "too large"),
    (b'{"dataset": "moons", "hiden": "4"}', "'hiden'"),
    (b'{"lr": -1}', "lr"),
    (b'{"hidden": "8,1000"}', "hidden"),
])
def test_playground_settings_are_checked(server, body, needle):
    status, r = get_json(server, "/api/play", body)
    assert status == 400 and needle in r["error"], r
    assert get_json(server, "/api/errors/tag", b'{"index": 1, "tag": "x"}')[1]["error"].count("'tag'") == 1


def test_idle_and_slowloris_connections_are_closed(lab_dir):
    s = make_server(lab_dir, port=0)
    s.close()
    from numnet.lab.server import LabServer

    server = LabServer(s.lab, port=0, header_timeout=1.0)
    server.start()
    try:
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        slow.sendall(b"GET /api/state HTTP/1.1\r\nHost: localhost\r\n")
        t0 = time.monotonic()
        closed = {}
        while len(closed) < 2 and time.monotonic() - t0 < 6:
            try:
                slow.sendall(b"X-Slow: 1\r\n")  # a header line every 0.2 s, never the end of the head
            except OSError:
                closed.setdefault("slow", time.monotonic() - t0)
            for name, sock in (("idle", idle), ("slow", slow)):
                sock.setblocking(False)
                try:
                    if sock.recv(100) == b"":
                        closed.setdefault(name, time.monotonic() - t0)
                except BlockingIOError:
                    pass
                except OSError:
                    closed.setdefault(name, time.monotonic() - t0)
            time.sleep(0.2)
        assert set(closed) == {"idle", "slow"} and max(closed.values()) < 4, closed
        idle.close()
        slow.close()
        assert request(server, "/api/state")[0] == 200  # a normal request still gets its answer
    finally:
        server.close()


def test_a_newest_npz_that_is_no_model_or_a_link_does_not_break_requests(tmp_path, lab_dir, server_factory):
    shutil.copy(lab_dir / "tiny.npz", tmp_path / "tiny.npz")
    (tmp_path / "notes.txt").write_text("not a model")
    time.sleep(0.01)
    (tmp_path / "zz-broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "zz-link.npz").symlink_to(tmp_path / "notes.txt")
    os.mkfifo(tmp_path / "zz-fifo.npz")
    server = server_factory(tmp_path)
    models = get_json(server, "/api/state")[1]["models"]
    assert "zz-link.npz" not in models and "zz-fifo.npz" not in models and models[-1] == "tiny.npz"
    status, r = get_json(server, "/api/inside")  # no model named: the newest one that loads
    assert status == 200 and r["model"] == "tiny.npz"
    assert get_json(server, "/api/errors/confusion")[1]["model"] == "tiny.npz"
    assert get_json(server, "/api/inside?model=zz-link.npz")[0] == 404
    assert get_json(server, "/api/inside?model=zz-fifo.npz")[0] == 404
    status, r = get_json(server, "/api/inside?model=zz-broken.npz")
    assert status == 400 and "zz-broken.npz" in r["error"]


# ---------------------------------------------------------------------------------------------- API
def test_a_given_model_comes_first_and_a_non_mnist_model_is_refused(lab_dir, tmp_path):
    import numnet

    other = tmp_path / "given.npz"
    shutil.copy(lab_dir / "tiny.npz", other)
    s = make_server(lab_dir, model=other, port=0)
    try:
        assert s.lab.models()[0] == "given.npz" and "tiny.npz" in s.lab.models()
    finally:
        s.close()
    numnet.Network.from_sizes([2, 3, 2], seed=0).save(tmp_path / "toy.npz")
    with pytest.raises(ValueError, match="784-input"):
        make_server(lab_dir, model=tmp_path / "toy.npz", port=0)


def test_predict_uses_the_predict_commands_preprocessing(server, tmp_path):
    png = digit_png()
    (tmp_path / "one.png").write_bytes(png)
    status, r = get_json(server, "/api/predict?model=tiny.npz", png, headers={"Content-Type": "image/png"})
    assert status == 200
    np.testing.assert_allclose(r["input"], load_digit(tmp_path / "one.png"), atol=1e-3)
    assert len(r["probabilities"]) == 10 and abs(sum(r["probabilities"]) - 1) < 1e-2
    assert r["digit"] == int(np.argmax(r["probabilities"])) and [len(h) for h in r["hidden"]] == [32]


def test_the_state_lists_the_usable_devices_and_a_missing_one_is_refused(server):
    from numnet.utils.backend import usable_devices

    status, state = get_json(server, "/api/state")
    assert status == 200 and state["devices"] == usable_devices() and state["devices"][0] == "cpu"
    if "cuda" not in state["devices"]:
        status, r = get_json(server, "/api/train", json.dumps({"device": "cuda"}).encode())
        assert status == 400 and r["error"] == '--device cuda needs CuPy and a CUDA GPU: pip install "numnet[gpu]"'
    status, r = get_json(server, "/api/train", json.dumps({"device": "tpu"}).encode())
    assert status == 400 and "device must be one of cpu, cuda" in r["error"]
    assert get_json(server, "/api/train/status")[1]["status"] != "running"


def test_training_streams_events_stops_and_saves(server, lab_dir):
    status, r = get_json(server, "/api/train", json.dumps({"sizes": "784,16,10", "epochs": 50, "train_size": 2000,
                                                           "batch_size": 50, "optimizer": "sgd"}).encode())
    assert status == 200
    assert get_json(server, "/api/train", b"{}")[0] == 409  # one run at a time
    with urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/train/events?since=0", headers={"X-Lab-Token": server.token}),
            timeout=60) as stream:
        events = []
        for line in stream:
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "epoch" and events[-1]["epoch"] == 1:
                    assert get_json(server, "/api/train/stop", b"{}")[1] == {"stopping": True}
                if events[-1]["type"] == "end":
                    break
    kinds = [e["type"] for e in events]
    assert kinds[0] == "begin" and "batch" in kinds and kinds[-2:] == ["done", "end"]
    done = events[-2]
    assert done["stopped"] and done["epochs"] < 50 and (lab_dir / r["model"]).exists()
    assert r["model"] in get_json(server, "/api/state")[1]["models"]
    # a reconnecting EventSource sends the last id it saw and gets only the events after it
    status, _, again = request(server, "/api/train/events?since=0", headers={"Last-Event-ID": "2"})
    first = json.loads(again.split(b"data: ")[1].split(b"\n")[0])
    assert status == 200 and first["i"] == 3


def test_tags_go_to_errors_csv(server, lab_dir):
    status, m = get_json(server, "/api/errors/mistakes?model=tiny.npz&limit=2")
    assert status == 200 and m["total"] > 0
    first = m["mistakes"][0]
    assert get_json(server, "/api/errors/tag", json.dumps({"model": "tiny.npz", "index": first["index"],
                                                           "tags": "thin,  slanted\nstroke"}).encode())[0] == 200
    with open(lab_dir / "errors.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ERRORS_COLUMNS
    row = next(r for r in rows if int(r["index"]) == first["index"])
    assert row["tags"] == "thin, slanted stroke" and int(row["true"]) == first["true"]
    assert int(row["predicted"]) == first["predicted"] and abs(float(row["confidence"]) - first["confidence"]) < 1e-3
    get_json(server, "/api/errors/tag", json.dumps({"model": "tiny.npz", "index": first["index"], "tags": ""}).encode())
    with open(lab_dir / "errors.csv", newline="") as f:
        assert all(int(r["index"]) != first["index"] for r in csv.DictReader(f))


def test_inside_and_playground(server):
    status, r = get_json(server, "/api/inside?model=tiny.npz")
    assert status == 200 and r["activations"][0]["units"] == 32 and len(r["gradients"]) == 2
    status, _, png = request(server, "/api/inside/weights.png?model=tiny.npz&count=16")
    assert status == 200 and Image.open(io.BytesIO(png)).size[0] > 28 * 16
    assert request(server, "/api/inside/weights.png?model=tiny.npz&count=0")[0] == 200
    status, p = get_json(server, "/api/play", json.dumps({"dataset": "circles", "epochs": 20, "hidden": "4",
                                                          "optimizers": ["sgd", "adam"]}).encode())
    assert status == 200 and len(p["points"]) + len(p["test_points"]) == 300 and len(p["test_points"]) == 90
    deadline, snaps = time.time() + 30, []
    while time.time() < deadline and len({(s["optimizer"], s["epoch"]) for s in snaps} & {("sgd", 20), ("adam", 20)}) < 2:
        snaps += get_json(server, f"/api/play/events?since={0}")[1]["events"]
        time.sleep(0.1)
    assert {("sgd", 20), ("adam", 20)} <= {(s["optimizer"], s["epoch"]) for s in snaps}
    assert len(snaps[-1]["grid"]) == p["side"] ** 2


def test_numnet_lab_command_prints_a_url_and_serves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "numnet", "lab", "--no-browser", "--port", "0", "--dir", str(tmp_path),
                             "--storage", str(tmp_path / "elsewhere.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        url = lines[1].strip()
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url.split("?")[0], timeout=10)
        assert e.value.code == 403
        with urllib.request.urlopen(url.replace("/?", "/api/search/list?"), timeout=10) as r:
            listed = json.loads(r.read())
        if listed["available"]:  # Optuna installed: the --storage given is listed (here: not there yet)
            assert [(s["id"], s["label"]) for s in listed["storages"]] == [(":storage", str(tmp_path / "elsewhere.log"))]
            assert "no search journal" in listed["storages"][0]["error"]
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        assert proc.wait(10) == 0 and "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    bad = subprocess.run([sys.executable, "-m", "numnet", "lab", "--no-browser", str(tmp_path / "none.npz")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("numnet: error: ")


def test_ctrl_c_while_a_page_follows_a_run_stops_cleanly_and_saves_the_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "numnet", "lab", "--no-browser", "--port", "0", "--dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = [proc.stdout.readline() for _ in range(2)][1].strip()
        base, token = url.split("/?token=")
        headers = {"X-Lab-Token": token, "Content-Type": "application/json"}
        body = json.dumps({"sizes": "784,16,10", "epochs": 200, "train_size": 2000, "batch_size": 20}).encode()
        with urllib.request.urlopen(urllib.request.Request(base + "/api/train", body, headers), timeout=60) as r:
            name = json.loads(r.read())["model"]
        stream = urllib.request.urlopen(urllib.request.Request(base + "/api/train/events?since=0",
                                                               headers={"X-Lab-Token": token}), timeout=60)
        for line in stream:  # the page is following the run: its event stream is open
            if line.startswith(b"data: ") and json.loads(line[6:])["type"] == "epoch":
                break
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        elapsed, err = time.monotonic() - t0, proc.stderr.read()
        assert elapsed < 4, elapsed
        assert "Traceback" not in err and "graceful shutdown" not in err and "stopped" in err, err
        stream.close()
        assert (tmp_path / name).exists()  # the run was stopped and saved, not lost
        runs = json.loads((tmp_path / "lab-runs.json").read_text())["runs"]
        assert runs[-1]["model"] == name and runs[-1]["status"] == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_run_stopped_mid_epoch_is_reported_as_a_partial_epoch(tmp_path, lab_dir, server_factory):
    server = server_factory(tmp_path)
    status, r = get_json(server, "/api/train", json.dumps({"sizes": "784,8,10", "epochs": 3, "train_size": 20000,
                                                           "batch_size": 10, "validation_size": 500}).encode())
    assert status == 200
    job = server.lab.runs.job
    deadline = time.monotonic() + 60
    while not any(e["type"] == "batch" for e in job.events) and time.monotonic() < deadline:
        time.sleep(0.01)
    get_json(server, "/api/train/stop", b"{}")
    job.thread.join(60)
    events = get_json(server, "/api/train/status")[1]["events"]
    epoch = next(e for e in events if e["type"] == "epoch")
    done = next(e for e in events if e["type"] == "done")
    assert epoch["epoch"] == 1 and epoch["partial"] and 0 < epoch["fraction"] < 1 and epoch["x"] == epoch["fraction"]
    assert done["stopped"] and done["full_epochs"] == 0 and done["epochs"] < 1
    runs = get_json(server, "/api/runs")[1]["runs"]
    assert runs[-1]["model"] == r["model"] and runs[-1]["epochs_run"] < 1 and runs[-1]["status"] == "stopped"


def test_runs_and_their_curves_are_remembered_across_a_restart(tmp_path, server_factory):
    server = server_factory(tmp_path)
    for lr in (0.05, 0.5):
        status, r = get_json(server, "/api/train", json.dumps({"sizes": "784,8,10", "epochs": 2, "train_size": 300,
                                                               "validation_size": 200, "optimizer": "sgd",
                                                               "lr": lr}).encode())
        assert status == 200
        server.lab.runs.job.thread.join(60)
    server.close()
    again = server_factory(tmp_path)  # a new lab on the same folder
    runs = get_json(again, "/api/runs")[1]["runs"]
    assert [(x["model"], x["settings"]["lr"], x["status"]) for x in runs] == [
        ("lab-run-1.npz", 0.05, "done"), ("lab-run-2.npz", 0.5, "done")]
    for x in runs:
        assert [e["epoch"] for e in x["epochs"]] == [1, 2]
        assert all(e[k] is not None for e in x["epochs"] for k in ("train_cost", "val_cost", "train_accuracy",
                                                                   "val_accuracy"))
    (tmp_path / "lab-runs.json").write_text("{damaged")
    listed = get_json(again, "/api/runs")[1]
    assert listed["runs"] == [] and "damaged" in listed["problem"]


def test_the_playground_reports_each_optimizers_divergence(server):
    status, p = get_json(server, "/api/play", json.dumps({"dataset": "moons", "activation": "relu", "lr": 10,
                                                          "epochs": 50, "optimizers": ["sgd", "adam"]}).encode())
    assert status == 200
    deadline, events = time.time() + 30, []
    while time.time() < deadline:
        r = get_json(server, f"/api/play/events?since={len(events)}")[1]
        events += r["events"]
        if r["status"] != "running":
            break
        time.sleep(0.1)
    failed = {e["optimizer"]: e["message"] for e in events if e["type"] == "error"}
    assert set(failed) == {"sgd", "adam"} and all("diverged" in m and "learning rate" in m for m in failed.values())


@pytest.fixture(scope="module")
def standardized(lab_dir):
    run(overrides={"sizes": [784, 12, 10], "epochs": 1, "train_size": 500, "validation_size": 100, "seed": 1,
                   "standardize": True}, out=lab_dir / "std.npz", verbose=0)
    return "std.npz"


def test_a_standardized_models_views_work(server, standardized):
    status, _, png = request(server, f"/api/inside/weights.png?model={standardized}&count=12")
    assert status == 200 and Image.open(io.BytesIO(png)).size[0] > 28 * 12
    status, r = get_json(server, f"/api/inside?model={standardized}")
    assert status == 200 and [a["units"] for a in r["activations"]] == [12] and len(r["gradients"]) == 2
    status, r = get_json(server, f"/api/predict?model={standardized}", digit_png())
    assert status == 200 and [len(h) for h in r["hidden"]] == [12]
    assert request(server, f"/api/inside/unit.png?model={standardized}&unit=3")[0] == 200
    assert get_json(server, f"/api/inside/unit?model={standardized}&unit=12")[0] == 404


def test_unit_and_test_grid_views(server):
    status, r = get_json(server, "/api/inside/unit?model=tiny.npz&layer=1&unit=5")
    assert status == 200 and r["unit"] == 5 and r["fan_in"] == 784 and 0 <= r["zero_fraction"] <= 1
    status, _, png = request(server, "/api/inside/unit.png?model=tiny.npz&unit=5")
    assert status == 200 and Image.open(io.BytesIO(png)).size == (168, 168)
    status, g = get_json(server, "/api/test/grid?model=tiny.npz&start=10&count=5")
    assert status == 200 and [x["index"] for x in g["images"]] == [10, 11, 12, 13, 14]
    assert all(len(x["top"]) == 3 and x["top"][0][0] == x["predicted"] for x in g["images"])


def test_a_text_file_upload_is_refused_without_object_reprs(server):
    status, r = get_json(server, "/api/predict?model=tiny.npz", b"just some text, not an image")
    assert status == 400 and "object at 0x" not in r["error"] and "not an image" in r["error"]


# ---------------------------------------------------------------------------------------------- search
SEARCH_SPACE = {"epochs": 1, "train_size": 300, "validation_size": 300, "sizes": [784, 16, 10],
                "optimizer": "momentum",
                "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1.0},
                           "beta": {"dist": "one-minus-log", "low": 0.8, "high": 0.99},
                           "batch_size": {"dist": "choice", "values": [16, 32, 64]}}}
JOURNAL = "search/journal.log"


@pytest.fixture(scope="module")
def tiny_data():
    from numnet.data import load_mnist

    (X, y), (Xv, yv), (Xt, yt) = load_mnist(validation_size=1000)
    return (X[:300], y[:300]), (Xv[:300], yv[:300]), (Xt[:100], yt[:100])


def run_search(folder, trials, data, study="demo", **kw):
    """A real numnet search (its API, in this process): `trials` in all, continuing the study if it exists."""
    pytest.importorskip("optuna")
    from numnet.search import search

    return search(SEARCH_SPACE, trials=trials, data=data, out=folder, study=study, seed=0, report=False, **kw)


@pytest.fixture(scope="module")
def searched(lab_dir, tiny_data):
    return run_search(lab_dir / "search", 3, tiny_data)


def trials_url(storage=JOURNAL, study="demo"):
    from urllib.parse import urlencode

    return "/api/search/trials?" + urlencode({"storage": storage, "study": study})


def test_search_list_and_trials_read_the_study(server, lab_dir, searched):
    journal = lab_dir / JOURNAL
    before = hashlib.sha256(journal.read_bytes()).hexdigest()
    status, listed = get_json(server, "/api/search/list")
    assert status == 200 and listed["available"]
    storage = next(s for s in listed["storages"] if s["id"] == JOURNAL)
    assert [(s["name"], s["numnet"], s["trials"]) for s in storage["studies"]] == [("demo", True, 3)]
    status, r = get_json(server, trials_url())
    assert status == 200 and r["study"] == "demo" and r["objective"] == "validation accuracy"
    assert {p["name"]: p["scale"] for p in r["params"]} == {"lr": "log", "beta": "one-minus-log",
                                                            "batch_size": "choice"}
    stored = searched.study.get_trials()
    assert [t["number"] for t in r["trials"]] == [t.number for t in stored]
    for row, t in zip(r["trials"], stored):
        assert row["state"] == t.state.name == "COMPLETE" and row["value"] == pytest.approx(t.value)
        assert row["params"]["lr"] == pytest.approx(t.params["lr"])
        assert row["params"]["beta"] == pytest.approx(1 - t.params["one_minus_beta"])  # Optuna samples 1 - beta
        assert row["duration"] > 0 and row["epochs_run"] == 1
    assert r["best"]["number"] == max(stored, key=lambda t: t.value).number and r["counts"] == {"COMPLETE": 3}
    assert hashlib.sha256(journal.read_bytes()).hexdigest() == before  # read-only: not a byte written


def test_reading_never_takes_nor_waits_for_the_search_s_lock(server, lab_dir, searched):
    import fcntl

    from numnet.search.study import SearchError, open_storage

    optuna = pytest.importorskip("optuna")
    journal = lab_dir / JOURNAL
    before = journal.read_bytes()
    with open(f"{journal}.flock", "a") as held:  # a worker of the search is writing: it holds the lock
        fcntl.flock(held, fcntl.LOCK_EX)
        t0 = time.monotonic()
        assert get_json(server, trials_url())[0] == 200 and time.monotonic() - t0 < 5
    readonly = open_storage(journal, read_only=True)
    with pytest.raises(SearchError, match="read-only"):  # a write through the lab's storage is refused
        optuna.create_study(storage=readonly, study_name="intruder")
    assert journal.read_bytes() == before


def test_a_study_growing_while_it_is_read(server, lab_dir, tiny_data):
    folder = lab_dir / "grow"
    run_search(folder, 1, tiny_data, study="grow")
    url, seen, errors = trials_url("grow/journal.log", "grow"), [], []
    done = threading.Event()

    def reader():
        while not done.is_set():
            status, r = get_json(server, url)
            if status != 200:
                errors.append(r)
            else:
                seen.append(sum(t["state"] in ("COMPLETE", "PRUNED") for t in r["trials"]))

    t = threading.Thread(target=reader)
    t.start()
    try:
        run_search(folder, 6, tiny_data, study="grow")  # five more trials, written while the reader reads
    finally:
        done.set()
        t.join(30)
    status, r = get_json(server, url)
    assert not errors and status == 200 and len(r["trials"]) == 6
    assert seen == sorted(seen) and len(seen) > 1, seen  # never lost a trial once seen
    assert run_search(folder, 7, tiny_data, study="grow").study.trials[-1].number == 6  # the search goes on


@pytest.mark.parametrize("storage,study,expected", [
    ("../../etc/passwd", "demo", 400),
    ("/etc/passwd", "demo", 400),
    ("search/../search/journal.log", "demo", 400),
    ("search/journal.log\x00", "demo", 400),
    ("missing/journal.log", "demo", 404),
    ("tiny.npz", "demo", 404),
    ("link/journal.log", "demo", 404),
    (":storage", "demo", 404),
    (JOURNAL, "no-such-study", 404),
    (JOURNAL, "", 400),
])
def test_bad_search_names_are_refused(server, lab_dir, searched, tmp_path, storage, study, expected):
    outside = tmp_path / "journal.log"
    shutil.copy(lab_dir / JOURNAL, outside)
    (lab_dir / "link").mkdir(exist_ok=True)
    (lab_dir / "link" / "journal.log").unlink(missing_ok=True)
    (lab_dir / "link" / "journal.log").symlink_to(outside)  # a journal outside the lab is never read
    try:
        status, body = get_json(server, trials_url(storage, study))
        assert status == expected and body["error"]
        assert "link/journal.log" not in [s["id"] for s in get_json(server, "/api/search/list")[1]["storages"]]
    finally:
        (lab_dir / "link" / "journal.log").unlink()
    assert request(server, "/api/search/trials?study=demo")[0] == 400  # no storage
    alive(server)


def test_a_damaged_journal_is_listed_with_its_error(server, lab_dir, searched):
    (lab_dir / "damaged").mkdir()
    (lab_dir / "damaged" / "journal.log").write_text('{"op_code": not json\n{"op_code": 0}\n')
    try:
        listed = get_json(server, "/api/search/list")[1]["storages"]
        damaged = next(s for s in listed if s["id"] == "damaged/journal.log")
        assert damaged["studies"] == [] and damaged["error"]
        assert any(s["id"] == JOURNAL and s["studies"] for s in listed)  # the others are still listed
        status, r = get_json(server, trials_url("damaged/journal.log", "demo"))
        assert status == 400 and r["error"]
    finally:
        shutil.rmtree(lab_dir / "damaged")
    alive(server)


def test_search_panel_without_optuna_says_what_to_install(server, searched, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if the search extra were not installed
    status, r = get_json(server, "/api/search/list")
    assert status == 200 and r == {"available": False,
                                   "message": 'the Search panel needs Optuna: pip install "numnet[search]"'}
    status, r = get_json(server, trials_url())
    assert status == 501 and "numnet[search]" in r["error"]
    monkeypatch.undo()
    assert get_json(server, trials_url())[0] == 200


def test_a_storage_url_given_on_the_command_line(tmp_path, tiny_data):
    from numnet.lab.core import Lab

    url = f"sqlite:///{tmp_path / 'searches.db'}"
    run_search(tmp_path / "out", 2, tiny_data, study="rdb", storage=url)
    (tmp_path / "lab").mkdir()
    lab = Lab(tmp_path / "lab", storage=url)
    listed = lab.searches.listing()["storages"]
    assert [(s["id"], s["label"], [x["name"] for x in s["studies"]]) for s in listed] == [(":storage", url, ["rdb"])]
    assert len(lab.searches.trials(":storage", "rdb")["trials"]) == 2


def test_a_storage_that_holds_no_search_is_listed_with_why_and_left_as_it_was(tmp_path):
    from numnet.lab.core import Lab

    pytest.importorskip("optuna")
    (tmp_path / "lab").mkdir()
    missing = tmp_path / "none.db"
    listed = Lab(tmp_path / "lab", storage=f"sqlite:///{missing}").searches.listing()["storages"]
    assert listed[0]["studies"] == [] and listed[0]["error"] == f"no database file {missing}"
    assert not missing.exists()  # looking does not create the database
    import sqlite3

    sqlite3.connect(missing).close()  # an empty database: no Optuna tables
    listed = Lab(tmp_path / "lab", storage=f"sqlite:///{missing}").searches.listing()["storages"]
    assert listed[0]["error"] == f"no search in sqlite:///{missing} yet (it has no Optuna tables)"
    with sqlite3.connect(missing) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def _pg_tables(url):
    """Each table of a PostgreSQL database with a digest of its rows (to show that nothing was written)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as c:
        names = [r[0] for r in c.execute("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = 'public' ORDER BY table_name")]
        return {n: c.execute(f'SELECT count(*), md5(coalesce(string_agg(t::text, \',\' ORDER BY t::text), \'\')) '
                             f'FROM "{n}" t').fetchone() for n in names}


def _pg_database(url, name):
    """A new database on the server of `url`; its URL."""
    import psycopg

    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + "/" + name


def test_the_search_panel_reads_a_postgresql_study_as_it_grows(tmp_path, tiny_data, postgres, server_factory):
    """`numnet lab --storage postgresql://...`: a search on a real PostgreSQL server, listed and read through
    the lab's HTTP API while it goes on, without a row written by the lab; an empty database is listed with
    why and gets no tables."""
    postgres, empty = _pg_database(postgres, "lab"), _pg_database(postgres, "labempty")  # the server is shared
    run_search(tmp_path / "out", 2, tiny_data, study="lab-pg", storage=postgres)
    (tmp_path / "lab").mkdir()
    server = server_factory(tmp_path / "lab", storage=postgres)
    before = _pg_tables(postgres)
    status, listed = get_json(server, "/api/search/list")
    assert status == 200
    assert [(s["id"], s["label"], [(x["name"], x["numnet"], x["trials"]) for x in s["studies"]])
            for s in listed["storages"]] == [(":storage", postgres, [("lab-pg", True, 2)])]
    status, r = get_json(server, trials_url(":storage", "lab-pg"))
    assert status == 200 and [t["number"] for t in r["trials"]] == [0, 1]
    assert all(t["state"] == "COMPLETE" for t in r["trials"]) and r["best"]["number"] in (0, 1)
    assert _pg_tables(postgres) == before  # the lab read, and wrote nothing
    run_search(tmp_path / "out", 3, tiny_data, study="lab-pg", storage=postgres)  # the search goes on
    status, r = get_json(server, trials_url(":storage", "lab-pg"))
    assert status == 200 and [t["number"] for t in r["trials"]] == [0, 1, 2]
    assert get_json(server, trials_url(":storage", "no-such-study"))[0] == 404

    server = server_factory(tmp_path / "lab", storage=empty)
    status, listed = get_json(server, "/api/search/list")
    assert status == 200 and listed["storages"][0]["studies"] == []
    assert listed["storages"][0]["error"] == f"no search in {empty} yet (it has no Optuna tables)"
    assert get_json(server, trials_url(":storage", "lab-pg"))[0] == 400
    assert _pg_tables(empty) == {}


def test_without_the_lab_extra_numnet_lab_is_one_line_and_nothing_else_imports_starlette(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    hide = "import sys; sys.modules['starlette'] = sys.modules['uvicorn'] = None; "  # as if not installed
    p = subprocess.run([sys.executable, "-c", hide + "from numnet.cli import main; sys.exit(main(['lab', "
                        f"'--no-browser', '--dir', {str(tmp_path)!r}]))"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 2 and p.stderr == 'numnet: error: the lab needs its extra: pip install "numnet[lab]"\n'
    p = subprocess.run([sys.executable, "-c", "import sys, numnet, numnet.cli, numnet.lab.core; "
                        "numnet.cli.build_parser().parse_args(['lab']); "
                        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')))"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stderr


def test_a_chunked_body_is_cut_at_the_limit(server):
    """No Content-Length: the body is counted as it streams in and refused once past MAX_BODY."""
    from numnet.lab.server import MAX_BODY

    def chunks():
        piece = b"\0" * (1 << 20)
        for _ in range(MAX_BODY // len(piece) + 2):
            yield piece

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/api/predict?model=tiny.npz", body=chunks(), encode_chunked=True,
                 headers={"X-Lab-Token": server.token, "Transfer-Encoding": "chunked"})
    answer = conn.getresponse()
    assert answer.status == 413 and "limit" in json.loads(answer.read())["error"]
    conn.close()
    alive(server)


def test_the_server_stops_and_frees_its_port_quickly(lab_dir):
    s = make_server(lab_dir, port=0)
    s.start()
    port = s.port
    assert request(s, "/api/state")[0] == 200
    t0 = time.monotonic()
    s.close()
    assert time.monotonic() - t0 < 3
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


# ---------------------------------------------------------------------------------------------- browser
def _chromium():
    """A headless Chromium. Under CI (scripts/setup-tests.sh installed it) a missing browser fails the test;
    elsewhere it skips."""
    if not os.environ.get("CI"):
        pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        missing = "headless Chromium and chromedriver are not installed (scripts/setup-tests.sh)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    opts = Options()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)


@pytest.fixture(scope="module")
def browser(server):
    driver = _chromium()
    driver.get(server.url())
    yield driver
    driver.quit()


def wait(driver, condition, timeout=30):
    """Wait for condition(driver); an element the page redraws meanwhile (stale) is looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition(d))


def by_id(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def tab(driver, name):
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"button[data-panel={name}]").click()


def test_browser_draw_a_digit_and_read_the_prediction(browser):
    from selenium.webdriver.common.action_chains import ActionChains

    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
    tab(browser, "draw")
    pad = by_id(browser, "pad")
    # a "7": the top bar, then the diagonal (offsets from the canvas centre)
    ActionChains(browser, duration=10).move_to_element_with_offset(pad, -70, -90).click_and_hold() \
        .move_by_offset(70, 0).move_by_offset(70, 0).move_by_offset(-30, 60).move_by_offset(-30, 60) \
        .move_by_offset(-20, 50).release().perform()
    time.sleep(0.3)  # past the page's 100 ms debounce: the finished drawing's request is on its way
    wait(browser, lambda d: by_id(d, "pred-digit").text != ""
         and d.find_element("tag name", "body").get_attribute("data-shown")
         == d.find_element("tag name", "body").get_attribute("data-requested"))
    digit = int(by_id(browser, "pred-digit").text)
    values = [by_id(browser, f"bar-{k}").text.split()[-1] for k in range(10)]
    assert all(v.endswith("%") for v in values)
    shown = [float(v[:-1]) for v in values]
    assert max(shown) == shown[digit] and abs(sum(shown) - 100) < 1
    assert browser.execute_script(  # the 28x28 input is drawn: some bright pixels on black
        "const c = document.getElementById('seen'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 128; return n;") > 50


def test_browser_one_epoch_run_adds_a_point_to_the_curve(browser, server, lab_dir):
    tab(browser, "train")
    form = {"sizes": "784,16,10", "epochs": "1", "train_size": "500", "batch_size": "50"}
    for name, value in form.items():
        field = browser.find_element("name", name)
        field.clear()
        field.send_keys(value)
    from numnet.utils.backend import usable_devices

    options = [o.get_attribute("value") for o in by_id(browser, "device").find_elements("tag name", "option")]
    assert options == usable_devices() and by_id(browser, "device").get_attribute("value") == "cpu"
    before = set(by_id(browser, "model").text.split())
    previous = get_json(server, "/api/train/status")[1].get("model")  # an earlier test's run, maybe still shown
    by_id(browser, "train-start").click()
    wait(browser, lambda d: get_json(server, "/api/train/status")[1].get("model") not in (None, previous), 60)
    name = get_json(server, "/api/train/status")[1]["model"]  # this run's own model: wait for it to be saved
    wait(browser, lambda d: "saved" in by_id(d, "train-status").text and name in by_id(d, "train-status").text, 60)
    assert "done after 1 epoch(s)" in by_id(browser, "train-status").text
    assert by_id(browser, "acc-chart").get_attribute("data-epochs") == "1"
    assert int(by_id(browser, "acc-chart").get_attribute("data-points")) == 2  # train and validation accuracy
    assert float(by_id(browser, "acc-chart").get_attribute("data-ymax")) <= 1  # never above 100%
    assert int(by_id(browser, "cost-chart").get_attribute("data-points")) > 1
    # the model list is refreshed right after "saved" is shown: the new model becomes the selected one
    wait(browser, lambda d: by_id(d, "model").get_attribute("value") not in before, 10)
    new = by_id(browser, "model").get_attribute("value")
    assert new in by_id(browser, "train-status").text and (lab_dir / new).exists()


def test_browser_tag_a_mistake_and_find_it_in_the_csv(browser, lab_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(by_id(browser, "model")).select_by_value("tiny.npz")
    tab(browser, "errors")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#confusion td"))
    cell = browser.execute_script(
        "return [...document.querySelectorAll('#confusion td')].find(td => { const [, i, j] = td.id.split('-');"
        " return i !== j && +td.textContent > 0; }).id")
    by_id(browser, cell).click()
    _, true, pred = cell.split("-")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#gallery .mistake")
         and all(f": {true} → {pred} " in m.text for m in d.find_elements(By.CSS_SELECTOR, "#gallery .mistake")))
    card = browser.find_element(By.CSS_SELECTOR, "#gallery .mistake")
    index = int(card.get_attribute("id").split("-")[1])
    card.find_element(By.TAG_NAME, "input").send_keys("browser tag: loop not closed\n")
    wait(browser, lambda d: "saved" in by_id(d, f"mistake-{index}").get_attribute("class"))
    with open(lab_dir / "errors.csv", newline="") as f:
        rows = {int(r["index"]): r for r in csv.DictReader(f)}
    assert rows[index]["tags"] == "browser tag: loop not closed"
    assert (rows[index]["true"], rows[index]["predicted"]) == (true, pred)


def test_browser_search_panel_shows_trials_plots_and_a_new_trial(browser, lab_dir, searched, tiny_data):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    tab(browser, "search")
    option = json.dumps([JOURNAL, "demo"], separators=(",", ":"))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#search-study option[value='{option}']"))
    Select(by_id(browser, "search-study")).select_by_value(option)
    n = len(searched.study.get_trials())
    rows = lambda d: d.find_elements(By.CSS_SELECTOR, "#search-table tbody tr")  # noqa: E731
    wait(browser, lambda d: len(rows(d)) == n)
    assert [r.get_attribute("id") for r in rows(browser)] == [f"trial-{k}" for k in range(n)]
    assert "complete" in rows(browser)[0].text
    # objective by trial: n dots and the running best; value vs each setting: a dot per trial
    assert int(by_id(browser, "search-history").get_attribute("data-points")) >= n + 1
    for name in ("lr", "beta", "batch_size"):
        assert by_id(browser, f"search-param-{name}").get_attribute("data-points") == str(n)
    drawn = browser.execute_script(
        "const c = document.getElementById('search-history'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4)"
        " n += d[i + 2] > 150 && d[i] < 100; return n;")  # blue dots on the canvas
    assert drawn > 10
    run_search(lab_dir / "search", n + 1, tiny_data)  # the search goes on: one more trial
    wait(browser, lambda d: len(rows(d)) == n + 1, 20)
    assert by_id(browser, f"trial-{n}").text.split()[:2] == [str(n), "complete"]
    wait(browser, lambda d: by_id(d, "search-param-lr").get_attribute("data-points") == str(n + 1))


def test_browser_search_panel_without_optuna_says_what_to_install(browser, searched, monkeypatch):
    tab(browser, "draw")  # the Search panel stops polling ...
    time.sleep(1)  # ... once its request in flight, if any, is answered
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if the search extra were not installed
    tab(browser, "search")
    wait(browser, lambda d: by_id(d, "search-note").is_displayed()
         and 'pip install "numnet[search]"' in by_id(d, "search-note").text, 10)
    monkeypatch.undo()
    wait(browser, lambda d: not by_id(d, "search-note").is_displayed(), 10)


def test_browser_upload_an_image(browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(browser.current_url.split("?")[0])
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
    tab(browser, "draw")
    by_id(browser, "clear").click()
    photo = tmp_path / "photo.jpg"
    Image.open(io.BytesIO(digit_png(size=600))).convert("RGB").save(photo)  # dark ink on light paper
    browser.find_element(By.ID, "upload").send_keys(str(photo))
    wait(browser, lambda d: by_id(d, "pred-digit").text != "")
    assert by_id(browser, "message").text == ""

def test_browser_click_a_hidden_unit_and_see_the_test_predictions(browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(by_id(browser, "model")).select_by_value("tiny.npz")
    tab(browser, "draw")
    by_id(browser, "clear").click()
    ActionChains(browser, duration=10).move_to_element_with_offset(by_id(browser, "pad"), 0, -80).click_and_hold() \
        .move_by_offset(0, 80).move_by_offset(0, 80).release().perform()
    time.sleep(0.3)  # past the debounce: the last drawing's answer is the one drawn
    wait(browser, lambda d: d.find_elements(By.ID, "hidden-1") and d.find_element(By.TAG_NAME, "body").get_attribute(
        "data-shown") == d.find_element(By.TAG_NAME, "body").get_attribute("data-requested"))
    ActionChains(browser).move_to_element_with_offset(by_id(browser, "hidden-1"), -20, -20).click().perform()
    wait(browser, lambda d: by_id(d, "unit-view").is_displayed() and "activation on the drawn digit" in by_id(d, "unit-activation").text)
    assert "layer 1, unit" in by_id(browser, "unit-title").text
    wait(browser, lambda d: d.execute_script("const i = document.getElementById('unit-weights'); return i.complete && i.naturalWidth") == 168)
    tab(browser, "inside")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#test-grid figure")) == 40)
    first = by_id(browser, "pred-0").text.split()
    assert first[0].isdigit() and first[1].endswith("%")
    by_id(browser, "grid-next").click()
    wait(browser, lambda d: d.find_elements(By.ID, "pred-40"))


def test_browser_playground_test_split_divergence_and_settings_in_the_url(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    tab(browser, "play")
    form = {"lr": "10", "epochs": "40", "test_ratio": "0.25", "l2": "0", "keep_prob": "1"}
    for name, value in form.items():
        field = browser.find_element(By.CSS_SELECTOR, f"#play-form [name={name}]")
        field.clear()
        field.send_keys(value)
    Select(browser.find_element(By.CSS_SELECTOR, "#play-form [name=activation]")).select_by_visible_text("relu")
    for box in browser.find_elements(By.CSS_SELECTOR, "#play-opts input"):
        if box.is_selected() != (box.get_attribute("value") in ("sgd", "adam")):
            box.click()
    by_id(browser, "play-start").click()
    wait(browser, lambda d: "diverged" in by_id(d, "play-cap-adam").text and "diverged" in by_id(d, "play-cap-sgd").text)
    assert "learning rate" in by_id(browser, "play-cap-adam").text
    assert "test_ratio=0.25" in browser.current_url and "optimizers=sgd%2Cadam" in browser.current_url
    browser.refresh()  # the settings come back from the address
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    assert by_id(browser, "panel-play").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "#play-form [name=test_ratio]").get_attribute("value") == "0.25"
    assert [b.get_attribute("value") for b in browser.find_elements(By.CSS_SELECTOR, "#play-opts input:checked")] \
        == ["sgd", "adam"]
    browser.execute_script("history.replaceState(null, '', location.pathname)")


def test_browser_accessibility_labels_roles_focus_contrast(browser):
    from selenium.webdriver.common.by import By

    tab(browser, "errors")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#gallery .mistake input"))
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')].filter(e => e.type !== 'hidden' &&"
        " !e.labels.length && !e.getAttribute('aria-label')).map(e => e.outerHTML.slice(0, 80));")
    assert not unlabelled, unlabelled
    assert by_id(browser, "tabs").get_attribute("role") == "tablist"
    tabs = browser.find_elements(By.CSS_SELECTOR, "#tabs button")
    assert all(t.get_attribute("role") == "tab" for t in tabs)
    assert [t.get_attribute("aria-selected") for t in tabs].count("true") == 1
    assert by_id(browser, "panel-errors").get_attribute("role") == "tabpanel"
    by_id(browser, "tab-errors").send_keys("\ue012")  # ArrowLeft: the previous tab, focused and shown
    assert by_id(browser, "tab-play").get_attribute("aria-selected") == "true"
    tab(browser, "draw")
    outline = browser.execute_script(
        "document.getElementById('upload').focus(); return getComputedStyle(document.querySelector('.file')).outlineStyle;")
    assert outline not in ("none", "")
    tab(browser, "play")
    by_id(browser, "play-start").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#boundaries figcaption"))
    ratios = browser.execute_script("""
        const lum = (c) => { const v = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((x) => x / 255)
          .map((x) => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
        return [...document.querySelectorAll('#boundaries figcaption span, .hint, button, nav button, #message')]
          .filter((e) => e.textContent.trim() && e.offsetParent).map((e) => {
            let bg = e, c = 'rgba(0, 0, 0, 0)';
            while (bg && (c = getComputedStyle(bg).backgroundColor) === 'rgba(0, 0, 0, 0)') bg = bg.parentElement;
            const a = lum(getComputedStyle(e).color), b = lum(bg ? c : 'rgb(255,255,255)');
            return [(Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), e.textContent.slice(0, 30)]; });""")
    low = [(round(r, 2), t) for r, t in ratios if r < 4.5]
    assert ratios and not low, low


def test_browser_no_horizontal_overflow_on_a_phone(browser):
    browser.set_window_size(390, 844)
    try:
        for name in ("draw", "train", "inside", "play", "errors", "search"):
            tab(browser, name)
            time.sleep(0.3)
            width = browser.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert width[0] <= width[1], (name, width)
    finally:
        browser.set_window_size(1280, 900)
        tab(browser, "draw")


def test_browser_earlier_runs_are_listed_with_their_settings_and_overlaid(browser, server):
    from selenium.webdriver.common.by import By

    status, r = get_json(server, "/api/train", json.dumps({"sizes": "784,8,10", "epochs": 2, "train_size": 300,
                                                           "optimizer": "sgd", "lr": 0.3}).encode())
    assert status == 200
    server.lab.runs.job.thread.join(60)
    tab(browser, "draw")
    tab(browser, "train")  # the Runs list is read when the panel opens
    # earlier tests' runs are listed too: wait for this run to head the list (it is read when the panel opens)
    wait(browser, lambda d: r["model"] in (d.find_elements(By.CSS_SELECTOR, "#runs li") or [by_id(d, "runs")])[0].text)
    runs = browser.find_elements(By.CSS_SELECTOR, "#runs li")
    assert len(runs) >= 2 and r["model"] in runs[0].text and "784-8-10, sgd lr 0.3, 2 epochs" in runs[0].text
    before = int(by_id(browser, "acc-chart").get_attribute("data-points"))
    runs[0].find_element(By.TAG_NAME, "input").click()
    wait(browser, lambda d: int(by_id(d, "acc-chart").get_attribute("data-points")) == before + 2)  # its 2 epochs


def test_browser_reload_mid_run_shows_the_running_runs_settings(browser, server):
    # large batches: a long run that sends few events, so the reloaded page stays responsive on a busy machine
    status, r = get_json(server, "/api/train", json.dumps({"sizes": "784,24,10", "epochs": 300, "train_size": 2000,
                                                           "batch_size": 500, "optimizer": "momentum",
                                                           "lr": 0.0123}).encode())
    assert status == 200
    try:
        browser.get(server.url())  # a fresh load of the page (no settings left in the URL by earlier tests)
        wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
        tab(browser, "train")
        expected = {"sizes": "784,24,10", "epochs": "300", "lr": "0.0123", "batch_size": "500"}

        def values(d):
            return {k: d.find_element("name", k).get_attribute("value") for k in expected}

        # the wait is the assertion: it fails unless the running run's settings fill the form and Stop is enabled
        wait(browser, lambda d: values(d) == expected and by_id(d, "train-stop").is_enabled(), 20)
    finally:
        get_json(server, "/api/train/stop", b"{}")
        server.lab.runs.job.thread.join(60)


def test_browser_server_gone_and_restarted_say_what_to_do(tmp_path, lab_dir, server_factory):
    from numnet.lab.server import LabServer

    shutil.copy(lab_dir / "tiny.npz", tmp_path / "tiny.npz")
    server = server_factory(tmp_path)
    port = server.port
    driver = _chromium()
    try:
        driver.get(server.url())
        wait(driver, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
        assert not by_id(driver, "server-banner").is_displayed()
        server.close()
        wait(driver, lambda d: by_id(d, "server-banner").is_displayed(), 10)
        assert "numnet lab" in by_id(driver, "server-banner").text and "not answering" in by_id(driver, "server-banner").text
        assert not by_id(driver, "train-start").is_enabled()
        again = LabServer(server.lab, port=port)  # restarted on the same port: a new token
        again.start()
        try:
            wait(driver, lambda d: "restarted" in by_id(d, "server-banner").text, 10)
            driver.refresh()
            body = driver.find_element("tag name", "body").text
            assert "missing or wrong token" in body and "restarted" in body and '{"error"' not in body
        finally:
            again.close()
    finally:
        driver.quit()


def test_browser_console_shows_no_errors(browser):
    """No script error, refused resource or Content-Security-Policy violation in the panels so far."""
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_browser_a_refused_upload_clears_the_previous_prediction(browser, tmp_path):
    """After the console check: the refused upload's 400 is logged by the browser, on purpose."""
    from selenium.webdriver.common.by import By

    tab(browser, "draw")
    good = tmp_path / "good.png"
    good.write_bytes(digit_png())
    browser.find_element(By.ID, "upload").send_keys(str(good))
    wait(browser, lambda d: by_id(d, "pred-digit").text != "")
    text = tmp_path / "notes.png"
    text.write_text("this is text, not an image")
    browser.find_element(By.ID, "upload").send_keys(str(text))
    wait(browser, lambda d: by_id(d, "message").text != "")
    message = by_id(browser, "message").text
    assert "not an image" in message and "object at" not in message
    assert by_id(browser, "pred-digit").text == "" and not by_id(browser, "hidden").text
    assert all(by_id(browser, f"bar-{k}").text.split()[-1] == str(k) for k in range(10))  # no percentages left


def test_browser_without_the_token_is_refused(browser, server):
    browser.delete_all_cookies()
    browser.get(f"http://127.0.0.1:{server.port}/")
    assert "missing or wrong token" in browser.find_element("tag name", "body").text
    assert browser.execute_script(
        "return fetch('/api/state').then(r => r.status)") == 403

