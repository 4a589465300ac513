"""Layers: each owns `forward` and `backward`, and keeps its parameters and their gradients side by side.

Examples are rows. A Dense layer computes Z = A_prev @ W + b (W of shape (n_in, n_out)), the row form of the
book's z^l = w^l a^(l-1) + b^l; an activation layer computes A = σ(Z). `backward(dA)` receives ∂C/∂output
and returns ∂C/∂input, filling `grads` in place. Parameters are updated in place by optimizers and are never
rebound, so `layer.params["W"] is layer.W` always holds.

A layer tells the network what it needs through attributes, never through its type: `input_size` (the width
it expects, None for any), `changes_width`, `decay` (what L2 shrinks), `trainable` (False freezes it: no
update, no weight gradient), `unbounded_output` (real-valued targets fit its output), `hidden_unit` (it replaces
Dense + activation in `Network.from_sizes`, as Maxout does), `fuses_sgd` (it offers `backward_sgd`, its backward
pass with a plain-SGD step folded in, used with `FusedSGD`). Randomness arrives through `forward(x, training, rng)`.

Every layer computes with the array module of its input (`array_module(x)`: NumPy, or CuPy for a network
placed on the GPU with `Network.to("cuda")`), so the same code serves both devices.
"""
from __future__ import annotations

import numpy as np

from ..utils.backend import array_module, device_generator
from ..utils.blas import gemm_for
from ..utils.checks import number, positive_int
from ..utils.registry import Registry
from .initializers import initialize

#: weights with fewer entries take the fused SGD step without gemm: they fit in cache, so folding saves no memory
#: traffic, and the ctypes call costs more than it saves (measured: a 100×10 layer at batch 128, 10 µs against 6)
GEMM_MIN_SIZE = 1 << 16
LAYERS = Registry("layer")
ACTIVATIONS = Registry("activation", parent=LAYERS)
register = LAYERS.register


class Layer:
    """Base layer. `params`/`grads` map the same names to arrays; `decay` names the parameters L2 shrinks.

    Layers with parameters take `backward(dy, need_dx=True)`: the network passes need_dx=False to the lowest
    trainable layer, whose input gradient nobody uses.
    """

    name = "layer"
    decay: tuple[str, ...] = ()
    changes_width = False  # True for layers whose output width is a new size of the network (Dense)
    unbounded_output = False  # True when outputs may be any real number (Dense, identity): real-valued targets fit
    #: True when the layer offers `backward_sgd(dy, lr, l2_scale, need_dx)`: its backward pass and a plain-SGD
    #: step of its parameters in one (an optimizer with `fused_rate` lets the network use it)
    fuses_sgd = False

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # saved with the model, not trained (batch-norm statistics)
        self.trainable = True

    @property
    def input_size(self) -> int | None:
        """The input width this layer requires, or None when it takes any width."""
        return None

    def forward(self, x, training=False, rng=None):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor arguments, JSON-serialisable; `type(self)(**config())` rebuilds the layer's shape."""
        return {}

    def output_size(self, n_in: int) -> int:
        """Width of the output given the input width (activations keep it); raises if they do not chain."""
        return n_in

    def set_dtype(self, dtype) -> None:
        """Cast parameters, gradients and buffers to `dtype` (used by `Network.astype`)."""
        for store in (self.params, self.grads, self.buffers):
            for k, v in store.items():
                store[k] = v.astype(dtype)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


