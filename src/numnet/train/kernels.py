"""Fused optimizer updates: one pass over a parameter and its state, no temporaries, threaded on large arrays.

    sgd_update(p, g, lr, l2=0.0, scratch=None)
        p ← p − lr·g
    momentum_update(p, g, v, lr, beta, l2=0.0, scratch=None)
        v ← β·v + (1 − β)·g;  p ← p − lr·v
    rmsprop_update(p, g, s, lr, beta, eps, l2=0.0, scratch=None)
        s ← β·s + (1 − β)·g²;  p ← p − lr·g/(√s + ε)
    adam_update(p, g, v, s, lr, beta1, beta2, eps, t, l2=0.0, scratch=None)
        v ← β1·v + (1 − β1)·g;  s ← β2·s + (1 − β2)·g²;  p ← p − α_t·v/(√s + ε·√(1 − β2ᵗ)),
        α_t = lr·√(1 − β2ᵗ)/(1 − β1ᵗ); t is this step's number (1 on the first step), counted by the caller

Each updates p and its state arrays (v, s) in place and returns None. l2 ≠ 0 first adds L2's term to the
gradient, g ← g + l2·p, written into g (as `Network.backprop` adds it today; pass l2 = λ/n). Hyperparameters
(lr, beta, beta1, beta2, eps, l2) are numbers, or, for a population of K networks whose parameters are stacked
as p of shape (K, ...), arrays of K values (shape (K,) or (K, 1, ...)), one per member. `scratch` (an array
like p) serves the NumPy fallback only; without it the fallback allocates one.

Two paths give the same bits. With Numba (the extra `fast`, see utils/jit.py), NumPy arrays of one float dtype,
C-contiguous, take the compiled loop: parallel over Numba's threads from PARALLEL_MIN values on, single-threaded
below. Anything else (no Numba, NUMNET_JIT=0, CuPy arrays, other layouts) takes the NumPy fallback: the ufunc
sequence of the optimizers' `_update` methods of today, operation for operation, so seeded runs stay
bit-identical whichever path runs. Derived coefficients (1 − β, the bias corrections) are computed in float64
and rounded once to the parameter's dtype, on both paths.
"""
from __future__ import annotations

import math

import numpy as np

from ..utils import jit
from ..utils.backend import array_module

#: values from which the compiled loop runs on several threads (below: one thread; a parallel region costs
#: some microseconds to start, more than a single pass over 32,768 floats takes)
PARALLEL_MIN = 1 << 15
_COMPILED = "numnet.train._numba_optim"


def _compiled(p, *arrays):
    """The compiled kernels when every array is a C-contiguous NumPy float array shaped and typed like p."""
    if type(p) is not np.ndarray or p.dtype not in (np.float32, np.float64) or not p.flags.c_contiguous:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != p.dtype or a.shape != p.shape or not a.flags.c_contiguous:
            return None
    return jit.kernels(_COMPILED)


def _members(p, value, what):
    """A hyperparameter as a float64 number, or as a float64 array of the population's K values."""
    if np.ndim(value) == 0:
        return float(value)
    arr = np.asarray(value, dtype=np.float64)
    if p.ndim == 0 or arr.shape[0] != p.shape[0] or arr.size != p.shape[0] or arr.ndim > p.ndim:
        raise ValueError(f"{what} has shape {arr.shape}: a population's {what} needs one value per member, shape "
                         f"({p.shape[0] if p.ndim else '?'},), for parameters of shape {p.shape}")
    return arr.reshape(-1)


def _for_numpy(p, c):
    """A coefficient for the fallback's ufuncs: a number as it is (NumPy rounds it to p's dtype), an array
    as p's dtype on p's device, shaped (K, 1, ...) to broadcast against p."""
    if isinstance(c, float):
        return c
    xp = array_module(p)
    return xp.asarray(c.astype(p.dtype).reshape((-1,) + (1,) * (p.ndim - 1)))


def _for_compiled(p, c, k):
    """A coefficient for the compiled loop: k values of p's dtype (a number repeated)."""
    return np.broadcast_to(np.asarray(c, dtype=p.dtype), (k,)).copy()


def _rows(p, coefs, *arrays):
    """p and the arrays as (K, M) views (K = 1 when every coefficient is a number), the coefficients as
    length-K arrays, and the compiled variant's suffix: parallel from PARALLEL_MIN values on."""
    k = 1 if all(isinstance(c, float) for c in coefs) else p.shape[0]
    views = [a.reshape(k, -1) for a in (p, *arrays)]
    return views, [_for_compiled(p, c, k) for c in coefs], "_par" if p.size >= PARALLEL_MIN else "_ser"


def _call(kernel, *args):
    """A compiled kernel; parallel ones one caller at a time (see `utils.jit.LOCK`)."""
    if kernel.py_func.__name__.endswith("_par"):
        with jit.LOCK:
            kernel(*args)
    else:
        kernel(*args)


def _add_l2(p, g, l2, d):
    """g ← g + l2·p in place (the scratch d holds l2·p), as `Network.backprop` adds L2 to the gradient."""
    np.multiply(p, _for_numpy(p, l2), out=d)
    g += d


def _scratch(p, scratch):
    return array_module(p).empty_like(p) if scratch is None else scratch


