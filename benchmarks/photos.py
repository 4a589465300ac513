"""Photo-like MNIST test digits through `numnet predict`'s loader: how much accuracy survives the camera?

Each test digit is drawn onto a large canvas (600-3000 px long side, 4:3 either way) at a random size and
off-centre place, its pen made thinner or thicker, on paper with uneven lighting, a blotchy texture, Gaussian
grey noise (sigma 0, 4, 8 or 16 grey levels), dark ink on light paper or light on dark, saved as PNG or JPEG.
Every file is read by numnet.data.images.load_digit (what `numnet predict` does) and classified; accuracy is
reported per condition and overall, beside the same model on the clean 28x28 digits and, with --old, the
loader of git commit 120eb05 (before the photo preprocessing).

    python benchmarks/photos.py --old --report benchmarks/photos-results.md     # 1,000 digits, ~15 min
    python benchmarks/photos.py --n 50                                          # a quick look

The model (--model) is trained with --recipe (default `best`, seed 0) when the file does not exist yet.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
import numnet  # noqa: E402
from numnet.data.images import load_digit  # noqa: E402
from numnet.data.mnist import load_mnist_raw  # noqa: E402
from numnet.utils.files import write_text_atomic  # noqa: E402
from numnet.utils.tables import format_table  # noqa: E402

OLD_COMMIT = "120eb05"
NOISE = (0, 4, 8, 16)
PENS = {"thin": ImageFilter.MinFilter(3), "as drawn": None, "thick": ImageFilter.MaxFilter(5)}


def render(digit: np.ndarray, rng) -> tuple[Image.Image, dict]:
    """One MNIST digit (28x28 uint8, bright ink) as a photo-like grey image, and the conditions drawn."""
    long = int(rng.uniform(600, 3000))
    w, h = (long, long * 3 // 4) if rng.random() < 0.5 else (long * 3 // 4, long)
    side = int(min(w, h) * rng.uniform(0.2, 0.7))  # the 28x28 square's side on the canvas
    pen = str(rng.choice(list(PENS)))
    ink = Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC)  # pen changes at 4x MNIST
    if PENS[pen] is not None:
        ink = ink.filter(PENS[pen])
    ink = np.asarray(ink.resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    alpha = np.zeros((h, w), dtype=np.float32)
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    alpha[top:top + side, left:left + side] = ink
    paper, pen_level = rng.uniform(150, 235), rng.uniform(0, 80)
    img = paper + (pen_level - paper) * alpha
    # lighting: up to +-20% across the sheet in a random direction; texture: smooth blotches
    angle, slope = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.4)
    x, y = np.linspace(-0.5, 0.5, w, dtype=np.float32), np.linspace(-0.5, 0.5, h, dtype=np.float32)
    img *= 1 + slope * (np.cos(angle) * x[None, :] + np.sin(angle) * y[:, None])
    blotches = rng.standard_normal((6, 8)).astype(np.float32) * rng.uniform(0, 6)
    img += np.asarray(Image.fromarray(blotches).resize((w, h), Image.Resampling.BICUBIC))
    sigma = int(rng.choice(NOISE))
    if sigma:
        img += sigma * rng.standard_normal((h, w), dtype=np.float32)
    polarity = "dark on light" if rng.random() < 0.5 else "light on dark"
    if polarity == "light on dark":
        img = 255 - img
    fmt = "JPEG" if rng.random() < 0.5 else "PNG"
    size_bin = "600-1199" if long < 1200 else "1200-1999" if long < 2000 else "2000-3000"
    return (Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)),
            {"noise sigma": sigma, "polarity": polarity, "pen": pen, "format": fmt, "long side (px)": size_bin})


def old_loader():
    """load_digit as it was at commit 120eb05, read from git into a module of its own (None without git)."""
    try:
        text = subprocess.run(["git", "show", f"{OLD_COMMIT}:src/numnet/data/images.py"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "images_old.py"
    path.write_text(text.replace("from ..utils", "from numnet.utils"))
    spec = importlib.util.spec_from_file_location("images_old", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_digit


def model(path: Path, recipe: str, seed: int):
    """The saved model at `path`, trained first with `recipe` if the file does not exist."""
    if not path.exists():
        from numnet.runs.run import run

        print(f"training recipe {recipe} (seed {seed}) into {path}", flush=True)
        run(recipe, overrides={"seed": seed}, out=str(path), verbose=0, log=print)
    return numnet.load(path)


def classify(net, loader, path):
    """The predicted class of one image file, or -1 when the loader refuses it."""
    try:
        return int(net.predict(loader(path, dtype=net.dtype.name)[None])[0])
    except ValueError:
        return -1


def measure(net, loaders: dict, n: int, seed: int, work: Path, samples: int = 0) -> list[dict]:
    """Render the first n test digits, save each, load and classify it with every loader; one row per digit."""
    _, _, images, labels = load_mnist_raw()
    clean = net.predict(images[:n].reshape(n, 784).astype(net.dtype) / 255)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        img, cond = render(images[i], rng)
        path = work / f"digit{i:05d}-{labels[i]}.{'jpg' if cond['format'] == 'JPEG' else 'png'}"
        if cond["format"] == "JPEG":
            img.save(path, quality=int(rng.integers(60, 96)))
        else:
            img.save(path, compress_level=1)
        row = {**cond, "label": int(labels[i]), "clean": int(clean[i])}
        for name, loader in loaders.items():
            start = time.perf_counter()
            row[name] = classify(net, loader, path)
            row[f"{name} s"] = time.perf_counter() - start
        rows.append(row)
        if i >= samples:
            path.unlink()
    return rows


def _number(value) -> float:
    """The leading number of a condition's value (16, "600-1199"), so values sort as numbers; 0 for words."""
    head = str(value).split("-")[0]
    return float(head) if head.isdigit() else 0.0


