"""Layers: each owns `forward` and `backward`, and computes from the parameters and inputs it is given.

A layer is a description (its constructor arguments, `config()`, and the per-example shapes it takes and gives:
`input_shape`, `output_shape(shape)`) plus the arrays a network binds to it (`params`, trained; `buffers`, saved
but not trained, such as batch-norm statistics). Its computation is explicit about state:

    y, cache = layer.forward(v, x, training=False, rng=None)      # v: the layer's variables (params + buffers)
    dx, grads = layer.backward(v, cache, dy, need_dx=True)         # grads: name -> array (or a lazy Product)

so the caches and the gradients belong to whoever runs the pass (the network's pass, the trainer), never to
the layer object. `layer(x)` runs it on its own variables (inference). Examples are rows: a Dense layer
computes Z = A_prev @ W + b (W of shape (n_in, n_out)), the row form of the book's z^l = w^l a^(l−1) + b^l.

Population axis: every variable may carry a leading axis of K members (W of shape (K, n_in, n_out), b of
shape (K, n_out)), with inputs (K, n, ...) or (n, ...) shared by all members: the same code trains K networks
as batched products. A layer tells the network what it needs through attributes, never through its type:
`decay` (what L2 shrinks), `trainable` (False freezes it), `changes_width`, `unbounded_output`, `hidden_unit`,
`stateful` (its training pass returns new buffers: `updates(cache)`).

Every layer computes with the array module of its input (`array_module(x)`: NumPy, or CuPy for a network
placed on the GPU with `Network.to("cuda")`), so the same code serves every device.
"""
from __future__ import annotations

import math

import numpy as np

from ..utils.backend import array_module, device_generator
from ..utils.checks import number, positive_int
from ..utils.registry import Registry
from .initializers import initialize

LAYERS = Registry("layer")
ACTIVATIONS = Registry("activation", parent=LAYERS)
register = LAYERS.register


def transpose(a):
    """The matrix transpose of the last two axes (a.T for one network, per member for a population)."""
    return a.T if a.ndim == 2 else a.swapaxes(-1, -2)


def rows(v, x):
    """A per-feature vector (n,) or population of them (K, n) shaped to broadcast over x's rows (…, m, n)."""
    return v if v.ndim == 1 else v.reshape(v.shape[:-1] + (1,) * (x.ndim - v.ndim) + v.shape[-1:])


class Product:
    """A weight gradient left as the product a @ b, evaluated by whoever consumes it: materialised into a
    gradient array (`value`), or folded into an optimizer's step (FusedSGD: one gemm accumulating into W).
    `decay` is L2's (λ/n) on this parameter: the gradient is a @ b + decay·param (a population's decay is one
    value per member, shaped (K, 1, …) to broadcast against the parameter)."""

    __slots__ = ("a", "b", "decay", "param")

    def __init__(self, a, b):
        self.a, self.b, self.decay, self.param = a, b, 0.0, None

    def value(self, out=None):
        """a @ b (+ decay·param), written into `out` when given (shaped like the parameter)."""
        g = array_module(self.b).matmul(self.a, self.b, out=out)
        if np.ndim(self.decay) or self.decay:
            g += self.decay * self.param
        return g


