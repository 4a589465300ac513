"""Optimizers: each holds its own state per parameter and updates parameters in place; none reaches into the
model. `step(params, grads)` takes matching lists of arrays. State is keyed by the parameter array's identity
(so sharing one optimizer across layers, or a parameter across layers, is safe) and is exported in the order
of a given parameter list for checkpoints.

Formulas (course notation, α the learning rate, dW the gradient):
    SGD        W ← W − α·dW
    Momentum   V ← βV + (1 − β)·dW;        W ← W − α·V
    RMSprop    S ← βS + (1 − β)·dW²;       W ← W − α·dW / (√S + ε)
    Adam       V ← β1·V + (1 − β1)·dW;     S ← β2·S + (1 − β2)·dW²;   t ← t + 1
               V̂ = V/(1 − β1ᵗ);  Ŝ = S/(1 − β2ᵗ);                   W ← W − α·V̂ / (√Ŝ + ε)
"""
from __future__ import annotations

import math

import numpy as np

from ..utils.backend import is_array, to_device, device_of
from ..utils.checks import number
from ..utils.registry import Registry

OPTIMIZERS = Registry("optimizer")
register = OPTIMIZERS.register


def _check_lr(lr):
    if isinstance(lr, (int, float, np.floating, np.integer)) and not isinstance(lr, bool) and \
            math.isfinite(lr) and lr > 0:
        return float(lr)
    raise ValueError(f"learning rate must be a positive finite number, got {lr!r}")


def _check_beta(beta, what):
    return number(beta, what, 0.0, 1.0, high_open=True)


def _check_eps(eps):
    return number(eps, "eps", 0.0, low_open=True)


class Optimizer:
    """Base: per-parameter slots created lazily on the first step that sees a parameter, with `zeros_like`,
    so they live on the parameter's device (the updates' NumPy ufuncs dispatch to CuPy for GPU arrays). A new optimizer is
    one subclass (`name`, `slot_names`, `_update`) registered with `@OPTIMIZERS.register`; `default_lr` is
    the rate used when a run names the optimizer but no rate."""

    name = "optimizer"
    slot_names: tuple[str, ...] = ()
    default_lr = 0.2  # plain SGD's rate in the default run ([784, 256, 10] ReLU, batch 64)

    def __init__(self, lr):
        self.lr = _check_lr(lr)
        # id(p) -> (p, slot, scratch): the scratch array holds each update's intermediate, so a step
        # allocates no temporaries (state_dict exports only the slot)
        self._slots: dict[int, tuple[np.ndarray, dict, np.ndarray]] = {}

    def _entry(self, p: np.ndarray):
        entry = self._slots.get(id(p))
        if entry is None or entry[0] is not p:
            entry = self._slots[id(p)] = (p, self._new_slot(p), np.empty_like(p))
        return entry

    def _slot(self, p: np.ndarray) -> dict:
        return self._entry(p)[1]

    def _new_slot(self, p) -> dict:
        return {k: np.zeros_like(p) for k in self.slot_names}

    def step(self, params, grads) -> None:
        """Update every parameter in place from its gradient."""
        for p, g in zip(params, grads):
            _, slot, scratch = self._entry(p)
            self._update(p, g, slot, scratch)

    def _update(self, p, g, slot, d):
        """Update p in place from g; `slot` is p's state, `d` a scratch array shaped like p."""
        raise NotImplementedError

    def fused_rate(self) -> float | None:
        """α when every step is plain SGD, W ← W − α·dW, that layers may take inside their backward pass
        (`Layer.backward_sgd`: no gradient array written, one pass over W); None: step from the grads."""
        return None

    def config(self) -> dict:
        return {"name": self.name, "lr": self.lr}

    def state_dict(self, params) -> list[dict]:
        """Per-parameter state in the order of `params` (arrays and the step count), for checkpoints."""
        out = []
        for p in params:
            entry = self._slots.get(id(p))
            out.append({} if entry is None or entry[0] is not p else {k: (v.copy() if is_array(v) else v)
                                                                      for k, v in entry[1].items()})
        return out

    def load_state_dict(self, params, states) -> None:
        """Restore state saved by `state_dict` for the same parameter list."""
        if len(states) != len(params):
            raise ValueError(f"optimizer state has {len(states)} entries but the network has {len(params)} parameters")
        self._slots = {}
        for i, (p, s) in enumerate(zip(params, states)):
            if not s:
                continue
            slot = self._new_slot(p)
            for k in slot:
                if k not in s:
                    raise ValueError(f"optimizer state for parameter {i} lacks field {k!r}")
                v = s[k]
                if is_array(slot[k]):
                    v = to_device(v, device_of(p))
                    if v.shape != p.shape:
                        raise ValueError(f"optimizer state {k!r} for parameter {i} has shape {v.shape}, "
                                         f"expected {p.shape}")
                    slot[k] = v.astype(p.dtype, copy=True)
                else:
                    slot[k] = type(slot[k])(v)
            self._slots[id(p)] = (p, slot, np.empty_like(p))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


