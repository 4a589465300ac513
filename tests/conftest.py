"""Shared test helpers (import them with `from conftest import softmax, blobs`)."""
import numpy as np


def softmax(z):
    """Row-wise softmax of a vector or a matrix, in float64, shifted by the max (the reference formula)."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def blobs(n=200, seed=0, sep=1.5):
    """Two gaussian blobs in 2-D centred at (−sep, −sep) and (sep, sep); labels alternate 0, 1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, 2)) + np.where(y[:, None] == 1, sep, -sep)
    return X.astype(np.float32), y
