"""The BLAS under numnet's products: NumPy's own (OpenBLAS in NumPy's wheels) against what a user can pip install.

    python benchmarks/blas.py --threads 1,2 --rounds 3                    # the configs' shapes, every library found
    python benchmarks/blas.py --threads 1,2,4,8,16 --out blas.md --json blas.json

Libraries: `openblas` (NumPy's BLAS, called through ctypes as numnet.utils.blas does), `numpy` (plain `@`, the
same BLAS through NumPy's matmul), `mkl` (the `mkl` wheel's libmkl_rt, cblas_sgemm through ctypes;
pip install mkl) and `blis` (the `blis` wheel's `blis.py.gemm`; pip install blis). Each (library, thread count)
runs in its own process, alternating over --rounds rounds, so no two thread pools share a process. For every
config the products of one training batch (forward X·W per layer, the weight gradient Xᵀ·δ, the input gradient
δ·Wᵀ above the first layer) are timed at their real shapes in float32, and reported as seconds per 50,000-image
epoch and as GFLOP/s.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from speed import cpu_model  # benchmarks/speed.py: the machine's description

HERE = Path(__file__).resolve().parent
CONFIGS = {"B": ([784, 100, 10], 128), "C": ([784, 800, 10], 128), "D": ([784, 2048, 2048, 10], 256),
           "E": ([784, 4096, 4096, 4096, 10], 1024)}
EPOCH = 50_000
LIBRARIES = ("openblas", "numpy", "mkl", "blis")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def products(sizes, batch):
    """(m, k, n, transpose a, transpose b) of one batch's products, forward and backward."""
    out = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        out.append((batch, a, b, False, False))      # Z = X·W
        out.append((a, batch, b, True, False))       # dW = Xᵀ·δ
        if i:
            out.append((batch, b, a, False, True))   # dX = δ·Wᵀ
    return out


# ---------------------------------------------------------------------------------------------- libraries
def cblas(lib_path, threads):
    """gemm(a, b, c, ta, tb) through cblas_sgemm of a shared library (row-major, LP64)."""
    import ctypes

    lib = ctypes.CDLL(lib_path)
    if hasattr(lib, "mkl_set_num_threads"):
        lib.mkl_set_num_threads(ctypes.c_int(threads))
    fn = lib.cblas_sgemm
    fn.restype = None
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    fn.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]

    def gemm(a, b, c, ta, tb):
        m, n = c.shape
        k = a.shape[0] if ta else a.shape[1]
        fn(101, 112 if ta else 111, 112 if tb else 111, m, n, k, 1.0, a.ctypes.data, a.shape[1], b.ctypes.data,
           b.shape[1], 0.0, c.ctypes.data, n)
    return gemm


def numpy_blas_path():
    """NumPy's own BLAS library (the one numnet.utils.blas calls)."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from numnet.utils.blas import _loaded_blas_libraries

    np.ones((2, 2)) @ np.ones((2, 2))
    return _loaded_blas_libraries()[0]


def make_gemm(library, threads):
    if library == "numpy":
        def gemm(a, b, c, ta, tb):
            np.matmul(a.T if ta else a, b.T if tb else b, out=c)
        return gemm
    if library == "openblas":
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
        return openblas_gemm()
    if library == "mkl":
        path = Path(sys.prefix) / "lib" / "libmkl_rt.so.2"
        candidates = sorted((Path(sys.prefix) / "lib").glob("libmkl_rt.so*"))
        if not candidates:
            raise ImportError("the mkl wheel is not installed (pip install mkl)")
        return cblas(str(candidates[0] if not path.exists() else path), threads)
    if library == "blis":
        from blis.py import gemm as blis_gemm

        def gemm(a, b, c, ta, tb):
            blis_gemm(a, b, out=c, trans1=ta, trans2=tb, alpha=1.0, beta=0.0)
        return gemm
    raise ValueError(library)


def openblas_gemm():
    """NumPy's own BLAS through ctypes, the call numnet's fused SGD makes (utils/blas.py)."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from numnet.utils.blas import gemm_for

    def gemm(a, b, c, ta, tb):
        a2, b2 = (a.T if ta else a), (b.T if tb else b)
        gemm_for(c, a2, b2)(1.0, a2, b2, 0.0, c)
    return gemm


