"""Optimizers: explicit state created from the parameters, updated from the gradients; only the optimizer
updates parameters, and none reaches into the model.

    state = optimizer.init(params)             # one dict per parameter: its slots (V, S) and counters (t)
    optimizer.step(params, grads, state)       # in place on NumPy/CuPy arrays

`step(params, grads)` without a state uses the optimizer's own, kept by parameter identity (torch.optim style),
so sharing one optimizer across layers, or a parameter across layers, is safe. What an optimizer saves and
restores is what it declares: `hyper` (its hyperparameters: config, flags and checkpoints), `slots` (arrays
shaped like each parameter) and `counters` (per-parameter integers). A hyperparameter is a number or, for a
population of K networks whose parameters carry a leading axis of K members, K values (one per member).

Formulas (course notation, α the learning rate, dW the gradient):
    SGD        W ← W − α·dW
    Momentum   V ← βV + (1 − β)·dW;        W ← W − α·V
    RMSprop    S ← βS + (1 − β)·dW²;       W ← W − α·dW / (√S + ε)
    Adam       V ← β1·V + (1 − β1)·dW;     S ← β2·S + (1 − β2)·dW²;   t ← t + 1
               V̂ = V/(1 − β1ᵗ);  Ŝ = S/(1 − β2ᵗ);                   W ← W − α·V̂ / (√Ŝ + ε)
A new optimizer is one class (`name`, `hyper`, `slots`, `_update`) registered with `@OPTIMIZERS.register`.
"""
from __future__ import annotations

import math

import numpy as np

from ..nn.layers import Product
from ..utils.backend import array_module, device_of, is_array, to_device, to_host
from ..utils.blas import gemm_for
from ..utils.checks import number
from ..utils.registry import Registry

OPTIMIZERS = Registry("optimizer")
register = OPTIMIZERS.register
#: weights with fewer entries take FusedSGD's step without gemm: they fit in cache, so folding saves no memory
#: traffic, and the ctypes call costs more than it saves (measured: a 100×10 layer at batch 128, 10 µs against 6)
GEMM_MIN_SIZE = 1 << 16
#: a population's members with at least this many weights each take FusedSGD's step as one gemm per member
#: (measured: [784, 30] members, K = 128, batch 10: 2.5 ms against 3.4 for NumPy's product and subtraction;
#: [30, 10] members: 0.7 ms against 0.03)
GEMM_MIN_MEMBER_SIZE = 1 << 12


def _checked(value, what, check):
    """A hyperparameter: a number checked by `check`, or (populations) a 1-D sequence of such numbers."""
    if isinstance(value, (list, tuple)) or (is_array(value) and np.ndim(value) == 1):
        values = np.array(to_host(value), dtype=np.float64)  # a copy: `h` keeps what it made from it
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"{what} must be a number or a non-empty list of numbers, got {value!r}")
        for v in values:
            check(float(v))
        return values
    if is_array(value) and np.ndim(value) == 0:
        value = float(to_host(value))
    return check(value)


def _buffer(state, key, p):
    """A work array shaped like p kept in p's state under `key` (not saved: state_dict exports declared fields)."""
    d = state.get(key)
    if d is None or d.shape != p.shape:
        d = state[key] = array_module(p).empty_like(p)
    return d


def _check_lr(lr):
    if isinstance(lr, (int, float, np.floating, np.integer)) and not isinstance(lr, bool) and \
            math.isfinite(lr) and lr > 0:
        return float(lr)
    raise ValueError(f"learning rate must be a positive finite number, got {lr!r}")


def _check_beta(what):
    return lambda beta: number(beta, what, 0.0, 1.0, high_open=True)


def _check_eps(eps):
    return number(eps, "eps", 0.0, low_open=True)


