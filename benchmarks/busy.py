"""`numnet train` on a machine whose other cores are busy: the default thread policy against one BLAS thread.

    python benchmarks/busy.py --rounds 3                 # hogs all cores but one, then times `numnet train --epochs 1`

While busy-loop processes keep all usable cores but one busy (a laptop running other work), the same
`numnet train --epochs 1` runs in turn with the default thread policy (utils/threads.py), with
OPENBLAS_NUM_THREADS=1, and with `--threads N` (every core: the old default). Reported: the median wall seconds
of each over the rounds, and default ÷ one thread (the target: at most 1.3). The hogs are ended when it stops.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed_train(env_extra, flags, tmp) -> float:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src"), **env_extra}
    cmd = [sys.executable, "-m", "numnet", "train", "--epochs", "1", "--quiet", "--seed", "1", "--out",
           str(Path(tmp) / "m.npz"), *flags]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hogs", type=int, help="busy processes (default: usable cores - 1)")
    args = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    n_hogs = max(1, cores - 1) if args.hogs is None else args.hogs
    variants = {"default policy": ({}, []), "OPENBLAS_NUM_THREADS=1": ({"OPENBLAS_NUM_THREADS": "1"}, []),
                f"--threads {cores}": ({}, ["--threads", str(cores)])}
    times = {k: [] for k in variants}
    load = os.getloadavg()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_hogs)]
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for name, (env, flags) in variants.items():
                    times[name].append(timed_train(env, flags, tmp))
                    print(f"round {r + 1}: {name}: {times[name][-1]:.1f} s", file=sys.stderr, flush=True)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    med = {k: statistics.median(v) for k, v in times.items()}
    one = med["OPENBLAS_NUM_THREADS=1"]
    print(f"{cores} usable cores, {n_hogs} busy-loop process(es); load before: {', '.join(f'{x:.2f}' for x in load)}")
    print("| variant | median s | runs (s) | ÷ one thread |\n|---|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {med[k]:.1f} | {', '.join(f'{x:.1f}' for x in v)} | {med[k] / one:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
