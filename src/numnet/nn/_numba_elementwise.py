"""Compiled bodies of the elementwise kernels (nn/kernels.py): imported only through `utils.jit.kernels`.
Arrays are 1-D (elementwise passes) or 2-D rows (softmax, bias sums), C-contiguous, one float dtype; scalars
arrive in that dtype. The elementwise ones take the float operations of today's layers in the same order
(fastmath off), so they give the same bits; softmax uses Numba's exp and log (within float rounding)."""
import numba
import numpy as np

BLOCK = 16384
JIT = {"cache": True, "nogil": True, "fastmath": False}


@numba.njit(parallel=True, **JIT)
def relu_forward(z, out):
    zero = z.dtype.type(0)
    for i in numba.prange(z.size):
        zi = z[i]
        out[i] = zi if (zi > 0 or zi != zi) else zero  # NaN stays NaN, as np.maximum(z, 0)


@numba.njit(parallel=True, **JIT)
def relu_backward(dy, a, out):
    one = dy.dtype.type(1)
    zero = dy.dtype.type(0)
    for i in numba.prange(dy.size):
        out[i] = dy[i] * (one if a[i] > 0 else zero)


@numba.njit(parallel=True, **JIT)
def sigmoid_backward(dy, a, out):
    one = dy.dtype.type(1)
    for i in numba.prange(dy.size):
        out[i] = (dy[i] * a[i]) * (one - a[i])


@numba.njit(parallel=True, **JIT)
def tanh_backward(dy, a, out):
    one = dy.dtype.type(1)
    for i in numba.prange(dy.size):
        out[i] = dy[i] * (one - a[i] * a[i])


@numba.njit(parallel=True, **JIT)
def dropout_forward(x, u, keep, scale, mask, out):
    zero = x.dtype.type(0)
    for i in numba.prange(x.size):
        m = scale if u[i] < keep else zero
        mask[i] = m
        out[i] = x[i] * m


@numba.njit(parallel=True, **JIT)
def softmax_log_likelihood(z, Y, a, delta, inv_n, row_cost):
    """Per row: a = softmax(z) (shifted by the row max), the row's −Σ Y·ln a from the logits as
    Σ Y·(lse − z), and δ = (a − Y)·inv_n."""
    n, m = z.shape
    for r in numba.prange(n):
        mx = z[r, 0]
        for c in range(1, m):
            if z[r, c] > mx:
                mx = z[r, c]
        total = z.dtype.type(0)
        for c in range(m):
            e = np.exp(z[r, c] - mx)
            a[r, c] = e
            total += e
        lse = mx + np.log(total)
        cost = 0.0
        for c in range(m):
            ac = a[r, c] / total
            a[r, c] = ac
            delta[r, c] = (ac - Y[r, c]) * inv_n
            cost += Y[r, c] * (lse - z[r, c])
        row_cost[r] = cost
