"""Optional compiled kernels: Numba is imported on the first kernel call, never by `import numnet`.

Numba is the optional extra `fast` (pip install "numnet[fast]"): about 0.2 s to import and 200 MB with LLVM, too
heavy for a core dependency. Without it, or with NUMNET_JIT=0 in the environment, every kernel runs its NumPy
fallback, which gives the same numbers. Compiled kernels are cached on disk by Numba (`cache=True`), so only
the first run on a machine pays the compile time.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import threading

_MODULES: dict[str, object] = {}  # module name -> imported module, or None when it could not be imported
_ENABLED: bool | None = None  # None: decided from NUMNET_JIT and whether numba imports, on first use
#: held around every parallel kernel call: Numba's workqueue threading layer (chosen below) serves one
#: caller at a time
LOCK = threading.Lock()


def enabled() -> bool:
    """Whether compiled kernels are used: Numba importable and not switched off (NUMNET_JIT=0, `set_enabled`)."""
    global _ENABLED
    if _ENABLED is None:
        _ENABLED = os.environ.get("NUMNET_JIT", "1") != "0" and importlib.util.find_spec("numba") is not None
    return _ENABLED


def set_enabled(flag: bool | None) -> None:
    """Switch compiled kernels on or off for this process (None: decide again from the environment)."""
    global _ENABLED
    _ENABLED = None if flag is None else bool(flag)


def kernels(module: str):
    """The imported module of compiled kernels `module` (a numnet module that imports numba), or None when
    compiled kernels are off or Numba cannot be imported (the callers then run their NumPy fallbacks)."""
    if not enabled():
        return None
    if module not in _MODULES:
        try:
            _configure()
            _MODULES[module] = importlib.import_module(module)
        except ImportError:
            _MODULES[module] = None
    return _MODULES[module]


def _configure() -> None:
    """Numba's threading layer: workqueue unless NUMBA_THREADING_LAYER says otherwise. Its workers sleep
    between parallel loops; the OpenMP layer's spin, and with another process on one of the cores a
    parallel update took 8-18 ms instead of 1.5 ms (measured on 2 cores: benchmarks/BENCHMARKS.md)."""
    # through the environment: Numba rereads its config from it before compiling (setting numba.config alone
    # is undone); child processes inherit the choice
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    from numba.core import config

    config.reload_config()


def set_threads(n: int) -> None:
    """Threads of Numba's parallel loops in this thread (capped at what Numba started with); a no-op where
    Numba was never imported, so it costs nothing to call from a thread policy."""
    import sys

    numba = sys.modules.get("numba")
    if numba is not None:
        _configure()  # setting the count starts Numba's pool: with our threading layer
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
