"""Costs: each is the mean over the n examples it is given, C = (1/n) Σ_x C_x.

`value(a, Y, z)` is the cost of outputs `a` against targets `Y` (shaped like `a`); when the output
activation passes its input `z` (the logits), the cost is computed from z, which is exact for saturated
units. `grad(a, Y)` is ∂C/∂a. `fuses(output_layer)` says when ∂C/∂z simplifies to (a − Y)/n, the book's
output error δ^L = a^L − y for cross-entropy on sigmoid and log-likelihood on softmax.

Costs compute with the array module of their inputs. `value` returns a Python float for host arrays and a 0-d
array on a device (see `to_scalar`): reading a GPU cost waits for the GPU, so the trainer reads them in batches.
"""
from __future__ import annotations

import numpy as np

from ..utils.backend import array_module, to_scalar
from ..utils.registry import Registry
from .layers import Layer, Sigmoid, Softmax

COSTS = Registry("cost")
register = COSTS.register


def _tiny(a):
    return np.finfo(a.dtype).tiny


def _softplus(z):
    """ln(1 + e^z) without overflow: max(z, 0) + ln(1 + e^(−|z|))."""
    xp = array_module(z)
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


def _missing(Y):
    """The mask of missing (NaN) targets, or None when every target is present. On a device the mask is always
    returned (asking whether any target is missing would wait for the device every batch)."""
    xp = array_module(Y)
    missing = xp.isnan(Y)
    return missing if xp is not np or missing.any() else None


def _total(terms):
    """Σ terms: a scalar for one network (a host float or 0-d device array); one sum per member (K,) when the
    outputs carry a population axis (…, n, outputs)."""
    if terms.ndim <= 2:
        return to_scalar(array_module(terms).sum(terms))
    return terms.sum(axis=(-2, -1))


def _n(a) -> int:
    """The number of examples: the batch axis, −2 (a population's outputs are (K, n, outputs))."""
    return a.shape[-2]


def _masked_sum(terms, missing):
    """Σ terms over the labelled entries (NumPy's where= reduction; a select then a sum where it has none)."""
    if terms.ndim > 2:
        return array_module(terms).where(missing, 0, terms).sum(axis=(-2, -1))
    if array_module(terms) is np:
        return np.sum(terms, where=~missing)
    return array_module(terms).where(missing, 0, terms).sum()


class Cost:
    """Base cost. `outputs` names the output activations it is used with (the first is the default output of
    `Network.from_sizes`; all of them are gradient-checked by `numnet gradcheck`). `real_targets` says the
    cost takes any real targets (regression) on an output layer with `unbounded_output` (identity)."""

    name = "cost"
    output = None  # the activation class whose (a − Y)/n shortcut applies
    outputs: tuple[str, ...] = ("sigmoid",)
    real_targets = False  # True: targets may be any real numbers (regression) when the output is unbounded
    #: True when the cost can skip missing targets (NaN entries of Y): J = (1/m) Σ_i Σ_(j labelled) L(a_ij, y_ij)
    allows_missing = False

    def value(self, a, Y, z=None) -> float:
        raise NotImplementedError

    def grad(self, a, Y):
        raise NotImplementedError

    def fuses(self, layer: Layer) -> bool:
        return self.output is not None and type(layer) is self.output

    def delta(self, a, Y):
        """∂C/∂z at the output when `fuses` holds: (a − Y)/n."""
        delta = a - Y
        delta *= 1 / _n(a)
        return delta

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))


@register(aliases=("mse",))
class QuadraticCost(Cost):
    """C_x = ½‖y − a‖²;  ∂C/∂a = (a − y)/n."""

    name = "quadratic"
    outputs = ("sigmoid", "identity")
    real_targets = True

    def value(self, a, Y, z=None):
        d = a - Y
        if d.ndim > 2:
            return 0.5 * (d * d).sum(axis=(-2, -1)) / _n(a)
        return 0.5 * to_scalar(array_module(d).vdot(d, d)) / len(a)

    def grad(self, a, Y):
        g = a - Y
        g *= 1 / _n(a)
        return g


@register(aliases=("crossentropy",))
class CrossEntropyCost(Cost):
    """C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)].  From sigmoid logits: Σ_j [softplus(z_j) − y_j z_j].
    With a sigmoid output δ^L = a − y (the σ' factor cancels)."""

    name = "cross_entropy"
    output = Sigmoid
    allows_missing = True  # multi-task learning: each unit is its own yes/no task, unlabelled entries are NaN

    def value(self, a, Y, z=None):
        xp = array_module(a)
        missing = _missing(Y)
        if missing is not None:
            Y = xp.where(missing, 0, Y)
            terms = (_softplus(z) - Y * z) if z is not None else -(
                Y * xp.log(xp.maximum(a, _tiny(a))) + (1 - Y) * xp.log(xp.maximum(1 - a, _tiny(a))))
            return to_scalar(_masked_sum(terms, missing)) / _n(a)
        if z is not None:
            return _total(_softplus(z) - Y * z) / _n(a)
        eps = _tiny(a)
        return -_total(Y * xp.log(xp.maximum(a, eps)) + (1 - Y) * xp.log(xp.maximum(1 - a, eps))) / _n(a)

    def grad(self, a, Y):
        xp = array_module(a)
        eps = np.finfo(a.dtype).eps
        a = xp.clip(a, eps, 1 - eps)
        missing = _missing(Y)
        if missing is not None:
            return xp.where(missing, 0, (a - xp.where(missing, 0, Y)) / (a * (1 - a)) / _n(a)).astype(a.dtype)
        return (a - Y) / (a * (1 - a)) / _n(a)

    def delta(self, a, Y):
        missing = _missing(Y)
        if missing is None:
            return super().delta(a, Y)
        xp = array_module(a)
        delta = xp.where(missing, 0, a - xp.where(missing, 0, Y)).astype(a.dtype)
        delta *= 1 / _n(a)
        return delta


@register(aliases=("loglikelihood", "nll"))
class LogLikelihoodCost(Cost):
    """C_x = −ln a_y (= −Σ_j y_j ln a_j for one-hot y).  From softmax logits: ln Σ_k e^(z_k) − z_y.
    With a softmax output δ^L = a − y."""

    name = "log_likelihood"
    output = Softmax
    outputs = ("softmax",)

    def value(self, a, Y, z=None):
        xp = array_module(a)
        if z is not None:
            m = z.max(axis=-1, keepdims=True)
            lse = m + xp.log(xp.exp(z - m).sum(axis=-1, keepdims=True))
            return _total(Y * (lse - z)) / _n(a)
        return -_total(Y * xp.log(xp.maximum(a, _tiny(a)))) / _n(a)

    def grad(self, a, Y):
        return -Y / array_module(a).maximum(a, _tiny(a)) / _n(a)


def make_cost(cost) -> Cost:
    """A cost from a registered name ("quadratic", "cross_entropy", "log_likelihood"), a Cost class, or an
    instance."""
    if isinstance(cost, Cost):
        return cost
    if isinstance(cost, type) and issubclass(cost, Cost):
        return cost()
    return COSTS.get(str(cost))()
