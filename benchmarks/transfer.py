"""Transfer learning on MNIST: pretrain on digits 0-4, then learn digits 5-9 from few examples per class.

Three ways to learn task B (digits 5-9, relabelled 0-4) from n examples per class:
    scratch     a fresh network of the same architecture, every layer trained
    frozen      the pretrained network, head replaced, every other layer frozen (only the head learns)
    freeze first  the pretrained network, head replaced, only the first (lowest) layer frozen
    fine-tune   the pretrained network, head replaced, every layer trained
Each run takes the same number of mini-batch updates (--steps) whatever n (Adam, lr 0.001; 0.01 when only the
head learns: it starts from scratch on large fixed features and 0.001 left it far from converged); test accuracy is measured on all test
images of digits 5-9. Several seeds draw the n examples and the new head.

    python benchmarks/transfer.py                      # n = 10, 100, 1000 per class, 3 seeds
    python benchmarks/transfer.py --quick              # n = 10, 100; 2 seeds; smaller pretraining
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import numnet  # noqa: E402
from numnet.model import reinitialize, transfer  # noqa: E402
from numnet.utils.tables import format_table  # noqa: E402

A, B = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]


def subset(X, y, classes):
    keep = np.isin(y, classes)
    lookup = np.full(10, -1)
    lookup[classes] = np.arange(len(classes))
    return X[keep], lookup[y[keep]]


def per_class(X, y, n, seed):
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in np.unique(y)])
    return X[idx], y[idx]


def train(net, X, y, steps, lr, seed, batch=32):
    epochs = max(1, math.ceil(steps * batch / len(X)))
    net.fit(X, y, epochs=epochs, batch_size=min(batch, len(X)), optimizer=numnet.Adam(lr), seed=seed, verbose=0)
    return net


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-class", default="10,100,1000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=300, help="mini-batch updates per run on task B")
    p.add_argument("--pretrain-epochs", type=int, default=3)
    p.add_argument("--hidden", default="256,64")
    p.add_argument("--pretrain-size", type=int, help="pretrain on only the first N images of digits 0-4")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.quick:
        args.per_class, args.seeds, args.pretrain_epochs = "10,100", "0,1", 2
    ns = [int(v) for v in args.per_class.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    hidden = [int(v) for v in args.hidden.split(",")]
    (X, y), _, (Xt, yt) = numnet.load_mnist(validation_size=10000)
    XA, yA = subset(X, y, A)
    if args.pretrain_size:
        XA, yA = XA[:args.pretrain_size], yA[:args.pretrain_size]
    XB, yB = subset(X, y, B)
    XBt, yBt = subset(Xt, yt, B)
    t0 = time.perf_counter()
    pre = numnet.Network.from_sizes([784, *hidden, 5], activation="relu", init="he", cost="log_likelihood", seed=0)
    pre.fit(XA, yA, epochs=args.pretrain_epochs, batch_size=64, optimizer=numnet.Adam(0.001), seed=0, verbose=0)
    XAt, yAt = subset(Xt, yt, A)
    print(f"pretrained {pre.sizes} on digits 0-4 ({len(yA)} images, {args.pretrain_epochs} epochs): "
          f"test accuracy on 0-4 {100 * pre.accuracy(XAt, yAt):.2f}% in {time.perf_counter() - t0:.0f}s",
          flush=True)
    n_owners = sum(1 for layer in pre.layers if layer.params)
    results = {}
    for n in ns:
        for seed in seeds:
            Xs, ys = per_class(XB, yB, n, seed)
            runs = {
                "scratch": (reinitialize(transfer(pre, replace_head=5, seed=seed), seed=100 + seed), 1e-3),
                "frozen": (transfer(pre, replace_head=5, freeze=n_owners - 1, seed=seed), 1e-2),
                "freeze first": (transfer(pre, replace_head=5, freeze=1, seed=seed), 1e-3),
                "fine-tune": (transfer(pre, replace_head=5, freeze=0, seed=seed), 1e-3),
            }
            for name, (net, lr) in runs.items():
                train(net, Xs, ys, args.steps, lr, seed)
                results.setdefault((n, name), []).append(net.accuracy(XBt, yBt))
        print(f"n = {n} per class done", flush=True)
    rows = []
    for n in ns:
        row = [n]
        for name in ("scratch", "frozen", "freeze first", "fine-tune"):
            v = 100 * np.array(results[(n, name)])
            row.append(f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0:.2f}")
        rows.append(row)
    print(f"\nTask B (digits 5-9) test accuracy, %, mean ± sd over seeds {seeds}; {args.steps} Adam updates "
          f"(batch 32; lr 0.001, 0.01 for the head alone) per run; {len(yBt)} test images")
    print(format_table(rows, ["examples per class", "scratch", "frozen + new head", "first layer frozen",
                              "fine-tune all"]))
    if args.json:
        Path(args.json).write_text(json.dumps({f"{n}/{k}": v for (n, k), v in results.items()}, indent=1))
    return results


if __name__ == "__main__":
    main()
