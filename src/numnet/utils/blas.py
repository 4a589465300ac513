"""BLAS matrix products that accumulate into their output, C ← β·C + α·A·B (gemm), from SciPy when installed.

NumPy's matmul always writes a fresh product; gemm's α and β let one call both form a product and add it to an
existing array, which is how plain SGD is folded into the weight-gradient product (see `Dense.backward_sgd`).
SciPy is imported on the first call, never by `import numnet`; without it `gemm_for` returns None and callers
use their NumPy path.
"""
from __future__ import annotations

import numpy as np

_GEMM: dict | None = None  # dtype -> SciPy's gemm wrapper; {} when SciPy is missing


def _load() -> dict:
    global _GEMM
    if _GEMM is None:
        try:
            from scipy.linalg import blas
        except ImportError:
            _GEMM = {}
        else:
            _GEMM = {np.dtype(np.float32): blas.sgemm, np.dtype(np.float64): blas.dgemm}
    return _GEMM


def gemm_for(*arrays):
    """SciPy's gemm (sgemm or dgemm) when every array is a NumPy array of that one float dtype, else None (CuPy
    or other arrays, other dtypes, no SciPy)."""
    if not all(type(a) is np.ndarray for a in arrays):
        return None
    dtypes = {a.dtype for a in arrays}
    return _load().get(dtypes.pop()) if len(dtypes) == 1 else None
