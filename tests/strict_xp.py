"""A strict stand-in for CuPy, backed by NumPy, to test numnet's device code path without a GPU.

`StrictArray` wraps a NumPy array. Like a CuPy array it refuses implicit conversion to NumPy (`np.asarray`
raises TypeError) and refuses host NumPy arrays mixed into its operations; unlike CuPy it counts every
host synchronisation (float(), int(), bool(), .item(), .tolist(), formatting, .get()) in `SYNCS`. `MODULE`
is its array module (NumPy's functions, unwrapping and wrapping), with a `random.default_rng` and a `linalg`.

This proves that numnet's arithmetic is array-module generic and free of per-batch host synchronisation; it is
not a CUDA run (kernels, streams and device memory are not exercised: see tests/test_gpu.py).
"""
from __future__ import annotations

import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from numnet.utils.backend import Backend

NAME = "strict"


class Syncs:
    """Counts host synchronisations by kind."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def add(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    @property
    def total(self):
        return sum(self.counts.values())

    def reset(self):
        self.counts.clear()


SYNCS = Syncs()


class HostArrayMixed(TypeError):
    """A host NumPy array was passed where a device array was expected (CuPy: "Unsupported type")."""


def _unwrap(x):
    if isinstance(x, StrictArray):
        return x.a
    if isinstance(x, np.ndarray):
        raise HostArrayMixed(f"a host NumPy array (shape {x.shape}) mixed into a device operation")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, np.generic):  # CuPy reductions return 0-d arrays, not host scalars
        return StrictArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _call(f, args, kwargs):
    out = kwargs.get("out")
    result = f(*_unwrap(args), **_unwrap(kwargs))
    if out is not None:
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out
    return _wrap(result)


#: methods whose result is read on the host (a synchronisation on a GPU)
_READS = {"item", "tolist", "tobytes"}


class StrictArray(NDArrayOperatorsMixin):
    """A device-like array: NumPy inside, no implicit host conversion, host reads counted."""

    __slots__ = ("a",)
    __array_priority__ = 1000

    def __init__(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError("StrictArray wraps a NumPy array")
        self.a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _call(func, args, kwargs)

    def get(self):
        SYNCS.add("get")
        return self.a.copy()

    # host reads
    def __float__(self):
        SYNCS.add("float")
        return float(self.a)

    def __int__(self):
        SYNCS.add("int")
        return int(self.a)

    def __index__(self):
        SYNCS.add("index")
        return self.a.__index__()

    def __bool__(self):
        SYNCS.add("bool")
        return bool(self.a)

    def __format__(self, spec):
        SYNCS.add("format")
        return format(self.a.item() if self.a.ndim == 0 else self.a, spec)

    def __repr__(self):
        return f"StrictArray(shape={self.a.shape}, dtype={self.a.dtype})"

    # metadata (shape, dtype, ndim, size, T: through __getattr__) and indexing, no read
    def __len__(self):
        return len(self.a)

    def __iter__(self):
        return (_wrap(row) for row in self.a)

    def __getitem__(self, key):
        return _wrap(self.a[_unwrap(key)])

    def __setitem__(self, key, value):
        self.a[_unwrap(key)] = _unwrap(value)

    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ / __array_struct__: those would convert implicitly
            raise AttributeError(name)
        attr = getattr(self.a, name)
        if not callable(attr):
            return _wrap(attr)
        if name in _READS:
            def read(*args, **kwargs):
                SYNCS.add(name)
                return attr(*args, **kwargs)
            return read
        return lambda *args, **kwargs: _call(attr, args, kwargs)


class _Generator:
    """A device random generator: NumPy's, returning StrictArrays."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        attr = getattr(self._g, name)
        return lambda *args, **kwargs: _call(attr, args, kwargs)


class _Namespace(types.SimpleNamespace):
    """NumPy's functions of one namespace, unwrapping their arguments and wrapping their results; types
    (dtypes, finfo) are NumPy's own."""

    def __init__(self, source, **extra):
        super().__init__(**extra)
        self._source = source

    def __getattr__(self, name):
        attr = getattr(self._source, name)
        if isinstance(attr, type) or not callable(attr):
            return attr
        return lambda *args, **kwargs: _call(attr, args, kwargs)


MODULE = _Namespace(np, random=types.SimpleNamespace(default_rng=_Generator), linalg=_Namespace(np.linalg),
                    __name__="strict_xp.MODULE")


def put(a):
    """Host → device: a copy, as a transfer makes."""
    return StrictArray(np.array(a, copy=True))


def get(a):
    return a.get()


BACKEND = Backend(NAME, StrictArray, MODULE, put, get)
