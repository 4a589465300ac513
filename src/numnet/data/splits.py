"""Labels and splits: one-hot encoding and seeded train / validation / test splits."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..utils.checks import float_dtype, is_int


def one_hot(y, classes: int, dtype="float32") -> np.ndarray:
    """Encode class indices y (n,) as rows of an (n, classes) matrix: Y[i, y[i]] = 1."""
    if not is_int(classes) or classes < 1:
        raise ValueError(f"classes must be a positive int, got {classes!r}")
    dt = float_dtype(dtype, ("float16", "float32", "float64"))
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise ValueError(
            f"labels must lie in [0, {classes}), found values in [{y.min()}, {y.max()}]"
        )
    out = np.zeros((y.shape[0], classes), dtype=dt)
    out[np.arange(y.shape[0]), y] = 1
    return out


def _split_count(value, n: int, name: str) -> int:
    """A split size given as a fraction in [0, 1) of n, or an absolute int count."""
    if is_int(value):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        if not (math.isfinite(value) and 0 <= value < 1):
            raise ValueError(f"{name} as a fraction must be in [0, 1), got {value}")
        return int(round(value * n))
    raise ValueError(f"{name} must be a fraction in [0, 1) or an int count, got {value!r}")


def train_val_test_split(X, y, val=0.1, test=0.1, seed=None):
    """Shuffle (X, y) with default_rng(seed) and split into ((X_tr, y_tr), (X_val, y_val),
    (X_te, y_te)); `val` and `test` are fractions (val + test < 1) or absolute counts."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 1 or y.ndim < 1:
        raise ValueError("X and y must have a leading examples axis")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} examples but y has {y.shape[0]}")
    n = X.shape[0]
    n_val, n_test = _split_count(val, n, "val"), _split_count(test, n, "test")
    if not is_int(val) and not is_int(test) and val + test >= 1:
        raise ValueError(f"val + test fractions must be < 1, got {val} + {test}")
    if n_val + n_test >= n:
        raise ValueError(
            f"val ({n_val}) + test ({n_test}) examples leave no training examples out of {n}"
        )
    order = np.random.default_rng(seed).permutation(n)
    i_val, i_test, i_train = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    return (X[i_train], y[i_train]), (X[i_val], y[i_val]), (X[i_test], y[i_test])


def train_dev_split(X, y, size, seed=None):
    """Carve a training-dev set out of the training data: ((X_train, y_train), (X_train_dev, y_train_dev)).

    The training-dev set has the training distribution and is never trained on: training error vs
    training-dev error measures variance; training-dev vs dev error measures data mismatch. `size` is a
    count or a fraction in (0, 1); the examples are drawn with default_rng(seed), the rest keep their order.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} examples but y has {y.shape[0]}")
    n = X.shape[0]
    k = _split_count(size, n, "train-dev size")
    if not 0 < k < n:
        raise ValueError(f"train-dev size must leave examples on both sides: got {k} of {n}")
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).choice(n, size=k, replace=False)] = True
    return (X[~chosen], y[~chosen]), (X[chosen], y[chosen])
