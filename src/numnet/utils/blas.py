"""gemm from the BLAS NumPy itself runs on: C ← α·A·B + β·C in one call, accumulating into C.

NumPy's matmul always writes a fresh product; gemm's α and β let one call form a product and add it to an
existing array, which is how plain SGD is folded into the weight-gradient product (`FusedSGD`). It
has to be NumPy's own BLAS, reached through ctypes: a second BLAS (SciPy's) brings a second thread pool whose
threads spin against NumPy's between the products (measured here: a step 4× slower at 2 threads). The library
is looked up once among those this process has loaded (Linux: /proc/self/maps; NumPy's own wheel libraries
first) and checked on a small product; where none is found `gemm_for` returns None and callers use NumPy.
ctypes is imported on the first lookup, keeping `import numnet` fast.
"""
from __future__ import annotations

import os

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
#: (symbol prefix and suffix around "gemm", integer type): NumPy's scipy-openblas64 wheels, ILP64, LP64 builds
SYMBOLS = (("scipy_cblas_", "64_", "c_int64"), ("cblas_", "64_", "c_int64"), ("cblas_", "", "c_int"))
_GEMM: dict | None = None  # dtype -> gemm(alpha, a, b, beta, c); {} when NumPy's BLAS was not found


def _loaded_blas_libraries() -> list[str]:
    """Paths of the BLAS libraries mapped into this process, those shipped inside NumPy first."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split(None, 5)[-1].strip() for line in f if line.count(" ") >= 5}
    except OSError:
        return []
    names = [p for p in paths if p.startswith("/") and any(k in os.path.basename(p).lower() for k in ("blas", "mkl_rt"))]
    home = os.path.dirname(os.path.dirname(np.__file__))
    return sorted(names, key=lambda p: (not (p.startswith(home) and "numpy" in p), p))


def _bind(lib, char, ctype, prefix, suffix, int_t):
    import ctypes

    fn = getattr(lib, f"{prefix}{char}gemm{suffix}")
    fn.restype = None
    fn.argtypes = [int_t] * 6 + [ctype, ctypes.c_void_p, int_t, ctypes.c_void_p, int_t, ctype, ctypes.c_void_p, int_t]

    def gemm(alpha, a, b, beta, c):
        """c ← alpha·a·b + beta·c in place; c C-contiguous, a and b C- or Fortran-contiguous (transposes)."""
        (m, k), n = a.shape, b.shape[1]
        ta, lda = (NO_TRANS, k) if a.flags.c_contiguous else (TRANS, m)
        tb, ldb = (NO_TRANS, n) if b.flags.c_contiguous else (TRANS, k)
        fn(ROW_MAJOR, ta, tb, m, n, k, alpha, a.ctypes.data, max(lda, 1), b.ctypes.data, max(ldb, 1), beta,
           c.ctypes.data, max(n, 1))
    return gemm


def _works(gemm, dtype) -> bool:
    """Whether `gemm` computes what NumPy does on a small product with a transposed operand (wrong integer
    widths or conventions fail here, not in training)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)).astype(dtype).T, rng.standard_normal((4, 5)).astype(dtype)
    c = rng.standard_normal((3, 5)).astype(dtype)
    expected = 0.5 * c - 2.0 * (a @ b)
    gemm(-2.0, a, b, 0.5, c)
    return bool(np.allclose(c, expected, rtol=1e-4, atol=1e-5))


def _load() -> dict:
    global _GEMM
    if _GEMM is None:
        import ctypes

        _GEMM = {}
        for path in _loaded_blas_libraries():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix, int_t in SYMBOLS:
                try:
                    found = {np.dtype(dt): _bind(lib, ch, ct, prefix, suffix, getattr(ctypes, int_t)) for dt, ch, ct in
                             ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double))}
                except AttributeError:
                    continue
                if all(_works(g, dt) for dt, g in found.items()):
                    _GEMM = found
                    return _GEMM
    return _GEMM


def gemm_for(c, *operands):
    """gemm(alpha, a, b, beta, c) (c ← alpha·a·b + beta·c) on NumPy's BLAS when `c` and the operands are NumPy
    arrays of one float dtype, c C-contiguous and each operand C- or Fortran-contiguous; else None (CuPy or
    other arrays, other dtypes or layouts, NumPy's BLAS not found)."""
    arrays = (c, *operands)
    if not all(type(a) is np.ndarray and a.ndim == 2 for a in arrays) or len({a.dtype for a in arrays}) != 1:
        return None
    if not c.flags.c_contiguous or not all(a.flags.c_contiguous or a.flags.f_contiguous for a in operands):
        return None
    return _load().get(c.dtype)