@register
class Dense(Layer):
    """Fully connected layer: Z = X @ W + b.  Backward: dW = Xᵀ dZ, db = Σ_rows dZ, dX = dZ Wᵀ."""

    name = "dense"
    decay = ("W",)
    changes_width = True
    unbounded_output = True
    fuses_sgd = True

    def __init__(self, n_in, n_out, init="default", bias=True, bias_init=None, seed=None, rng=None, dtype="float32"):
        super().__init__()
        kind = type(self).__name__
        self.n_in = positive_int(n_in, f"{kind} n_in")
        self.n_out = positive_int(n_out, f"{kind} n_out")
        self.init = dict(init) if isinstance(init, dict) else init
        self.bias = bool(bias)
        self.bias_init = None if bias_init is None else number(bias_init, f"{kind} bias_init")
        if self.bias_init is not None and not self.bias:
            raise ValueError(f"{kind} bias_init needs bias=True")
        if rng is None:
            rng = np.random.default_rng(seed)
        W, b = initialize(init, self.n_in, self.n_out, rng, dtype, self.bias_init)
        self.params["W"] = W
        self.grads["W"] = np.zeros_like(W)
        if self.bias:
            self.params["b"] = b
            self.grads["b"] = np.zeros_like(b)
        self._x = None

    @property
    def input_size(self):
        return self.n_in

    @property
    def W(self):
        return self.params["W"]

    @property
    def b(self):
        return self.params.get("b")

    def forward(self, x, training=False, rng=None):
        self._x = x
        z = x @ self.params["W"]
        if self.bias:
            z += self.params["b"]
        return z

    def backward(self, dz, need_dx=True):
        if self.trainable:
            xp = array_module(dz)
            xp.matmul(self._x.T, dz, out=self.grads["W"])
            if self.bias:
                xp.sum(dz, axis=0, out=self.grads["b"])
        return dz @ self.params["W"].T if need_dx else None

    def backward_sgd(self, dz, lr, l2_scale=0.0, need_dx=True):
        """Backward and the plain-SGD step in one pass over W: dX = dZ Wᵀ (from W before the step), then
        W ← (1 − α·l2_scale)·W − α·XᵀdZ and b ← b − α·Σ_rows dZ. On NumPy arrays (W of at least GEMM_MIN_SIZE
        entries) the W update is one gemm of NumPy's BLAS accumulating into W (β = 1 − α·l2_scale), with no
        pass of its own. dW is never stored: `grads["W"]` is left as it was (`grads["b"]` is filled). Equal to
        `backward` + `SGD.step` within float rounding (the gemm rounds α·XᵀdZ + W once)."""
        W, x = self.params["W"], self._x
        xp = array_module(dz)
        dx = dz @ W.T if need_dx else None
        keep = 1.0 - lr * l2_scale
        gemm = gemm_for(W, x.T, dz) if W.size >= GEMM_MIN_SIZE else None
        if gemm is not None:
            gemm(-lr, x.T, dz, keep, W)
        else:  # small W, other array modules (CuPy), dtypes or layouts: the same formula with a temporary
            step = x.T @ dz
            step *= lr
            if keep != 1.0:
                W *= keep
            W -= step
        if self.bias:
            db = xp.sum(dz, axis=0, out=self.grads["b"])
            self.params["b"] -= lr * db
        return dx

    def output_size(self, n_in):
        if n_in != self.n_in:
            raise ValueError(f"layer sizes do not chain: {type(self).__name__} expects {self.n_in} inputs but "
                             f"receives {n_in}")
        return self.n_out

    def config(self):
        extra = {} if self.bias_init is None else {"bias_init": self.bias_init}
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init, "bias": self.bias, **extra}


class Activation(Layer):
    """An elementwise activation: A = f(Z); dZ = dA ⊙ f'(Z). Register one with `@ACTIVATIONS.register`.

    `hidden = False` marks activations meant for the output layer only (softmax, identity): the CLI's
    --activation choices and gradcheck's hidden-layer combinations list the others. `output_range` (low, high)
    lets diagnostics find saturated units (both ends finite: sigmoid, tanh) and dead ones (high = inf: ReLU)."""

    hidden = True
    output_range: tuple[float, float] | None = None


@ACTIVATIONS.register
class Sigmoid(Activation):
    """σ(z) = 1/(1 + e^(−z)); σ' = σ(1 − σ). e^(−z) may overflow to inf for z ≪ 0, giving exactly 0."""

    name = "sigmoid"
    output_range = (0.0, 1.0)

    def forward(self, x, training=False, rng=None):
        xp = array_module(x)
        a = xp.negative(x)
        xp.exp(a, out=a)
        a += 1
        xp.reciprocal(a, out=a)
        self._a = a
        return a

    def backward(self, dy):
        a = self._a
        return dy * a * (1 - a)