class Layer:
    """Base layer: a description with `forward(v, x, ...)` / `backward(v, cache, dy, ...)` (see the module
    docstring), `params` (trained) and `buffers` (saved, not trained) bound by the network."""

    name = "layer"
    decay: tuple[str, ...] = ()
    changes_width = False  # True for layers whose output width is a new size of the network (Dense)
    unbounded_output = False  # True when outputs may be any real number (Dense, identity): real-valued targets fit
    stateful = False  # True when a training pass returns new buffers (`updates(cache)`: batch-norm statistics)

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # saved with the model, not trained (batch-norm statistics)
        self.trainable = True

    # ---------------------------------------------------------------- shapes
    @property
    def input_shape(self) -> tuple | None:
        """The per-example input shape this layer requires, or None when it takes any."""
        return None

    def output_shape(self, input_shape: tuple) -> tuple:
        """The per-example output shape for `input_shape` (activations keep it); raises if they do not chain."""
        required = self.input_shape
        if required is not None and tuple(input_shape) != tuple(required):
            raise ValueError(f"layer sizes do not chain: {self!r} expects inputs of shape {tuple(required)} but "
                             f"receives {tuple(input_shape)}")
        return tuple(input_shape)

    @property
    def input_size(self) -> int | None:
        """The number of input features (the product of `input_shape`), or None when any shape fits."""
        shape = self.input_shape
        return None if shape is None else math.prod(shape)

    def output_size(self, n_in: int) -> int:
        """`output_shape` for flat inputs of width n_in, as a width."""
        return math.prod(self.output_shape((n_in,)))

    # ---------------------------------------------------------------- computation
    @property
    def variables(self) -> dict:
        """The layer's own arrays, params and buffers in one mapping (what `forward` takes as `v`)."""
        return {**self.params, **self.buffers} if self.buffers else self.params

    def forward(self, v, x, training=False, rng=None):
        """(y, cache): the output for input x and what `backward` needs. `rng` feeds stochastic layers."""
        raise NotImplementedError

    def backward(self, v, cache, dy, need_dx=True):
        """(dx, grads): ∂C/∂x (None when need_dx is False) and {name: ∂C/∂param} given dy = ∂C/∂y."""
        raise NotImplementedError

    def updates(self, cache) -> dict:
        """New buffer values after a training pass (stateful layers)."""
        return {}

    def __call__(self, x):
        """The layer's output on its own variables, in inference mode."""
        return self.forward(self.variables, x)[0]

    def check_state(self) -> None:
        """Raise ValueError when a loaded buffer is out of its range (e.g. a negative variance)."""

    # ---------------------------------------------------------------- description
    def config(self) -> dict:
        """Constructor arguments, JSON-serialisable; `type(self)(**config())` rebuilds the layer's shape."""
        return {}

    def set_dtype(self, dtype) -> None:
        """Cast parameters and buffers to `dtype` (used by `Network.astype`)."""
        for store in (self.params, self.buffers):
            for k, v in store.items():
                store[k] = v.astype(dtype)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


@register
class Dense(Layer):
    """Fully connected layer: Z = X @ W + b.  Backward: dW = Xᵀ dZ (left as a Product), db = Σ_rows dZ,
    dX = dZ Wᵀ."""

    name = "dense"
    decay = ("W",)
    changes_width = True
    unbounded_output = True

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
        if self.bias:
            self.params["b"] = b

    @property
    def input_shape(self):
        return (self.n_in,)

    def output_shape(self, input_shape):
        super().output_shape(input_shape)
        return (self.n_out,)

    @property
    def W(self):
        return self.params["W"]

    @property
    def b(self):
        return self.params.get("b")

    def forward(self, v, x, training=False, rng=None):
        z = x @ v["W"]
        if self.bias:
            z += rows(v["b"], z)
        return z, x

    def backward(self, v, x, dz, need_dx=True):
        grads = {}
        if self.trainable:
            grads["W"] = Product(transpose(x), dz)
            if self.bias:
                grads["b"] = dz.sum(axis=-2)
        return (dz @ transpose(v["W"]) if need_dx else None), grads

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

    def forward(self, v, x, training=False, rng=None):
        xp = array_module(x)
        a = xp.negative(x)
        xp.exp(a, out=a)
        a += 1
        xp.reciprocal(a, out=a)
        return a, a

    def backward(self, v, a, dy, need_dx=True):
        return dy * a * (1 - a), {}


