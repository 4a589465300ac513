"""Multi-task learning on MNIST binary attributes (even, >= 5, closed loop, prime) with labels missing.

One network with a sigmoid output per attribute (cross-entropy summed over the labelled entries only) against
one network per attribute (each trained on the examples where its own label is present). A fraction of the
attribute labels is hidden at random (NaN); the validation labels are complete.

    python benchmarks/multitask.py                   # 10,000 training images, missing 0 / 0.5 / 0.9, 2 seeds
    python benchmarks/multitask.py --quick
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import numnet  # noqa: E402
from numnet.data.multitask import ATTRIBUTES, digit_attributes, hide_labels  # noqa: E402
from numnet.utils.tables import format_table  # noqa: E402


def net_for(outputs, hidden, seed):
    return numnet.Network.from_sizes([784, hidden, outputs], activation="relu", init="he", cost="cross_entropy",
                                     seed=seed)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-size", type=int, default=10000)
    p.add_argument("--missing", default="0,0.5,0.9")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.seeds, args.epochs = 3000, "0", 3
    (X, y), (Xv, yv), _ = numnet.load_mnist()
    X, y = X[:args.train_size], y[:args.train_size]
    Av = digit_attributes(yv)
    rows = []
    for missing in [float(v) for v in args.missing.split(",")]:
        multi, single, t_multi, t_single = [], [], 0.0, 0.0
        for seed in [int(v) for v in args.seeds.split(",")]:
            A = hide_labels(digit_attributes(y), missing, seed=seed)
            t0 = time.perf_counter()
            net = net_for(len(ATTRIBUTES), args.hidden, seed)
            net.fit(X, A, epochs=args.epochs, batch_size=32, optimizer=numnet.Adam(0.001), seed=seed, verbose=0)
            multi.append(net.task_accuracy(Xv, Av))
            t_multi += time.perf_counter() - t0
            t0 = time.perf_counter()
            accs = []
            for j in range(len(ATTRIBUTES)):
                have = ~np.isnan(A[:, j])
                one = net_for(1, args.hidden, seed)
                one.fit(X[have], A[have, j:j + 1], epochs=args.epochs, batch_size=32,
                        optimizer=numnet.Adam(0.001), seed=seed, verbose=0)
                accs.append(one.task_accuracy(Xv, Av[:, j:j + 1])[0])
            single.append(np.array(accs))
            t_single += time.perf_counter() - t0
        m, s = 100 * np.mean(multi, axis=0), 100 * np.mean(single, axis=0)
        for j, name in enumerate(ATTRIBUTES):
            rows.append([f"{missing:g}", name, f"{m[j]:.2f}", f"{s[j]:.2f}", f"{m[j] - s[j]:+.2f}"])
        rows.append([f"{missing:g}", "mean", f"{m.mean():.2f}", f"{s.mean():.2f}", f"{m.mean() - s.mean():+.2f}"])
        print(f"missing {missing:g}: multi-task {t_multi:.0f}s, four single-task nets {t_single:.0f}s", flush=True)
    print(f"\nValidation accuracy per attribute, % (10,000 validation images, all labelled); {args.train_size} "
          f"training images, [784, {args.hidden}, k] ReLU + sigmoid, Adam 0.001, {args.epochs} epochs, "
          f"seeds {args.seeds}")
    print(format_table(rows, ["missing", "task", "one multi-task net", "one net per task", "difference"]))


if __name__ == "__main__":
    main()
