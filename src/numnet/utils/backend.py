"""Array modules: NumPy on the CPU, CuPy on a CUDA GPU, chosen from the arrays themselves.

numnet's numerical code asks `array_module(x)` for the module of the arrays it is given and calls that
module (`xp.exp`, `xp.matmul(..., out=)`), so one code path serves both. CuPy is imported only when a CuPy
array could exist (the module is already imported) or when a device is asked for: `import numnet` and the
command line never import it.

A backend is a device name, its array type, its module and the two transfers (`put`: host → device, `get`:
device → host, which synchronises). "cuda" (CuPy) is built in; `register_backend` adds others (the tests
register a strict NumPy-backed module that refuses implicit host conversion and counts synchronisations).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

CPU = "cpu"
CUDA = "cuda"
DEVICES = (CPU, CUDA)  # the built-in names; `known_devices()` adds every registered backend
CUDA_HINT = '--device cuda needs CuPy and a CUDA GPU: pip install "numnet[gpu]"'


class DeviceError(ValueError):
    """A device was asked for that this machine cannot provide (no CuPy, no GPU, an unknown name)."""


@dataclass(frozen=True)
class Backend:
    """A device: its name, its array type and module, and the transfers to (`put`) and from (`get`) it."""

    name: str
    array_type: type
    module: Any
    put: Callable
    get: Callable


_BACKENDS: dict[str, Backend] = {}
_READY: set[str] = set()  # devices found usable (checked once per process)


def known_devices() -> list[str]:
    """Every device name settings and the command line accept: "cpu", "cuda" and each registered backend."""
    return list(dict.fromkeys([*DEVICES, *_BACKENDS]))


def usable_devices() -> list[str]:
    """The devices this machine can train on now: "cpu", then "cuda" where CuPy sees a GPU (CuPy is not
    imported where it is not installed), then any registered backend."""
    import importlib.util

    out = [CPU]
    for name in dict.fromkeys([CUDA, *_BACKENDS]):
        if name == CUDA and CUDA not in _BACKENDS and importlib.util.find_spec("cupy") is None:
            continue
        try:
            require_device(name)
        except DeviceError:
            continue
        out.append(name)
    return out


def register_backend(backend: Backend) -> None:
    """Make `backend`'s arrays known to array_module, device_of, to_device and to_host."""
    _BACKENDS[backend.name] = backend


def unregister_backend(name: str) -> None:
    _BACKENDS.pop(name, None)


def _cupy_backend() -> Backend | None:
    """The CuPy backend, registered on first need; None when CuPy is not installed."""
    if CUDA not in _BACKENDS:
        try:
            import cupy
        except ImportError:
            return None
        register_backend(Backend(CUDA, cupy.ndarray, cupy, cupy.asarray, cupy.asnumpy))
    return _BACKENDS[CUDA]


def backend_of(a) -> Backend | None:
    """The backend holding array `a`, or None for host (NumPy) arrays and anything else."""
    if isinstance(a, (np.ndarray, np.generic)):
        return None
    if CUDA not in _BACKENDS and "cupy" in sys.modules:  # a CuPy array can exist only once cupy is imported
        _cupy_backend()
    for backend in _BACKENDS.values():
        if isinstance(a, backend.array_type):
            return backend
    return None


def array_module(a, *more):
    """numpy, or the module of the first array that lives on a device (cupy.get_array_module semantics).
    One NumPy array (every call on the per-batch path on the CPU) is answered without a loop."""
    if type(a) is np.ndarray and not more:
        return np
    for a in (a, *more):
        if type(a) is np.ndarray:
            continue
        backend = backend_of(a)
        if backend is not None:
            return backend.module
    return np


def is_array(a) -> bool:
    """True for a NumPy array or an array of a known device."""
    return isinstance(a, np.ndarray) or backend_of(a) is not None


def device_of(a) -> str:
    """"cpu" for host arrays (and plain numbers), else the device's name ("cuda")."""
    backend = backend_of(a)
    return CPU if backend is None else backend.name


def require_device(device: str) -> Backend | None:
    """The backend of `device` (None for "cpu"), or a DeviceError saying what is missing."""
    if device == CPU:
        return None
    if device == CUDA and CUDA in _READY:
        return _BACKENDS[CUDA]
    if device == CUDA:
        backend = _cupy_backend()
        try:
            if backend is None or backend.module.cuda.runtime.getDeviceCount() < 1:
                raise DeviceError(CUDA_HINT)
        except DeviceError:
            raise
        except Exception:  # CuPy installed but no driver or no device: cupy.cuda.runtime.CUDARuntimeError
            raise DeviceError(CUDA_HINT) from None
        _READY.add(CUDA)
        return backend
    if device in _BACKENDS:
        return _BACKENDS[device]
    raise DeviceError(f"unknown device {device!r}; known: {', '.join(known_devices())}")


def to_host(a):
    """`a` as a NumPy array (copied off its device, which synchronises; host arrays are returned as they are)."""
    backend = backend_of(a)
    return np.asarray(a) if backend is None else backend.get(a)


def to_device(a, device: str):
    """`a` as an array on `device` ("cpu" or "cuda"); an array already there is returned as it is."""
    backend = require_device(device)
    if backend is None:
        return to_host(a)
    if isinstance(a, backend.array_type):
        return a
    return backend.put(to_host(a))


def to_scalar(x):
    """A Python float for a host value; a device value stays a 0-d device array (reading it would wait for
    the device), so per-batch costs on a GPU cost no host synchronisation."""
    return float(x) if isinstance(x, (float, np.generic)) or backend_of(x) is None else x


def device_generator(rng, xp):
    """A random generator for module `xp`: `rng` itself for NumPy (or when it is already a device generator),
    else a device generator seeded by one draw from the host generator `rng`, so seeded runs stay seeded."""
    if xp is np or not isinstance(rng, np.random.Generator):
        return rng
    return xp.random.default_rng(int(rng.integers(2**32)))