class Optimizer:
    """Base: `init` makes the state (zeros shaped like each parameter, on its device), `step` applies
    `_update(p, g, slot, d)` to each parameter in place (`d` a scratch array shaped like p, so a step allocates
    no temporaries). `default_lr` is the rate used when a run names the optimizer but no rate."""

    name = "optimizer"
    hyper: tuple[str, ...] = ("lr",)
    slots: tuple[str, ...] = ()
    counters: tuple[str, ...] = ()
    default_lr = 0.2  # plain SGD's rate in the default run ([784, 256, 10] ReLU, batch 64)
    #: True when `step` takes weight gradients left as lazy products (`nn.layers.Product`) and folds them into
    #: its update; other optimizers receive them evaluated
    takes_products = False

    def __init__(self, lr):
        self.lr = lr
        self._own: dict[int, tuple] = {}  # id(p) -> (p, slot): the state of `step(params, grads)` without one

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _checked(value, "learning rate", _check_lr)

    # ---------------------------------------------------------------- state
    def init_one(self, p) -> dict:
        """The state of one parameter: its slots as zeros like p (on p's device), its counters at 0."""
        xp = array_module(p)
        return {**{k: xp.zeros_like(p) for k in self.slots}, **{k: 0 for k in self.counters}}

    def init(self, params) -> list[dict]:
        """A fresh state for `params` (one dict per parameter)."""
        return [self.init_one(p) for p in params]

    def state_for(self, params) -> list[dict]:
        """The optimizer's own state for `params` (created where missing): what `step` without a state uses."""
        out = []
        for p in params:
            entry = self._own.get(id(p))
            if entry is None or entry[0] is not p:
                entry = self._own[id(p)] = (p, self.init_one(p))
            out.append(entry[1])
        return out

    def step(self, params, grads, state=None) -> list[dict]:
        """Update every parameter in place from its gradient; returns the state (the given one, updated)."""
        if state is None:
            state = self.state_for(params)
        for p, g, s in zip(params, grads, state):
            if isinstance(g, Product):  # a lazy weight gradient: evaluated into a buffer kept with the state
                g = g.value(out=_buffer(s, "_grad", p))
            self._update(p, g, s, _buffer(s, "_scratch", p))
        return state

    def _update(self, p, g, slot, d):
        """Update p in place from g; `slot` is p's state, `d` a scratch array shaped like p."""
        raise NotImplementedError

    def h(self, name, p):
        """Hyperparameter `name` shaped to broadcast against parameter p: the number itself, or a population's
        K values as a (K, 1, …) array on p's device."""
        value = getattr(self, name)
        if not isinstance(value, np.ndarray):
            return value
        if value.shape[0] != p.shape[0]:
            raise ValueError(f"{name} has {value.shape[0]} values but the parameters have {p.shape[0]} members")
        # kept while the setting is the same array (setting it anew makes a new one), so a device receives a
        # population's values once, not every step
        cache = self.__dict__.setdefault("_h_cache", {})
        key = (name, p.ndim, p.dtype, device_of(p))
        hit = cache.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        out = value.astype(p.dtype).reshape((-1,) + (1,) * (p.ndim - 1))
        out = out if key[3] == "cpu" else to_device(out, key[3])
        cache[key] = (value, out)
        return out

    # ---------------------------------------------------------------- description and files
    def config(self) -> dict:
        """{"name": ..., hyperparameter: value, ...} from `hyper` (K values as a list)."""
        out = {"name": self.name}
        for k in self.hyper:
            v = getattr(self, k)
            out[k] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    def state_dict(self, params, state=None) -> list[dict]:
        """Per-parameter state in the order of `params` (the declared slots and counters), for checkpoints;
        `state` defaults to the optimizer's own (an untouched parameter exports {})."""
        if state is None:
            state = [self._own[id(p)][1] if id(p) in self._own and self._own[id(p)][0] is p else {}
                     for p in params]
        return [{k: (s[k].copy() if is_array(s[k]) else s[k]) for k in (*self.slots, *self.counters) if k in s}
                for s in state]

    def load_state_dict(self, params, states) -> list[dict]:
        """Restore state saved by `state_dict` for the same parameter list, as the optimizer's own; returns it."""
        if len(states) != len(params):
            raise ValueError(f"optimizer state has {len(states)} entries but the network has {len(params)} parameters")
        self._own = {}
        out = []
        for i, (p, s) in enumerate(zip(params, states)):
            slot = self.init_one(p)
            if s:
                for k in (*self.slots, *self.counters):
                    if k not in s:
                        raise ValueError(f"optimizer state for parameter {i} lacks field {k!r}")
                for k in self.slots:
                    v = to_device(s[k], device_of(p))
                    if v.shape != p.shape:
                        raise ValueError(f"optimizer state {k!r} for parameter {i} has shape {v.shape}, "
                                         f"expected {p.shape}")
                    slot[k] = v.astype(p.dtype, copy=True)
                for k in self.counters:
                    slot[k] = int(s[k])
                self._own[id(p)] = (p, slot)
            out.append(slot)
        return out

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


@register
class SGD(Optimizer):
    """Plain (mini-batch / batch / stochastic) gradient descent: W ← W − α·dW."""

    name = "sgd"

    def _update(self, p, g, slot, d):
        array_module(p).multiply(g, self.h("lr", p), out=d)
        p -= d