@ACTIVATIONS.register
class Tanh(Activation):
    """tanh(z); tanh' = 1 − tanh²."""

    name = "tanh"
    output_range = (-1.0, 1.0)

    def forward(self, v, x, training=False, rng=None):
        a = array_module(x).tanh(x)
        return a, a

    def backward(self, v, a, dy, need_dx=True):
        return dy * (1 - a * a), {}


@ACTIVATIONS.register
class ReLU(Activation):
    """max(0, z); derivative 1 where z > 0, else 0."""

    name = "relu"
    output_range = (0.0, np.inf)

    def forward(self, v, x, training=False, rng=None):
        a = array_module(x).maximum(x, 0)
        return a, a

    def backward(self, v, a, dy, need_dx=True):
        return dy * (a > 0), {}


@ACTIVATIONS.register
class LeakyReLU(Activation):
    """z for z > 0, αz otherwise; derivative 1 or α."""

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = number(alpha, "LeakyReLU alpha", 0.0, 1.0, high_open=True)

    def forward(self, v, x, training=False, rng=None):
        pos = x > 0
        return array_module(x).where(pos, x, x * self.alpha), pos

    def backward(self, v, pos, dy, need_dx=True):
        return array_module(dy).where(pos, dy, dy * self.alpha), {}

    def config(self):
        return {"alpha": self.alpha}


