"""Elementwise passes of a training step fused into one pass each, threaded on large arrays (not wired into
the layers yet: the layers call them once the engine's rewrite lands).

    relu_forward(z, out=None) -> a                     a = max(z, 0)            (ReLU.forward)
    relu_backward(dy, a, out=None) -> dz               dz = dy·[a > 0]          (ReLU.backward)
    sigmoid_backward(dy, a, out=None) -> dz            dz = dy·a·(1 − a)        (Sigmoid.backward)
    tanh_backward(dy, a, out=None) -> dz               dz = dy·(1 − a²)         (Tanh.backward)
    dropout_forward(x, u, keep_prob, mask=None, out=None) -> (out, mask)
        mask = [u < keep_prob]/keep_prob, out = x·mask; u: the uniform draws Dropout.forward takes from its rng
        today (`rng.random(x.shape, dtype=x.dtype)`), so the masks stay those of a seeded run
    bias_grad(dz, out=None) -> db                      db = Σ_rows dz           (Dense.backward's bias sum;
                                                       NumPy's own sum: measured faster than a compiled loop)
    softmax_log_likelihood(z, Y, a=None, delta=None) -> (a, cost, delta)
        a = softmax(z); cost = mean over rows of −Σ_j Y_j ln a_j, computed from the logits as Σ Y·(lse − z);
        δ = (a − Y)/n: Softmax.forward, LogLikelihoodCost.value and Cost.delta in one pass over the rows

`out`, `mask`, `a`, `delta` may be given (arrays like the result, possibly the input itself for the
elementwise ones) or are allocated. With Numba (the extra `fast`, utils/jit.py) C-contiguous NumPy float arrays
of one dtype take a compiled, threaded loop; anything else the NumPy fallback. Both paths of the elementwise
kernels, relu/sigmoid/tanh/dropout, give the bits of today's layer code; softmax_log_likelihood
differs from today's within float rounding on the compiled path (Numba's exp and log, sums in row order).
"""
from __future__ import annotations

import numpy as np

from ..utils import jit
from ..utils.backend import array_module

#: values from which the compiled loops run (below: NumPy; a parallel region costs a few microseconds)
PARALLEL_MIN = 1 << 15
_COMPILED = "numnet.nn._numba_elementwise"


def _compiled(first, *arrays):
    """The compiled kernels when every array is a C-contiguous NumPy float array of first's dtype and size,
    large enough to gain from threads."""
    if type(first) is not np.ndarray or first.dtype not in (np.float32, np.float64) or first.size < PARALLEL_MIN:
        return None
    for a in (first, *arrays):
        if type(a) is not np.ndarray or a.dtype != first.dtype or a.size != first.size or not a.flags.c_contiguous:
            return None
    return jit.kernels(_COMPILED)


def _run(kernel, *args):
    with jit.LOCK:
        kernel(*args)


def _out(like, out):
    return array_module(like).empty_like(like) if out is None else out


def relu_forward(z, out=None):
    out = _out(z, out)
    k = _compiled(z, out)
    if k is not None:
        _run(k.relu_forward, z.reshape(-1), out.reshape(-1))
        return out
    return array_module(z).maximum(z, 0, out=out)


def relu_backward(dy, a, out=None):
    out = _out(dy, out)
    k = _compiled(dy, a, out)
    if k is not None:
        _run(k.relu_backward, dy.reshape(-1), a.reshape(-1), out.reshape(-1))
        return out
    return array_module(dy).multiply(dy, a > 0, out=out)


def sigmoid_backward(dy, a, out=None):
    out = _out(dy, out)
    k = _compiled(dy, a, out)
    if k is not None:
        _run(k.sigmoid_backward, dy.reshape(-1), a.reshape(-1), out.reshape(-1))
        return out
    xp = array_module(dy)
    one_minus = 1 - a
    xp.multiply(dy, a, out=out)
    out *= one_minus
    return out


def tanh_backward(dy, a, out=None):
    out = _out(dy, out)
    k = _compiled(dy, a, out)
    if k is not None:
        _run(k.tanh_backward, dy.reshape(-1), a.reshape(-1), out.reshape(-1))
        return out
    xp = array_module(dy)
    one_minus = 1 - a * a
    return xp.multiply(dy, one_minus, out=out)


def dropout_forward(x, u, keep_prob, mask=None, out=None):
    mask, out = _out(x, mask), _out(x, out)
    k = _compiled(x, u, mask, out)
    if k is not None:
        keep, scale = x.dtype.type(keep_prob), x.dtype.type(1 / keep_prob)
        _run(k.dropout_forward, x.reshape(-1), u.reshape(-1), keep, scale, mask.reshape(-1), out.reshape(-1))
        return out, mask
    xp = array_module(x)
    mask[...] = u < keep_prob
    mask *= 1 / keep_prob
    xp.multiply(x, mask, out=out)
    return out, mask


def bias_grad(dz, out=None):
    """NumPy's column sum, kept: it is already one pass without temporaries, and a compiled column-block loop
    measured 5× slower at D's shapes (benchmarks/kernels.py, BENCHMARKS.md)."""
    out = array_module(dz).empty(dz.shape[1:], dz.dtype) if out is None else out
    return array_module(dz).sum(dz, axis=0, out=out)


def softmax_log_likelihood(z, Y, a=None, delta=None):
    """(a, cost, δ) for a softmax output with the log-likelihood cost; see the module docstring."""
    a, delta = _out(z, a), _out(z, delta)
    n = len(z)
    k = _compiled(z, Y, a, delta) if z.ndim == 2 and n else None
    if k is not None:
        rows = np.empty(n)
        _run(k.softmax_log_likelihood, z, Y, a, delta, z.dtype.type(1 / n), rows)
        return a, float(rows.sum()) / n, delta
    xp = array_module(z)
    m = z.max(axis=1, keepdims=True)
    xp.subtract(z, m, out=a)
    xp.exp(a, out=a)
    total = a.sum(axis=1, keepdims=True)
    a /= total
    lse = m + xp.log(total)
    cost = float(xp.sum(Y * (lse - z))) / n
    xp.subtract(a, Y, out=delta)
    delta *= 1 / n
    return a, cost, delta
