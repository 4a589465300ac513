"""The book's parts around its Network class: sigmoid, the cost classes with `fn`/`delta`, the MNIST loaders in
the book's (x, y) column form, and the helpers that stack book data into matrices."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..data.mnist import load_mnist
from ..nn import costs as _costs

# ---------------------------------------------------------------------------------------------- functions
def sigmoid(z):
    """σ(z) = 1/(1 + e^(−z)), without overflow warnings for large negative z."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def sigmoid_prime(z):
    """σ'(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return s * (1 - s)


# ---------------------------------------------------------------------------------------------- costs
class QuadraticCost:
    """C_x = ½‖a − y‖²; output error δ^L = (a − y) ⊙ σ'(z). Column vectors, as in the book."""

    engine_name = "quadratic"

    @staticmethod
    def fn(a, y):
        return 0.5 * np.linalg.norm(np.asarray(a) - np.asarray(y)) ** 2

    @staticmethod
    def delta(z, a, y):
        return (np.asarray(a) - np.asarray(y)) * sigmoid_prime(z)


class CrossEntropyCost:
    """C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)] (np.nan_to_num as in the book); δ^L = a − y."""

    engine_name = "cross_entropy"

    @staticmethod
    def fn(a, y):
        a, y = np.asarray(a, dtype=float), np.asarray(y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a))))

    @staticmethod
    def delta(z, a, y):
        return np.asarray(a) - np.asarray(y)


# The only way a cost name (from a file or a caller) becomes a class.
COSTS = {"QuadraticCost": QuadraticCost, "CrossEntropyCost": CrossEntropyCost}
_ENGINE_NAMES = {"quadratic": QuadraticCost, "cross_entropy": CrossEntropyCost}


def _cost_class(cost):
    """The book cost class for a class, an instance, a book name or a numnet engine cost."""
    if isinstance(cost, type) and cost in COSTS.values():
        return cost
    if type(cost) in COSTS.values():
        return type(cost)
    if isinstance(cost, str):
        if cost in COSTS:
            return COSTS[cost]
        if cost in _ENGINE_NAMES:
            return _ENGINE_NAMES[cost]
    elif isinstance(cost, _costs.Cost) or (isinstance(cost, type) and issubclass(cost, _costs.Cost)):
        if cost.name in _ENGINE_NAMES:
            return _ENGINE_NAMES[cost.name]
    raise ValueError(f"cost must be QuadraticCost or CrossEntropyCost (the class, an instance or its name), "
                     f"got {cost!r}")


# ---------------------------------------------------------------------------------------------- data
def vectorized_result(j, n=10):
    """The one-hot (n, 1) column with a 1.0 in position j (the book's training-label form)."""
    if isinstance(j, (bool, np.bool_)) or not isinstance(j, numbers.Integral) or not 0 <= j < n:
        raise ValueError(f"vectorized_result needs an integer label in [0, {n}), got {j!r}")
    e = np.zeros((n, 1))
    e[int(j)] = 1.0
    return e


def load_data():
    """The book's tuple-of-arrays form: ((X, y) training, validation, test) with X (n, 784) float32, y int64."""
    return load_mnist()


def load_data_wrapper():
    """(training_data, validation_data, test_data) as the book's lists of (x, y) tuples.

    training: 50,000 (x (784, 1) float32, y one-hot (10, 1)); validation, test: 10,000 (x, int label).
    """
    (Xt, yt), (Xv, yv), (Xs, ys) = load_mnist()
    Yt = np.zeros((len(yt), 10, 1))
    Yt[np.arange(len(yt)), yt, 0] = 1.0
    # each x and y is a view of one row of a fresh array these lists own
    training = list(zip(Xt.reshape(len(Xt), -1, 1), Yt))
    validation = list(zip(Xv.reshape(len(Xv), -1, 1), yv.tolist()))
    test = list(zip(Xs.reshape(len(Xs), -1, 1), ys.tolist()))
    return training, validation, test


def _stack(data, n_in, n_out, what):
    """Book data → (X (n, n_in), T, kind): T is int labels (n,) for kind "int", targets (n, n_out) for "vector"."""
    if isinstance(data, np.ndarray) or data is None:
        raise ValueError(f"{what} must be a list of (x, y) tuples, got {type(data).__name__}")
    items = data if isinstance(data, (list, tuple)) else list(data)
    if not items:
        raise ValueError(f"{what} is empty")
    xs, ys = [], []
    kind = None
    for i, item in enumerate(items):
        try:
            x, y = item
        except (TypeError, ValueError):
            raise ValueError(f"{what}[{i}] must be an (x, y) pair") from None
        x = np.asarray(x)
        if x.shape not in ((n_in, 1), (n_in,)):
            raise ValueError(f"{what}[{i}]: x has shape {x.shape}, expected a column of shape ({n_in}, 1)")
        xs.append(x.reshape(n_in))
        if np.ndim(y) == 0:
            k = "int"
            if isinstance(y, np.ndarray):
                y = y.item()
            if isinstance(y, (bool, np.bool_)) or not isinstance(y, numbers.Integral):
                raise ValueError(f"{what}[{i}]: label y must be an int or a ({n_out}, 1) column, got {y!r}")
            if not 0 <= y < max(n_out, 2):
                raise ValueError(f"{what}[{i}]: label {y} is outside [0, {max(n_out, 2)})")
            ys.append(int(y))
        else:
            k = "vector"
            y = np.asarray(y)
            if y.shape not in ((n_out, 1), (n_out,)):
                raise ValueError(f"{what}[{i}]: y has shape {y.shape}, expected an int label or a "
                                 f"({n_out}, 1) column")
            ys.append(y.reshape(n_out))
        if kind is None:
            kind = k
        elif k != kind:
            raise ValueError(f"{what} mixes label forms: {what}[0] has {'an int label' if kind == 'int' else 'a vector'}"
                             f" but {what}[{i}] has {'an int label' if k == 'int' else 'a vector'}")
    X = np.stack(xs)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{what}: x must be numeric, got dtype {X.dtype}")
    if kind == "int":
        T = np.asarray(ys, dtype=np.int64)
    else:
        T = np.stack(ys)
        if T.dtype.kind not in "biuf":
            raise ValueError(f"{what}: y must be numeric, got dtype {T.dtype}")
    return X, T, kind


def _number(v, what, positive):
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = math.nan
    if isinstance(v, (bool, np.bool_)) or not math.isfinite(f) or (f <= 0 if positive else f < 0):
        raise ValueError(f"{what} must be a {'positive' if positive else 'non-negative'} finite number, got {v!r}")
    return f


class _StopEarly(Exception):
    """Raised from the epoch callback to end training the book's way (early_stopping_n)."""


class _TiedList(list):
    """A list of views of engine parameters; `lst[i] = array` copies into the parameter instead of rebinding."""

    def __setitem__(self, i, value):
        if isinstance(i, slice):
            raise TypeError("assign parameters one at a time (net.weights[i] = array) or all at once")
        target = list.__getitem__(self, i)
        _copy_into(target, value, f"item {i}")


def _copy_into(target, value, what):
    src = np.asarray(value)
    if src.shape != target.shape:
        raise ValueError(f"{what} has shape {src.shape}, expected {target.shape}")
    if src.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be numeric, got dtype {src.dtype}")
    target[...] = src


