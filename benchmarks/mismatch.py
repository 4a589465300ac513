"""Data mismatch on MNIST: training images as they are, dev and test images shifted (deterministically:
thicker strokes by default). The error ladder separates variance (training → training-dev, same distribution)
from data mismatch (training-dev → dev); then artificial data synthesis (adding shifted copies of the
training images) is tried as the notes' remedy for mismatch.

    python benchmarks/mismatch.py                  # shift thick, 20,000 training images, 5 epochs
    python benchmarks/mismatch.py --shift rotate --quick
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import numnet  # noqa: E402
from numnet.data import SHIFTS, shift_images, train_dev_split  # noqa: E402
from numnet.report.diagnosis import error_ladder  # noqa: E402
from numnet.utils.tables import format_table  # noqa: E402


def errors(net, train, train_dev, dev, test):
    return {k: 1 - net.accuracy(*d) for k, d in
            (("train", train), ("train_dev", train_dev), ("dev", dev), ("test", test))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shift", choices=SHIFTS, default="thick")
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--human-error", type=float, default=0.2, help="percent")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.epochs = 6000, 3
    (X, y), (Xv, yv), (Xt, yt) = numnet.load_mnist()
    (X, y), train_dev = train_dev_split(X[:args.train_size], y[:args.train_size], 0.1, seed=args.seed)
    dev = (shift_images(Xv, args.shift), yv)
    test = (shift_images(Xt, args.shift), yt)
    rows, ladders = [], {}
    variants = {
        "clean training data": (X, y),
        f"+ synthesised '{args.shift}' copies": (np.concatenate([X, shift_images(X, args.shift)]), np.concatenate([y, y])),
    }
    for name, (Xtr, ytr) in variants.items():
        net = numnet.Network.from_sizes([784, 128, 10], activation="relu", init="he", cost="log_likelihood",
                                        seed=args.seed)
        net.fit(Xtr, ytr, epochs=args.epochs, batch_size=64, optimizer=numnet.Adam(0.001), seed=args.seed, verbose=0)
        e = errors(net, (X, y), train_dev, dev, test)
        lad = error_ladder(args.human_error / 100, **e)
        ladders[name] = lad
        g = lad.gaps
        rows.append([name, *(f"{100 * e[k]:.2f}" for k in ("train", "train_dev", "dev", "test")),
                     *(f"{100 * g[k]:+.2f}" for k in ("avoidable bias", "variance", "data mismatch",
                                                      "overfitting to dev")), lad.largest])
    print(f"dev and test shifted: {args.shift}; {len(y)} training images, {len(train_dev[1])} training-dev; "
          f"[784, 128, 10] ReLU, Adam 0.001, {args.epochs} epochs; human-level error {args.human_error}%")
    print(format_table(rows, ["training data", "train %", "train-dev %", "dev %", "test %", "avoidable bias",
                              "variance", "data mismatch", "dev overfit", "largest gap"]))
    first = next(iter(ladders.values()))
    print("\nladder of the first model:\n" + first.format())


if __name__ == "__main__":
    main()
