"""Compiled bodies of the fused optimizer updates (train/kernels.py): imported only through `utils.jit.kernels`,
never by `import numnet`. Every array is 2-D (K, M): K population members (1 for one network) of M values,
C-contiguous, one float dtype; every coefficient a length-K array of that dtype. Each value goes through the
same float operations, in the same order and precision, as the NumPy fallback in kernels.py (no fused
multiply-add: fastmath is off), so both give the same bits. `*_par` splits the work into blocks over Numba's
threads; `*_ser` is one pass on the calling thread, for arrays too small to gain from threads."""
import numba
import numpy as np

BLOCK = 8192  # values per parallel work item: large enough to vectorize, small enough to balance threads
JIT = {"cache": True, "nogil": True, "fastmath": False}


@numba.njit(**JIT)
def _sgd_span(p, g, lr, l2, has_l2):
    if has_l2:
        for i in range(p.size):
            gi = g[i] + l2 * p[i]
            g[i] = gi
            p[i] = p[i] - gi * lr
    else:
        for i in range(p.size):
            p[i] = p[i] - g[i] * lr


@numba.njit(**JIT)
def _momentum_span(p, g, v, lr, beta, omb, l2, has_l2):
    if has_l2:
        for i in range(p.size):
            g[i] = g[i] + l2 * p[i]
    for i in range(p.size):
        vi = v[i] * beta + g[i] * omb
        v[i] = vi
        p[i] = p[i] - vi * lr


@numba.njit(**JIT)
def _rmsprop_span(p, g, s, lr, beta, omb, eps, l2, has_l2):
    if has_l2:
        for i in range(p.size):
            g[i] = g[i] + l2 * p[i]
    for i in range(p.size):
        gi = g[i]
        si = s[i] * beta + (gi * gi) * omb
        s[i] = si
        p[i] = p[i] - (gi / (np.sqrt(si) + eps)) * lr


@numba.njit(**JIT)
def _adam_span(p, g, v, s, b1, omb1, b2, omb2, eps, step, l2, has_l2):
    if has_l2:
        for i in range(p.size):
            g[i] = g[i] + l2 * p[i]
    for i in range(p.size):
        gi = g[i]
        vi = v[i] * b1 + gi * omb1
        v[i] = vi
        si = s[i] * b2 + (gi * gi) * omb2
        s[i] = si
        p[i] = p[i] - (vi / (np.sqrt(si) + eps)) * step


@numba.njit(parallel=True, **JIT)
def sgd_par(p, g, lr, l2, has_l2):
    K, M = p.shape
    nb = (M + BLOCK - 1) // BLOCK
    for j in numba.prange(K * nb):
        k = j // nb
        lo = (j - k * nb) * BLOCK
        hi = min(lo + BLOCK, M)
        _sgd_span(p[k, lo:hi], g[k, lo:hi], lr[k], l2[k], has_l2)


@numba.njit(**JIT)
def sgd_ser(p, g, lr, l2, has_l2):
    for k in range(p.shape[0]):
        _sgd_span(p[k], g[k], lr[k], l2[k], has_l2)


@numba.njit(parallel=True, **JIT)
def momentum_par(p, g, v, lr, beta, omb, l2, has_l2):
    K, M = p.shape
    nb = (M + BLOCK - 1) // BLOCK
    for j in numba.prange(K * nb):
        k = j // nb
        lo = (j - k * nb) * BLOCK
        hi = min(lo + BLOCK, M)
        _momentum_span(p[k, lo:hi], g[k, lo:hi], v[k, lo:hi], lr[k], beta[k], omb[k], l2[k], has_l2)


@numba.njit(**JIT)
def momentum_ser(p, g, v, lr, beta, omb, l2, has_l2):
    for k in range(p.shape[0]):
        _momentum_span(p[k], g[k], v[k], lr[k], beta[k], omb[k], l2[k], has_l2)


@numba.njit(parallel=True, **JIT)
def rmsprop_par(p, g, s, lr, beta, omb, eps, l2, has_l2):
    K, M = p.shape
    nb = (M + BLOCK - 1) // BLOCK
    for j in numba.prange(K * nb):
        k = j // nb
        lo = (j - k * nb) * BLOCK
        hi = min(lo + BLOCK, M)
        _rmsprop_span(p[k, lo:hi], g[k, lo:hi], s[k, lo:hi], lr[k], beta[k], omb[k], eps[k], l2[k], has_l2)


@numba.njit(**JIT)
def rmsprop_ser(p, g, s, lr, beta, omb, eps, l2, has_l2):
    for k in range(p.shape[0]):
        _rmsprop_span(p[k], g[k], s[k], lr[k], beta[k], omb[k], eps[k], l2[k], has_l2)


@numba.njit(parallel=True, **JIT)
def adam_par(p, g, v, s, b1, omb1, b2, omb2, eps, step, l2, has_l2):
    K, M = p.shape
    nb = (M + BLOCK - 1) // BLOCK
    for j in numba.prange(K * nb):
        k = j // nb
        lo = (j - k * nb) * BLOCK
        hi = min(lo + BLOCK, M)
        _adam_span(p[k, lo:hi], g[k, lo:hi], v[k, lo:hi], s[k, lo:hi], b1[k], omb1[k], b2[k], omb2[k], eps[k],
                   step[k], l2[k], has_l2)


@numba.njit(**JIT)
def adam_ser(p, g, v, s, b1, omb1, b2, omb2, eps, step, l2, has_l2):
    for k in range(p.shape[0]):
        _adam_span(p[k], g[k], v[k], s[k], b1[k], omb1[k], b2[k], omb2[k], eps[k], step[k], l2[k], has_l2)