@register
class FusedSGD(SGD):
    """Plain SGD, W ← W − α·dW, with the step folded into the weight-gradient product where the layer leaves
    it as one (Dense: dW = XᵀΔ): W ← (1 − αλ/n)·W − α·XᵀΔ as one gemm of NumPy's BLAS accumulating into W, with
    no gradient array and no pass over W of its own. Faster, most of all on many cores; rounded differently
    from `SGD` (equal within float rounding). The trainer leaves products lazy only while no callback reads
    gradients (`Callback.reads_gradients`); otherwise, and for every other parameter, it steps as SGD."""

    name = "fused_sgd"
    takes_products = True

    def step(self, params, grads, state=None):
        if state is None:
            state = self.state_for(params)
        rest = []
        for p, g, s in zip(params, grads, state):
            if isinstance(g, Product):
                self._fused(p, g)
            else:
                rest.append((p, g, s))
        if rest:
            super().step(*zip(*rest))
        return state

    def _fused(self, W, g):
        """W ← keep·W − α·a·b with keep = 1 − α·decay: one gemm where NumPy's BLAS takes W, else NumPy."""
        lr = self.h("lr", W)
        keep = 1.0 - lr * g.decay
        if np.ndim(lr) and W.ndim == 3:
            return self._fused_members(W, g, lr, keep)
        gemm = gemm_for(W, g.a, g.b) if W.size >= GEMM_MIN_SIZE and np.ndim(lr) == 0 else None
        if gemm is not None:
            gemm(-lr, g.a, g.b, keep, W)
            return
        step = g.a @ g.b  # small W, populations, other array modules (CuPy), dtypes or layouts
        step *= lr
        if np.any(keep != 1.0):
            W *= keep
        W -= step


    @staticmethod
    def _fused_members(W, g, lr, keep):
        """A population (W of shape (K, n_in, n_out), K rates): α folded into the small Δ (K, n, n_out) first,
        then per member one gemm accumulating into W[k] (W[k] ← keep_k·W[k] − a·(α_k·Δ_k)) where NumPy's BLAS
        takes it and members are large enough to pay for a call each; else W ← keep·W − a @ (α·Δ)."""
        b = g.b * lr
        gemm = gemm_for(W[0], g.a, b[0]) if W[0].size >= GEMM_MIN_MEMBER_SIZE and g.a.ndim == 2 else None
        if gemm is not None:
            keeps = np.broadcast_to(keep, (len(W), 1, 1)).reshape(-1).tolist()
            for k, c in enumerate(keeps):
                gemm(-1.0, g.a, b[k], c, W[k])
            return
        if np.ndim(g.decay) or g.decay:  # (asking whether keep is 1 would wait for a device)
            W *= keep
        W -= g.a @ b


@register
class Momentum(Optimizer):
    """Gradient descent with momentum: V ← βV + (1 − β)dW; W ← W − αV."""

    name = "momentum"
    hyper = ("lr", "beta")
    slots = ("V",)
    default_lr = 0.2  # V averages the gradients, so the step is about α·dW: the same scale as SGD's

    def __init__(self, lr=0.01, beta=0.9):
        super().__init__(lr)
        self.beta = _checked(beta, "momentum beta", _check_beta("momentum beta"))

    def _update(self, p, g, slot, tmp):
        xp, v, beta = array_module(p), slot["V"], self.h("beta", p)
        xp.multiply(g, 1 - beta, out=tmp)
        v *= beta
        v += tmp
        xp.multiply(v, self.h("lr", p), out=tmp)
        p -= tmp


@register
class RMSprop(Optimizer):
    """RMSprop: S ← βS + (1 − β)dW²; W ← W − α·dW/(√S + ε)."""

    name = "rmsprop"
    hyper = ("lr", "beta", "eps")
    slots = ("S",)
    default_lr = 0.001

    def __init__(self, lr=0.001, beta=0.9, eps=1e-8):
        super().__init__(lr)
        self.beta = _checked(beta, "rmsprop beta", _check_beta("rmsprop beta"))
        self.eps = _checked(eps, "eps", _check_eps)

    def _update(self, p, g, slot, d):
        xp, s, beta = array_module(p), slot["S"], self.h("beta", p)
        xp.multiply(g, g, out=d)
        d *= 1 - beta
        s *= beta
        s += d
        xp.sqrt(s, out=d)
        d += self.h("eps", p)
        xp.divide(g, d, out=d)
        d *= self.h("lr", p)
        p -= d


@register
class Adam(Optimizer):
    """Adam with bias correction of both moments (see module docstring)."""

    name = "adam"
    hyper = ("lr", "beta1", "beta2", "eps")
    slots = ("V", "S")
    counters = ("t",)
    default_lr = 0.001

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = _checked(beta1, "adam beta1", _check_beta("adam beta1"))
        self.beta2 = _checked(beta2, "adam beta2", _check_beta("adam beta2"))
        self.eps = _checked(eps, "eps", _check_eps)

    def _update(self, p, g, slot, d):
        xp, b1, b2 = array_module(p), self.h("beta1", p), self.h("beta2", p)
        slot["t"] = t = slot["t"] + 1
        v, s = slot["V"], slot["S"]
        xp.multiply(g, 1 - b1, out=d)
        v *= b1
        v += d
        xp.multiply(g, g, out=d)
        d *= 1 - b2
        s *= b2
        s += d
        # α·V̂/(√Ŝ + ε) computed as α_t·V/(√S + ε·√(1 − β2ᵗ)) with α_t = α·√(1 − β2ᵗ)/(1 − β1ᵗ): same value, fewer passes
        c2 = math.sqrt(1 - b2 ** t) if np.ndim(b2) == 0 else xp.sqrt(1 - b2 ** t)
        xp.sqrt(s, out=d)
        d += self.h("eps", p) * c2
        xp.divide(v, d, out=d)
        d *= self.h("lr", p) * c2 / (1 - b1 ** t)
        p -= d


def make_optimizer(name="sgd", **params) -> Optimizer:
    """An optimizer from its registry name and parameters (unknown names or parameters are errors)."""
    if isinstance(name, Optimizer):
        return name
    return OPTIMIZERS.create(str(name), **params)