@ACTIVATIONS.register
class ELU(Activation):
    """z for z > 0, α(e^z − 1) otherwise; derivative 1 or α e^z = a + α."""

    name = "elu"

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = number(alpha, "ELU alpha", 0.0, np.inf, low_open=True, high_open=True)

    def forward(self, v, x, training=False, rng=None):
        xp = array_module(x)
        pos = x > 0
        a = xp.where(pos, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        return a, (pos, a)

    def backward(self, v, cache, dy, need_dx=True):
        pos, a = cache
        return array_module(dy).where(pos, dy, dy * (a + self.alpha)), {}

    def config(self):
        return {"alpha": self.alpha}


@ACTIVATIONS.register
class Softmax(Activation):
    """a_j = e^(z_j − max z) / Σ_k e^(z_k − max z) (shifted by the row max: never overflows).
    Backward: dZ = a ⊙ (dA − Σ_j dA_j a_j)."""

    name = "softmax"
    hidden = False

    def forward(self, v, x, training=False, rng=None):
        a = x - x.max(axis=-1, keepdims=True)
        array_module(a).exp(a, out=a)
        a /= a.sum(axis=-1, keepdims=True)
        return a, a

    def backward(self, v, a, dy, need_dx=True):
        return a * (dy - (dy * a).sum(axis=-1, keepdims=True)), {}


@ACTIVATIONS.register(aliases=("linear",))
class Identity(Activation):
    """Linear output: a = z (e.g. a quadratic cost on the raw outputs)."""

    name = "identity"
    hidden = False
    unbounded_output = True

    def forward(self, v, x, training=False, rng=None):
        return x, None

    def backward(self, v, cache, dy, need_dx=True):
        return dy, {}


@register
class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability keep_prob and divide by keep_prob,
    so inference is the plain identity. keep_prob = 1 is exactly a no-op."""

    name = "dropout"

    def __init__(self, keep_prob=0.5):
        super().__init__()
        self.keep_prob = number(keep_prob, "Dropout keep_prob", 0.0, 1.0, low_open=True)

    def forward(self, v, x, training=False, rng=None):
        """The mask is drawn from `rng` (the trainer's generator; a fresh one when None). On a device the mask
        comes from a device generator (a host `rng` seeds one: see `device_generator`), so GPU dropout masks
        differ from CPU ones for the same seed; CPU masks are unchanged. A population draws one mask per
        member (the mask has x's shape)."""
        if not training or self.keep_prob == 1.0:
            return x, None
        if rng is None:
            rng = np.random.default_rng()
        rng = device_generator(rng, array_module(x))
        mask = (rng.random(x.shape, dtype=x.dtype) < self.keep_prob).astype(x.dtype)
        mask *= 1 / self.keep_prob
        return x * mask, mask

    def backward(self, v, mask, dy, need_dx=True):
        return (dy if mask is None else dy * mask), {}

    def config(self):
        return {"keep_prob": self.keep_prob}


@register
class BatchNorm(Layer):
    """Batch normalisation of z before the activation: ẑ = (z − μ_B)/√(σ²_B + ε), out = γ ẑ + β.

    Training uses the mini-batch statistics and returns new exponentially weighted running averages
    (running = momentum·running + (1 − momentum)·batch, see `updates`); inference uses the running averages,
    so a single example works. γ, β are learned; L2 does not decay them. A frozen (trainable = False)
    BatchNorm normalises with its running averages in training too, so fine-tuning around it leaves its
    statistics as they were.
    """

    name = "batch_norm"
    stateful = True

    def __init__(self, n, momentum=0.9, eps=1e-5, dtype="float32"):
        super().__init__()
        self.n = positive_int(n, "BatchNorm n")
        self.momentum = number(momentum, "BatchNorm momentum", 0.0, 1.0, high_open=True)
        self.eps = number(eps, "BatchNorm eps", 0.0, np.inf, low_open=True, high_open=True)
        self.params["gamma"] = np.ones(self.n, dtype=dtype)
        self.params["beta"] = np.zeros(self.n, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(self.n, dtype=dtype)
        self.buffers["running_var"] = np.ones(self.n, dtype=dtype)

    @property
    def input_shape(self):
        return (self.n,)

    def forward(self, v, x, training=False, rng=None):
        """Statistics over the batch axis (−2), per member in a population."""
        updates = None
        if training and self.trainable:
            if x.shape[-2] < 2:
                raise ValueError("BatchNorm needs at least 2 examples per training batch (batch_size >= 2)")
            mu = x.mean(axis=-2)
            xc = x - rows(mu, x)
            var = (xc * xc).mean(axis=-2)
            m = self.momentum
            updates = {"running_mean": v["running_mean"] * m + (1 - m) * mu,
                       "running_var": v["running_var"] * m + (1 - m) * var}
        else:
            mu, var = v["running_mean"], v["running_var"]
            xc = x - rows(mu, x)
        inv_std = rows(1 / array_module(x).sqrt(var + self.eps), x)
        xhat = xc * inv_std
        batch_stats = bool(training and self.trainable)  # a frozen layer normalises by its running averages
        return xhat * rows(v["gamma"], x) + rows(v["beta"], x), (xhat, inv_std, batch_stats, updates)

    def updates(self, cache):
        return cache[3] or {}

    def backward(self, v, cache, dy, need_dx=True):
        xhat, inv_std, batch_stats, _ = cache
        grads = {}
        if self.trainable:
            grads["gamma"] = (dy * xhat).sum(axis=-2)
            grads["beta"] = dy.sum(axis=-2)
        if not need_dx:
            return None, grads
        dxhat = dy * rows(v["gamma"], dy)
        if not batch_stats:  # inference: μ and σ² are constants (running averages), so dx = dxhat/√(σ² + ε)
            return dxhat * inv_std, grads
        # dx = (1/m)·inv_std·(m·dxhat − Σdxhat − xhat·Σ(dxhat·xhat))
        return inv_std * (dxhat - dxhat.mean(axis=-2, keepdims=True)
                          - xhat * (dxhat * xhat).mean(axis=-2, keepdims=True)), grads

    def check_state(self):
        var = np.asarray(self.buffers["running_var"])
        if not (var >= 0).all():
            raise ValueError("batch_norm running_var holds negative values")
        with np.errstate(divide="ignore"):
            if not np.isfinite(1 / np.sqrt(var + var.dtype.type(self.eps))).all():
                raise ValueError(f"batch_norm eps {self.eps} is too small for a zero running_var in {var.dtype} "
                                 "(1/sqrt(var + eps) is infinite)")

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