@ACTIVATIONS.register
class Tanh(Activation):
    """tanh(z); tanh' = 1 − tanh²."""

    name = "tanh"
    output_range = (-1.0, 1.0)

    def forward(self, x, training=False, rng=None):
        self._a = array_module(x).tanh(x)
        return self._a

    def backward(self, dy):
        a = self._a
        return dy * (1 - a * a)


@ACTIVATIONS.register
class ReLU(Activation):
    """max(0, z); derivative 1 where z > 0, else 0."""

    name = "relu"
    output_range = (0.0, np.inf)

    def forward(self, x, training=False, rng=None):
        self._a = array_module(x).maximum(x, 0)
        return self._a

    def backward(self, dy):
        return dy * (self._a > 0)


@ACTIVATIONS.register
class LeakyReLU(Activation):
    """z for z > 0, αz otherwise; derivative 1 or α."""

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = number(alpha, "LeakyReLU alpha", 0.0, 1.0, high_open=True)

    def forward(self, x, training=False, rng=None):
        self._pos = x > 0
        return array_module(x).where(self._pos, x, x * self.alpha)

    def backward(self, dy):
        return array_module(dy).where(self._pos, dy, dy * self.alpha)

    def config(self):
        return {"alpha": self.alpha}


@ACTIVATIONS.register
class ELU(Activation):
    """z for z > 0, α(e^z − 1) otherwise; derivative 1 or α e^z = a + α."""

    name = "elu"

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = number(alpha, "ELU alpha", 0.0, np.inf, low_open=True, high_open=True)

    def forward(self, x, training=False, rng=None):
        xp = array_module(x)
        self._pos = x > 0
        self._a = xp.where(self._pos, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        return self._a

    def backward(self, dy):
        return array_module(dy).where(self._pos, dy, dy * (self._a + self.alpha))

    def config(self):
        return {"alpha": self.alpha}


@ACTIVATIONS.register
class Softmax(Activation):
    """a_j = e^(z_j − max z) / Σ_k e^(z_k − max z) (shifted by the row max: never overflows).
    Backward: dZ = a ⊙ (dA − Σ_j dA_j a_j)."""

    name = "softmax"
    hidden = False

    def forward(self, x, training=False, rng=None):
        a = x - x.max(axis=1, keepdims=True)
        array_module(a).exp(a, out=a)
        a /= a.sum(axis=1, keepdims=True)
        self._a = a
        return a

    def backward(self, dy):
        a = self._a
        return a * (dy - (dy * a).sum(axis=1, keepdims=True))


@ACTIVATIONS.register(aliases=("linear",))
class Identity(Activation):
    """Linear output: a = z (e.g. a quadratic cost on the raw outputs)."""

    name = "identity"
    hidden = False
    unbounded_output = True

    def forward(self, x, training=False, rng=None):
        return x

    def backward(self, dy):
        return dy


@register
class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability keep_prob and divide by keep_prob,
    so inference is the plain identity. keep_prob = 1 is exactly a no-op."""

    name = "dropout"

    def __init__(self, keep_prob=0.5):
        super().__init__()
        self.keep_prob = number(keep_prob, "Dropout keep_prob", 0.0, 1.0, low_open=True)
        self._mask = None

    def forward(self, x, training=False, rng=None):
        """The mask is drawn from `rng` (the trainer's generator; a fresh one when None). On a device the mask
        comes from a device generator (a host `rng` seeds one: see `device_generator`), so GPU dropout masks
        differ from CPU ones for the same seed; CPU masks are unchanged."""
        if not training or self.keep_prob == 1.0:
            self._mask = None
            return x
        if rng is None:
            rng = np.random.default_rng()
        rng = device_generator(rng, array_module(x))
        keep = rng.random(x.shape, dtype=x.dtype) < self.keep_prob
        self._mask = keep.astype(x.dtype)
        self._mask *= 1 / self.keep_prob
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def config(self):
        return {"keep_prob": self.keep_prob}


@register
class BatchNorm(Layer):
    """Batch normalisation of z before the activation: ẑ = (z − μ_B)/√(σ²_B + ε), out = γ ẑ + β.

    Training uses the mini-batch statistics and updates exponentially weighted running averages
    (running = momentum·running + (1 − momentum)·batch); inference uses the running averages, so a single
    example works. γ, β are learned; L2 does not decay them. A frozen (trainable = False) BatchNorm normalises
    with its running averages in training too, so fine-tuning around it leaves its statistics as they were.
    """

    name = "batch_norm"

    def __init__(self, n, momentum=0.9, eps=1e-5, dtype="float32"):
        super().__init__()
        self.n = positive_int(n, "BatchNorm n")
        self.momentum = number(momentum, "BatchNorm momentum", 0.0, 1.0, high_open=True)
        self.eps = number(eps, "BatchNorm eps", 0.0, np.inf, low_open=True, high_open=True)
        self.params["gamma"] = np.ones(self.n, dtype=dtype)
        self.params["beta"] = np.zeros(self.n, dtype=dtype)
        self.grads["gamma"] = np.zeros(self.n, dtype=dtype)
        self.grads["beta"] = np.zeros(self.n, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(self.n, dtype=dtype)
        self.buffers["running_var"] = np.ones(self.n, dtype=dtype)

    @property
    def input_size(self):
        return self.n

    def forward(self, x, training=False, rng=None):
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training and self.trainable:
            if x.shape[0] < 2:
                raise ValueError("BatchNorm needs at least 2 examples per training batch (batch_size >= 2)")
            mu = x.mean(axis=0)
            xc = x - mu
            var = (xc * xc).mean(axis=0)
            m = self.momentum
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= m
            rm += (1 - m) * mu
            rv *= m
            rv += (1 - m) * var
        else:
            mu, var = self.buffers["running_mean"], self.buffers["running_var"]
            xc = x - mu
        inv_std = 1 / array_module(x).sqrt(var + self.eps)
        xhat = xc * inv_std
        self._xhat, self._inv_std, self._batch_stats = xhat, inv_std, bool(training)
        return xhat * gamma + beta

    def backward(self, dy, need_dx=True):
        xhat, inv_std = self._xhat, self._inv_std
        if self.trainable:
            xp = array_module(dy)
            xp.sum(dy * xhat, axis=0, out=self.grads["gamma"])
            xp.sum(dy, axis=0, out=self.grads["beta"])
        if not need_dx:
            return None
        dxhat = dy * self.params["gamma"]
        if not self._batch_stats:  # inference: μ and σ² are constants (running averages), so dx = dxhat/√(σ² + ε)
            return dxhat * inv_std
        # dx = (1/m)·inv_std·(m·dxhat − Σdxhat − xhat·Σ(dxhat·xhat))
        return inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))

    def output_size(self, n_in):
        if n_in != self.n:
            raise ValueError(f"layer sizes do not chain: BatchNorm({self.n}) receives {n_in} inputs")
        return n_in

    def config(self):
        return {"n": self.n, "momentum": self.momentum, "eps": self.eps}


def make_activation(name) -> Layer:
    """An activation layer from a registered name ("relu", "leaky-relu", ...), a class, or an instance."""
    if isinstance(name, Layer):
        return name
    if isinstance(name, type) and issubclass(name, Layer):
        return name()
    return ACTIVATIONS.get(str(name))()


def hidden_unit(name):
    """The layer class `name` builds in place of Dense + activation (a layer with `hidden_unit = True`, such as
    Maxout), or None when `name` is not one (an activation)."""
    if isinstance(name, type) and issubclass(name, Layer):
        return name if getattr(name, "hidden_unit", False) else None
    if isinstance(name, str) and name in LAYERS and name not in ACTIVATIONS:
        cls = LAYERS.get(name)
        if getattr(cls, "hidden_unit", False):
            return cls
    return None


def hidden_names() -> list[str]:
    """Names a hidden layer may use: the hidden activations, then the layers that replace Dense + activation."""
    return ([n for n, c in ACTIVATIONS.items() if c.hidden]
            + [n for n, c in LAYERS.items() if getattr(c, "hidden_unit", False)])


def resolve_hidden(name) -> str:
    """The canonical name of an activation or of a hidden-unit layer (maxout); else a ValueError listing them."""
    if hidden_unit(name) is not None:
        return LAYERS.resolve(name)
    try:
        return ACTIVATIONS.resolve(name)
    except ValueError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(hidden_names())}") from None