def sgd_update(p, g, lr, l2=0.0, scratch=None) -> None:
    """Plain SGD in place: p ← p − lr·g (after g ← g + l2·p when l2 ≠ 0). See the module docstring."""
    lr, l2 = _members(p, lr, "lr"), _members(p, l2, "l2")
    has_l2 = not (isinstance(l2, float) and l2 == 0.0)
    k = _compiled(p, g)
    if k is not None:
        (pv, gv), (lr_, l2_), kind = _rows(p, (lr, l2), g)
        _call(getattr(k, "sgd" + kind), pv, gv, lr_, l2_, has_l2)
        return
    d = _scratch(p, scratch)
    if has_l2:
        _add_l2(p, g, l2, d)
    np.multiply(g, _for_numpy(p, lr), out=d)
    p -= d


def momentum_update(p, g, v, lr, beta, l2=0.0, scratch=None) -> None:
    """Momentum in place: v ← β·v + (1 − β)·g; p ← p − lr·v. See the module docstring."""
    lr, beta, l2 = _members(p, lr, "lr"), _members(p, beta, "beta"), _members(p, l2, "l2")
    omb = 1 - beta
    has_l2 = not (isinstance(l2, float) and l2 == 0.0)
    k = _compiled(p, g, v)
    if k is not None:
        (pv, gv, vv), (lr_, b_, omb_, l2_), kind = _rows(p, (lr, beta, omb, l2), g, v)
        _call(getattr(k, "momentum" + kind), pv, gv, vv, lr_, b_, omb_, l2_, has_l2)
        return
    tmp = _scratch(p, scratch)
    if has_l2:
        _add_l2(p, g, l2, tmp)
    np.multiply(g, _for_numpy(p, omb), out=tmp)
    v *= _for_numpy(p, beta)
    v += tmp
    np.multiply(v, _for_numpy(p, lr), out=tmp)
    p -= tmp


def rmsprop_update(p, g, s, lr, beta, eps, l2=0.0, scratch=None) -> None:
    """RMSprop in place: s ← β·s + (1 − β)·g²; p ← p − lr·g/(√s + ε). See the module docstring."""
    lr, beta, eps, l2 = (_members(p, x, w) for x, w in ((lr, "lr"), (beta, "beta"), (eps, "eps"), (l2, "l2")))
    omb = 1 - beta
    has_l2 = not (isinstance(l2, float) and l2 == 0.0)
    k = _compiled(p, g, s)
    if k is not None:
        (pv, gv, sv), (lr_, b_, omb_, eps_, l2_), kind = _rows(p, (lr, beta, omb, eps, l2), g, s)
        _call(getattr(k, "rmsprop" + kind), pv, gv, sv, lr_, b_, omb_, eps_, l2_, has_l2)
        return
    d = _scratch(p, scratch)
    if has_l2:
        _add_l2(p, g, l2, d)
    np.multiply(g, g, out=d)
    d *= _for_numpy(p, omb)
    s *= _for_numpy(p, beta)
    s += d
    np.sqrt(s, out=d)
    d += _for_numpy(p, eps)
    np.divide(g, d, out=d)
    d *= _for_numpy(p, lr)
    p -= d


def adam_coefficients(lr, beta1, beta2, eps, t):
    """(ε·√(1 − β2ᵗ), α_t = lr·√(1 − β2ᵗ)/(1 − β1ᵗ)) in float64: Python floats for numbers (the arithmetic
    of `Adam._update` today), NumPy arrays for a population's arrays."""
    if all(isinstance(x, float) for x in (lr, beta1, beta2, eps)):
        c2 = math.sqrt(1 - beta2 ** t)
        return eps * c2, lr * c2 / (1 - beta1 ** t)
    c2 = np.sqrt(1 - np.power(beta2, t))
    return np.multiply(eps, c2), np.multiply(lr, c2) / (1 - np.power(beta1, t))


def adam_update(p, g, v, s, lr, beta1, beta2, eps, t, l2=0.0, scratch=None) -> None:
    """Adam in place, bias-corrected, t ≥ 1 this step's number. See the module docstring."""
    lr, b1, b2, eps, l2 = (_members(p, x, w) for x, w in
                           ((lr, "lr"), (beta1, "beta1"), (beta2, "beta2"), (eps, "eps"), (l2, "l2")))
    if not float(t).is_integer() or t < 1:
        raise ValueError(f"adam step t must be an integer >= 1 (1 on the first step), got {t!r}")
    eps_t, step = adam_coefficients(lr, b1, b2, eps, int(t))
    omb1, omb2 = 1 - b1, 1 - b2
    has_l2 = not (isinstance(l2, float) and l2 == 0.0)
    k = _compiled(p, g, v, s)
    if k is not None:
        (pv, gv, vv, sv), coefs, kind = _rows(p, (b1, omb1, b2, omb2, eps_t, step, l2), g, v, s)
        _call(getattr(k, "adam" + kind), pv, gv, vv, sv, *coefs, has_l2)
        return
    d = _scratch(p, scratch)
    if has_l2:
        _add_l2(p, g, l2, d)
    np.multiply(g, _for_numpy(p, omb1), out=d)
    v *= _for_numpy(p, b1)
    v += d
    np.multiply(g, g, out=d)
    d *= _for_numpy(p, omb2)
    s *= _for_numpy(p, b2)
    s += d
    np.sqrt(s, out=d)
    d += _for_numpy(p, eps_t)
    np.divide(v, d, out=d)
    d *= _for_numpy(p, step)
    p -= d
