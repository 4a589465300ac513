"""Toy 2-D data sets (moons, circles, spirals, flower) for comparing optimizers and initializations on a
plot, and the course notebook's own moons points."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..utils.checks import float_dtype, is_int


def _check_toy(n, noise, min_n: int = 2) -> None:
    if not is_int(n) or n < min_n:
        raise ValueError(f"n must be an int >= {min_n}, got {n!r}")
    if not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")


def _shuffled(rng, X, y, dtype):
    order = rng.permutation(X.shape[0])
    return X[order].astype(dtype), y[order].astype(np.int64)


def make_moons(n: int = 300, noise: float = 0.2, seed=None, dtype="float32"):
    """Two interleaving half circles: class 0 (cos t, sin t), class 1 (1 - cos t, 0.5 - sin t),
    t in [0, pi], plus gaussian noise of std `noise`; returns shuffled (X (n, 2), y (n,))."""
    _check_toy(n, noise)
    dt = float_dtype(dtype)
    rng = np.random.default_rng(seed)
    n0, n1 = n // 2 + n % 2, n // 2
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([
        np.column_stack([np.cos(t0), np.sin(t0)]),
        np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)]),
    ])
    X += rng.normal(0.0, noise, X.shape) if noise else 0.0
    y = np.repeat([0, 1], [n0, n1])
    return _shuffled(rng, X, y, dt)


def course_moons(dtype="float64"):
    """The 300 moons points of Andrew Ng's optimization notebook, for replaying that experiment exactly.

    The notebook seeds NumPy's legacy global generator with 3 and asks scikit-learn for 300 moons with noise
    0.2: 150 points at evenly spaced angles on each half circle, put in a random order, then gaussian noise
    (std 0.2) added in that order. Rebuilt here with np.random.RandomState(3) so no scikit-learn is needed.
    `make_moons` is numnet's own seeded generator (same shape of data, different points).
    """
    dt = float_dtype(dtype)
    rs = np.random.RandomState(3)
    t = np.linspace(0, np.pi, 150)
    X = np.concatenate([
        np.column_stack([np.cos(t), np.sin(t)]),
        np.column_stack([1 - np.cos(t), 1 - np.sin(t) - 0.5]),
    ])
    y = np.repeat([0, 1], 150)
    order = np.arange(300)
    rs.shuffle(order)
    X, y = X[order], y[order]
    X += rs.normal(0.0, 0.2, X.shape)
    return X.astype(dt), y.astype(np.int64)


def make_circles(n: int = 300, noise: float = 0.05, factor: float = 0.5, seed=None, dtype="float32"):
    """A unit circle (class 0) around a concentric circle of radius `factor` (class 1), plus
    gaussian noise of std `noise`; returns shuffled (X (n, 2), y (n,))."""
    _check_toy(n, noise)
    if not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    dt = float_dtype(dtype)
    rng = np.random.default_rng(seed)
    n0, n1 = n // 2 + n % 2, n // 2
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([
        np.column_stack([np.cos(t0), np.sin(t0)]),
        factor * np.column_stack([np.cos(t1), np.sin(t1)]),
    ])
    X += rng.normal(0.0, noise, X.shape) if noise else 0.0
    y = np.repeat([0, 1], [n0, n1])
    return _shuffled(rng, X, y, dt)


def _class_sizes(n: int, classes: int):
    """Class labels (n,) with sizes as equal as possible, and each example's position in [0, 1]
    along its class (0 for the first example of the class, 1 for the last)."""
    sizes = np.full(classes, n // classes) + (np.arange(classes) < n % classes)
    y = np.repeat(np.arange(classes), sizes)
    start = np.cumsum(sizes) - sizes
    position = (np.arange(n) - start[y]) / np.maximum(sizes[y] - 1, 1)
    return y, position


def make_spirals(n: int = 300, noise: float = 0.2, classes: int = 2, seed=None, dtype="float32"):
    """`classes` interleaved spiral arms (CS231n style): radius r in [0, 1], angle
    theta = 2*pi*k/classes + 3*pi*r + N(0, noise); point r*(cos theta, sin theta)."""
    if not is_int(classes) or classes < 2:
        raise ValueError(f"classes must be an int >= 2, got {classes!r}")
    _check_toy(n, noise, min_n=max(2, classes))
    dt = float_dtype(dtype)
    rng = np.random.default_rng(seed)
    y, r = _class_sizes(n, classes)
    theta = 2 * np.pi * y / classes + 3 * np.pi * r + rng.normal(0.0, noise, n)
    X = r[:, None] * np.column_stack([np.cos(theta), np.sin(theta)])
    return _shuffled(rng, X, y, dt)


def make_flower(n: int = 400, noise: float = 0.2, seed=None, dtype="float32"):
    """The "planar" petal data set of Andrew Ng's course: r = 4 sin(4t) + noise along
    t in [0, 3.12] (class 0) and [3.12, 6.24] (class 1), point (r sin t, r cos t)."""
    _check_toy(n, noise)
    dt = float_dtype(dtype)
    rng = np.random.default_rng(seed)
    y, position = _class_sizes(n, 2)
    t = 3.12 * (y + position) + rng.normal(0.0, noise, n)
    r = 4.0 * np.sin(4.0 * t) + rng.normal(0.0, noise, n)
    X = np.column_stack([r * np.sin(t), r * np.cos(t)])
    return _shuffled(rng, X, y, dt)


def make_random_regression(n: int = 64, d_in: int = 1000, d_out: int = 10, seed=None, dtype="float32"):
    """The activation notes' regression program's data: X ~ N(0, 1) of shape (n, d_in) and real targets
    Y ~ N(0, 1) of shape (n, d_out), nothing to learn but the points themselves (a network fits them)."""
    for name, v in (("n", n), ("d_in", d_in), ("d_out", d_out)):
        if not is_int(v) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    dt = float_dtype(dtype)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d_in)).astype(dt), rng.standard_normal((n, d_out)).astype(dt)