def table(rows: list[dict], loaders) -> str:
    """Accuracy per condition (each condition's digits) and overall, for clean 28x28 and each loader."""
    cols = ["clean", *loaders]
    groups = [("all", "all", rows)]
    for key in ("noise sigma", "polarity", "pen", "format", "long side (px)"):
        for value in sorted({r[key] for r in rows}, key=lambda v: (str(v)[0].isdigit(), _number(v), str(v))):
            groups.append((key, value, [r for r in rows if r[key] == value]))
    body = [[key, str(value), len(group)]
            + [f"{100 * np.mean([r[c] == r['label'] for r in group]):.1f}%" for c in cols]
            for key, value, group in groups]
    refused = ["refused (not read)", "", len(rows), "-"] + [str(sum(r[c] == -1 for r in rows)) for c in loaders]
    timing = ["seconds per image (load)", "", len(rows), "-"] + [f"{np.mean([r[f'{c} s'] for r in rows]):.3f}"
                                                                 for c in loaders]
    headers = ["condition", "value", "digits", "clean 28x28", *(f"{c} loader" for c in loaders)]
    return format_table(body + [refused, timing], headers)


def report(text_table: str, args, argv, seconds: float, model_path: Path) -> str:
    """The markdown report: what was measured, the table, machine, versions, wall time and the command."""
    import PIL

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    return (f"# Photo-like MNIST digits through numnet's image loader\n\n"
            f"{args.n} MNIST test digits (the first {args.n}), each rendered once with randomly drawn conditions "
            f"(seed {args.seed}; see benchmarks/photos.py), saved as a file and read by `load_digit` as "
            f"`numnet predict` does. Model: `{model_path.name}`, recipe `{args.recipe}` seed {args.seed}. "
            f"A refused image counts as wrong.\n\n{text_table}\n\n"
            f"- machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
            f"{__import__('os').cpu_count()} cores, {platform.system()} {platform.release()}\n"
            f"- versions: numnet {numnet.__version__} (git {commit}), Python {platform.python_version()}, "
            f"NumPy {np.__version__}, Pillow {PIL.__version__}\n"
            f"- wall time: {seconds:.0f} s\n- rerun: `python benchmarks/photos.py {' '.join(argv)}`\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="test digits (the first n)")
    p.add_argument("--seed", type=int, default=0, help="seed of the conditions and of the trained model")
    p.add_argument("--recipe", default="best", help="recipe trained when --model does not exist")
    p.add_argument("--model", type=Path, default=ROOT / "benchmarks" / "photos-out" / "best.npz")
    p.add_argument("--old", action="store_true", help=f"also measure the loader of git {OLD_COMMIT}")
    p.add_argument("--samples", type=int, default=0, help="keep the first N rendered images in --work")
    p.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "photos-out" / "images")
    p.add_argument("--report", type=Path, help="write the markdown report here (also printed)")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("--n must be positive")
    args.model.parent.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    net = model(args.model, args.recipe, args.seed)
    loaders = {"new": load_digit}
    if args.old:
        old = old_loader()
        if old is None:
            print(f"git {OLD_COMMIT} not available: the old loader is left out", file=sys.stderr)
        else:
            loaders["old"] = old
    start = time.perf_counter()
    rows = measure(net, loaders, args.n, args.seed, args.work, args.samples)
    text = report(table(rows, loaders), args, argv, time.perf_counter() - start, args.model)
    print(text)
    if args.report:
        write_text_atomic(args.report, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
