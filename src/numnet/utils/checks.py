"""Argument checks, written once: each returns the value in its canonical type or raises ValueError with a
message naming the argument, the rule and the value it got (`"epochs must be a positive integer, got 0"`)."""
from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = ("float32", "float64")


def is_int(value) -> bool:
    """An integer that is not a bool (True is not a batch size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def positive_int(value, what: str) -> int:
    if not is_int(value) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def nonnegative_int(value, what: str) -> int:
    if not is_int(value) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def int_at_least(value, what: str, low: int) -> int:
    if not is_int(value) or value < low:
        kind = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{what} must be {kind}, got {value!r}")
    return int(value)


def number(value, what: str, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number (bools rejected), optionally inside [low, high] (ends open on request); the
    message names the bound that was crossed ("must be > 0")."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{what} must be {interval(low, None, low_open)}, got {value!r}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{what} must be {interval(None, high, high_open=high_open)}, got {value!r}")
    return v


def interval(low=None, high=None, low_open=False, high_open=False) -> str:
    """How a range reads in a message: "in (0, 1]", ">= 0", "< 1"."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def fraction(value, what: str) -> float:
    """A probability-like number in [0, 1]."""
    return number(value, what, 0.0, 1.0)


def seed(value, what: str = "seed"):
    """None (fresh entropy) or a non-negative integer."""
    return None if value is None else nonnegative_int(value, what)


def float_dtype(dtype, allowed=FLOAT_DTYPES, what: str = "dtype") -> np.dtype:
    """A floating-point dtype among `allowed` (float32, the default compute type, or float64)."""
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {dtype!r}") from None
    if dt.name not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {dtype!r}")
    return dt
