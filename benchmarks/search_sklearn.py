"""scikit-learn's side of the search comparison: random configurations of MLPClassifier from the same space as
benchmarks/mnist-98-space.toml (hidden units, solver adam or SGD with momentum, rate, L2; MLPClassifier has no
dropout, so keep_prob is left out), each trained for --epochs on the 50,000 training images and scored on the
10,000 validation images, until --budget seconds have passed. Prints configurations evaluated and the best.

    python benchmarks/search_sklearn.py --budget 227 --epochs 8 --seed 0
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import numnet


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=227.0, help="wall seconds (numnet's search took 227 s)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    (X, y), (Xv, yv), _ = numnet.load_mnist()
    rng = np.random.default_rng(args.seed)
    t0, rows = time.perf_counter(), []
    while time.perf_counter() - t0 < args.budget:
        cfg = {"hidden": int(round(np.exp(rng.uniform(np.log(30), np.log(1000))))),
               "solver": str(rng.choice(["adam", "sgd"])), "lr": float(10 ** rng.uniform(-4, np.log10(0.5))),
               "alpha": float(10 ** rng.uniform(-3, 1)), "batch_size": int(rng.choice([32, 64, 128, 256]))}
        clf = MLPClassifier(hidden_layer_sizes=(cfg["hidden"],), solver=cfg["solver"], momentum=0.9,
                            nesterovs_momentum=False, learning_rate_init=cfg["lr"], alpha=cfg["alpha"],
                            batch_size=cfg["batch_size"], max_iter=args.epochs, tol=0.0, n_iter_no_change=10**6,
                            random_state=args.seed + len(rows))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        acc = float(clf.score(Xv, yv))
        rows.append((acc, cfg, time.perf_counter() - start))
        print(f"{len(rows):3d}  val {100 * acc:.2f}%  {time.perf_counter() - start:5.1f}s  {cfg}", flush=True)
    best = max(rows, key=lambda r: r[0])
    print(f"scikit-learn: {len(rows)} configurations in {time.perf_counter() - t0:.0f} s; best validation "
          f"{100 * best[0]:.2f}% {best[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