@register
class SGD(Optimizer):
    """Plain (mini-batch / batch / stochastic) gradient descent: W ← W − α·dW."""

    name = "sgd"

    def _update(self, p, g, slot, d):
        np.multiply(g, self.lr, out=d)
        p -= d


@register
class FusedSGD(SGD):
    """Plain SGD, W ← W − α·dW, with the step folded into the weight-gradient product by layers that can
    (Dense): W ← W − α·XᵀΔ as one gemm of NumPy's BLAS (L2 as its β = 1 − αλ/n), no gradient array and no
    pass over W of its own. Faster, most of all on many cores; rounded differently from `SGD` (equal within
    float rounding), and the fused layers' weight grads are not filled. The trainer fuses only while no
    callback reads gradients (`Callback.reads_gradients`); otherwise, and for other layers, it steps as SGD."""

    name = "fused_sgd"

    def fused_rate(self):
        return self.lr


@register
class Momentum(Optimizer):
    """Gradient descent with momentum: V ← βV + (1 − β)dW; W ← W − αV."""

    name = "momentum"
    slot_names = ("V",)
    default_lr = 0.2  # V averages the gradients, so the step is about α·dW: the same scale as SGD's

    def __init__(self, lr=0.01, beta=0.9):
        super().__init__(lr)
        self.beta = _check_beta(beta, "momentum beta")

    def _update(self, p, g, slot, tmp):
        v = slot["V"]
        np.multiply(g, 1 - self.beta, out=tmp)
        v *= self.beta
        v += tmp
        np.multiply(v, self.lr, out=tmp)
        p -= tmp

    def config(self):
        return {**super().config(), "beta": self.beta}


@register
class RMSprop(Optimizer):
    """RMSprop: S ← βS + (1 − β)dW²; W ← W − α·dW/(√S + ε)."""

    name = "rmsprop"
    slot_names = ("S",)
    default_lr = 0.001

    def __init__(self, lr=0.001, beta=0.9, eps=1e-8):
        super().__init__(lr)
        self.beta = _check_beta(beta, "rmsprop beta")
        self.eps = _check_eps(eps)

    def _update(self, p, g, slot, d):
        s = slot["S"]
        np.multiply(g, g, out=d)
        d *= 1 - self.beta
        s *= self.beta
        s += d
        np.sqrt(s, out=d)
        d += self.eps
        np.divide(g, d, out=d)
        d *= self.lr
        p -= d

    def config(self):
        return {**super().config(), "beta": self.beta, "eps": self.eps}


@register
class Adam(Optimizer):
    """Adam with bias correction of both moments (see module docstring)."""

    name = "adam"
    slot_names = ("V", "S")
    default_lr = 0.001

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = _check_beta(beta1, "adam beta1")
        self.beta2 = _check_beta(beta2, "adam beta2")
        self.eps = _check_eps(eps)

    def _new_slot(self, p):
        return {"V": np.zeros_like(p), "S": np.zeros_like(p), "t": 0}

    def _update(self, p, g, slot, d):
        b1, b2 = self.beta1, self.beta2
        slot["t"] = t = slot["t"] + 1
        v, s = slot["V"], slot["S"]
        np.multiply(g, 1 - b1, out=d)
        v *= b1
        v += d
        np.multiply(g, g, out=d)
        d *= 1 - b2
        s *= b2
        s += d
        # α·V̂/(√Ŝ + ε) computed as α_t·V/(√S + ε·√(1 − β2ᵗ)) with α_t = α·√(1 − β2ᵗ)/(1 − β1ᵗ): same value, fewer passes
        c2 = math.sqrt(1 - b2 ** t)
        np.sqrt(s, out=d)
        d += self.eps * c2
        np.divide(v, d, out=d)
        d *= self.lr * c2 / (1 - b1 ** t)
        p -= d

    def config(self):
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


def make_optimizer(name="sgd", **params) -> Optimizer:
    """An optimizer from its registry name and parameters (unknown names or parameters are errors)."""
    if isinstance(name, Optimizer):
        return name
    return OPTIMIZERS.create(str(name), **params)