def child(library, threads, configs, repeats) -> dict:
    gemm = make_gemm(library, threads)
    rng = np.random.default_rng(0)
    out = {}
    for key in configs:
        sizes, batch = CONFIGS[key]
        total, flops = 0.0, 0.0
        for m, k, n, ta, tb in products(sizes, batch):
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
            c = np.empty((m, n), np.float32)
            gemm(a, b, c, ta, tb)
            expected = (a.T if ta else a) @ (b.T if tb else b)
            if not np.allclose(c, expected, rtol=1e-3, atol=1e-2):
                raise RuntimeError(f"{library} computed a wrong product at {(m, k, n, ta, tb)}")
            reps = max(3, int(2e9 // (2 * m * k * n)))  # about 2 GFLOP per timing
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(reps):
                    gemm(a, b, c, ta, tb)
                times.append((time.perf_counter() - t0) / reps)
            total += statistics.median(times)
            flops += 2.0 * m * k * n
        batches = -(-EPOCH // batch)
        out[key] = {"s_per_epoch": total * batches, "gflops": flops / total / 1e9}
    return out


# ---------------------------------------------------------------------------------------------- parent
def available(library) -> bool:
    import importlib.util

    if library == "mkl":
        return bool(list((Path(sys.prefix) / "lib").glob("libmkl_rt.so*")))
    if library == "blis":
        return importlib.util.find_spec("blis") is not None
    return True


def versions() -> dict:
    from importlib import metadata

    out = {"numpy": np.__version__, "python": sys.version.split()[0]}
    for name in ("mkl", "blis", "scipy-openblas32", "scipy-openblas64"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        from threadpoolctl import threadpool_info

        np.ones((2, 2)) @ np.ones((2, 2))
        out["numpy_blas"] = [f"{p['internal_api']} {p['version']} ({p.get('architecture')})" for p in threadpool_info()
                             if p["user_api"] == "blas"]
    except ImportError:
        pass
    return out


def report(res, command) -> str:
    sys.path.insert(0, str(HERE.parent / "src"))
    from numnet.utils.tables import format_table

    groups = {}
    for r in res["runs"]:
        for key, v in r["configs"].items():
            groups.setdefault((r["threads"], key, r["library"]), []).append(v)
    rows = []
    for (t, key, lib), vs in sorted(groups.items()):
        base = groups.get((t, key, "openblas"))
        s = statistics.median(v["s_per_epoch"] for v in vs)
        ratio = "-" if not base else f"{s / statistics.median(v['s_per_epoch'] for v in base):.2f}"
        rows.append((t, key, lib, f"{s:.3f}", f"{statistics.median(v['gflops'] for v in vs):.1f}", ratio))
    m = res["machine"]
    return "\n".join([
        f"# BLAS for numnet's products (float32, seconds of products per {EPOCH:,}-image epoch)", "",
        f"Run {res['date']} with `{command}`. Machine: {m['cpu']}, {m['cores']} usable cores, load before the run "
        f"{m['load']}. Versions: {json.dumps(res['versions'])}.", "",
        "Median over rounds (each library and thread count in its own process). ÷ openblas: this library's time "
        "over NumPy's OpenBLAS called the same way (below 1: faster).", "",
        format_table(rows, ["threads", "config", "library", "s/epoch", "GFLOP/s", "÷ openblas"]), ""])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--configs", default="C,D")
    p.add_argument("--libraries", default=",".join(LIBRARIES))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out")
    p.add_argument("--json")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    configs = [c.strip().upper() for c in args.configs.split(",")]
    if args.child:
        print(json.dumps(child(args.child, args.child_threads, configs, args.repeats)))
        return 0
    threads = [int(t) for t in args.threads.split(",")]
    libraries = [x for x in args.libraries.split(",") if available(x)]
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "versions": versions(), "runs": [],
           "machine": {"cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)), "load": list(os.getloadavg())}}
    command = "python benchmarks/blas.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for r in range(args.rounds):
        for t in threads:
            for lib in libraries:
                print(f"round {r + 1}: {lib}, {t} thread(s) ...", file=sys.stderr, flush=True)
                env = {**os.environ, **{v: str(t) for v in THREAD_VARS}}
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", lib, "--child-threads", str(t),
                       "--configs", ",".join(configs), "--repeats", str(args.repeats)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if out.returncode:
                    print(f"{lib} failed: {out.stderr[-500:]}", file=sys.stderr)
                    continue
                res["runs"].append({"round": r, "threads": t, "library": lib,
                                    "configs": json.loads(out.stdout.strip().splitlines()[-1])})
                if args.json:
                    Path(args.json).write_text(json.dumps(res, indent=1))
    text = report(res, command)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
