"""Seeded training scenarios whose final weights and History are held fixed across restructures.

`python tests/runs/reference/scenarios.py --write` regenerates `tests/runs/reference/*.npz|json` from the current code; the
committed files were produced by main at 03f05fd (before the architecture change), and
tests/runs/test_reference.py holds every later version to them: byte-identical weights and History (epoch times
aside), float64 and float32 alike, on the same BLAS threads.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import numnet

HERE = Path(__file__).resolve().parent
FIELDS = ("epoch", "train_cost", "train_accuracy", "val_cost", "val_accuracy", "lr", "batch_cost")


def _data(dtype):
    (X, y), (Xv, yv), _ = numnet.load_mnist(dtype=dtype)
    return (X[:1200], y[:1200]), (Xv[:300], yv[:300])


def _affine(X, rng):
    from numnet.datasets import random_affine  # noqa: the old module path stays importable
    return random_affine(X, rng, max_shift=2.0, max_degrees=10.0)


def sigmoid_ce_l2_f64():
    (X, y), val = _data("float64")
    net = numnet.Network.from_sizes([784, 30, 10], activation="sigmoid", cost="cross_entropy", seed=3,
                                    dtype="float64")
    h = net.fit(X, y, epochs=3, batch_size=10, optimizer=numnet.SGD(0.5), l2=5.0, validation_data=val, seed=4,
                monitor_training=True)
    return net, h


def relu_bn_dropout_adam_f64():
    (X, y), val = _data("float64")
    net = numnet.Network([
        numnet.Dense(784, 64, init="he", seed=5, dtype="float64", bias=False), numnet.BatchNorm(64, dtype="float64"),
        numnet.ReLU(), numnet.Dropout(keep_prob=0.8),
        numnet.Dense(64, 10, init="he", seed=6, dtype="float64"), numnet.Softmax(),
    ], cost="log_likelihood")
    h = net.fit(X, y, epochs=4, batch_size=32, optimizer=numnet.Adam(2e-3), l2=1.0, validation_data=val, seed=7,
                schedule=numnet.InverseTimeDecay(decay=0.5), early_stopping=numnet.EarlyStopping(patience=2),
                augment=_affine)
    return net, h


def relu_momentum_plateau_f32():
    (X, y), val = _data("float32")
    net = numnet.Network.from_sizes([784, 100, 10], activation="relu", cost="log_likelihood", init="he", seed=8,
                                    keep_prob=0.9)
    h = net.fit(X, y, epochs=4, batch_size=64, optimizer=numnet.Momentum(0.1, beta=0.9), validation_data=val,
                seed=9, schedule=numnet.Plateau(patience=1))
    return net, h


def tanh_rmsprop_quadratic_f32():
    (X, y), val = _data("float32")
    net = numnet.Network.from_sizes([784, 40, 20, 10], activation="tanh", output="sigmoid", cost="quadratic",
                                    init="xavier", seed=10)
    h = net.fit(X, y, epochs=3, batch_size=50, optimizer=numnet.RMSprop(1e-3), l2=0.5, validation_data=val,
                seed=11, schedule=numnet.StepDecay(step=1, factor=0.5), monitor_training=True)
    return net, h


def default_run_f32():
    (X, y), val = _data("float32")
    net = numnet.Network.from_sizes([784, 256, 10], activation="relu", cost="log_likelihood", init="he", seed=12)
    h = net.fit(X, y, epochs=2, batch_size=64, optimizer=numnet.SGD(0.2), validation_data=val, seed=12,
                shuffle=lambda epoch, n: np.random.default_rng(epoch).permutation(n))
    return net, h


def resumed_adam_es_f32():
    """Two epochs with a checkpoint, then resumed to five (Adam moments, schedule, RNG and early stopping)."""
    import tempfile

    (X, y), val = _data("float32")

    def make():
        return numnet.Network.from_sizes([784, 50, 10], activation="elu", cost="log_likelihood", init="he", seed=13,
                                         keep_prob=0.85)

    with tempfile.TemporaryDirectory() as d:
        net = make()
        net.fit(X, y, epochs=2, batch_size=40, optimizer=numnet.Adam(1e-3), validation_data=val, seed=14,
                schedule=numnet.ExponentialDecay(0.8), early_stopping=numnet.EarlyStopping(patience=3),
                checkpoint_dir=d)
        net = make()
        h = net.fit(X, y, epochs=5, batch_size=40, validation_data=val, seed=14,
                    early_stopping=numnet.EarlyStopping(patience=3), resume=d)
    return net, h


def nielsen_book_f64():
    """The book's interface: Network([784, 30, 10]).SGD(...) with monitoring, on the same engine."""
    from numnet import nielsen

    (X, y), (Xv, yv) = _data("float64")
    train = [(x.reshape(-1, 1), nielsen.vectorized_result(int(t))) for x, t in zip(X[:600], y[:600])]
    test = [(x.reshape(-1, 1), int(t)) for x, t in zip(Xv, yv)]
    book = nielsen.Network([784, 30, 10], cost=nielsen.CrossEntropyCost, seed=15, dtype="float64")
    ec, ea, tc, ta = book.SGD(train, 2, 10, 0.5, lmbda=5.0, evaluation_data=test, monitor_evaluation_cost=True,
                              monitor_evaluation_accuracy=True, monitor_training_cost=True, verbose=False, seed=16)
    net = book.engine

    class H(dict):
        pass

    h = H(epoch=[1, 2], train_cost=tc, train_accuracy=ta, val_cost=ec, val_accuracy=ea, lr=[0.5, 0.5],
          batch_cost=[[], []])
    return net, h


SCENARIOS = {f.__name__: f for f in (sigmoid_ce_l2_f64, relu_bn_dropout_adam_f64, relu_momentum_plateau_f32,
                                     tanh_rmsprop_quadratic_f32, default_run_f32, resumed_adam_es_f32,
                                     nielsen_book_f64)}


def history_record(h) -> dict:
    return {f: h[f] for f in FIELDS}


def main():
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/runs/reference/scenarios.py --write   (overwrites the committed reference outputs)")
    for name, f in SCENARIOS.items():
        net, h = f()
        np.savez(HERE / f"{name}.npz", **net.get_weights())
        (HERE / f"{name}.json").write_text(json.dumps(history_record(h)))
        print(name, h["val_accuracy"][-1], file=sys.stderr)


if __name__ == "__main__":
    main()
