"""The fused kernels (train/kernels.py, nn/kernels.py) against today's NumPy passes, at the configs' real shapes.

    python benchmarks/kernels.py --threads 1,2 --out kernels.md        # needs numba (pip install "numnet[fast]")

For each config, thread count and pass: milliseconds per training step (the optimizer update over every
parameter; an elementwise pass over one hidden layer's batch), median of --repeats timings of --steps steps,
for the NumPy fallback (today's arithmetic, single-threaded NumPy ufuncs) and the Numba path at that many
threads. Both give the same bits (tests/train/test_kernels.py); only the time differs.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from numnet.nn import kernels as E  # noqa: E402
from numnet.train import kernels as K  # noqa: E402
from numnet.utils import jit  # noqa: E402
from numnet.utils.tables import format_table  # noqa: E402

CONFIGS = {"C": ([784, 800, 10], 128), "D": ([784, 2048, 2048, 10], 256)}


def setups(sizes, batch, rng):
    """name -> step function closing over arrays of the config's shapes."""
    shapes = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((a, b), (b,))]
    ps = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in shapes]
    vs, ss, ds = ([np.zeros_like(p) for p in ps] for _ in range(3))
    t = [0]

    def adam():
        t[0] += 1
        for p, g, v, s, d in zip(ps, gs, vs, ss, ds):
            K.adam_update(p, g, v, s, 1e-3, 0.9, 0.999, 1e-8, t[0], scratch=d)

    def sgd():
        for p, g, d in zip(ps, gs, ds):
            K.sgd_update(p, g, 1e-3, scratch=d)

    def momentum():
        for p, g, v, d in zip(ps, gs, vs, ds):
            K.momentum_update(p, g, v, 1e-3, 0.9, scratch=d)

    h = sizes[1]
    z = rng.standard_normal((batch, h)).astype(np.float32)
    dy = rng.standard_normal((batch, h)).astype(np.float32)
    a, out = np.maximum(z, 0), np.empty_like(z)
    u = rng.random(z.shape, dtype=np.float32)
    logits = rng.standard_normal((batch, 10)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return {"adam update": adam, "sgd update": sgd, "momentum update": momentum,
            "relu forward+backward": lambda: (E.relu_forward(z, out), E.relu_backward(dy, a, out)),
            "dropout forward": lambda: E.dropout_forward(z, u, 0.5, out=out),
            "bias sum": lambda: E.bias_grad(dy),
            "softmax+cost+delta": lambda: E.softmax_log_likelihood(logits, Y)}


def timed(fn, steps, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--configs", default="C,D")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out")
    p.add_argument("--json")
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    rows, raw = [], []
    import numba

    for key in args.configs.split(","):
        sizes, batch = CONFIGS[key]
        fns = setups(sizes, batch, np.random.default_rng(0))
        for name, fn in fns.items():
            jit.set_enabled(False)
            base = timed(fn, args.steps, args.repeats)
            jit.set_enabled(True)
            for t in threads:
                jit.set_threads(t)
                ms = timed(fn, args.steps, args.repeats)
                rows.append((key, name, t, f"{base:.3f}", f"{ms:.3f}", f"{base / ms:.2f}"))
                raw.append({"config": key, "pass": name, "threads": t, "numpy_ms": base, "numba_ms": ms})
                if args.json:
                    Path(args.json).write_text(json.dumps(raw, indent=1))
    text = "\n".join([
        "# Fused kernels vs today's NumPy passes (ms per training step)", "",
        f"Run {datetime.datetime.now().isoformat(timespec='seconds')} with `python benchmarks/kernels.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`; {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; NumPy {np.__version__}, Numba {numba.__version__} "
        f"({numba.threading_layer()} threading layer).", "",
        "numpy: the fallback, today's ufunc sequence (one thread); numba: the compiled loop at that many threads "
        "(arrays below the kernels' PARALLEL_MIN take the fallback or one thread). Same results, bit for bit.", "",
        format_table(rows, ["config", "pass", "threads", "numpy ms", "numba ms", "speed-up"]), ""])
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
