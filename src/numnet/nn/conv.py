"""Convolution and pooling over feature maps (n, C, H, W): Conv2D, MaxPool2D, AvgPool2D, BatchNorm2D.

Conv2D works by im2col (Saito ch.7): the k×k windows of the (padded) input are copied into columns
col (n, C·k·k, OH·OW), one block copy per kernel offset (k² slices, vectorized over examples and pixels), so the
convolution is one batched product per batch, Z[n] = W (out, C·k·k) @ col[n] + b, already in (n, out, OH, OW)
order. Backward: dW = Σ_n dZ[n] col[n]ᵀ, db = Σ dZ, and dX folds dcol = Wᵀ dZ back onto the input (col2im: k²
slice additions). The unfolded batch costs C·k²·OH·OW values per example; above `Conv2D.col_budget` bytes the
batch is worked in chunks (the columns are then recomputed in backward, not kept), so memory stays bounded.

Pooling windows are size × size with stride `stride` (default: the size), without padding; the output size is
floor((H − size)/stride) + 1 (a border that fits no whole window is dropped, as in Nielsen's network3 and
PyTorch). Every layer computes with the array module of its input (NumPy, CuPy or a registered device).
"""
from __future__ import annotations

import math

import numpy as np

from ..utils.backend import array_module
from ..utils.checks import nonnegative_int, positive_int
from .initializers import initialize
from .layers import BatchNorm, Layer, register

#: bytes the unfolded columns of one chunk of a batch may take (Conv2D works in chunks above it)
COL_BUDGET = 256 * 2**20


def out_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """The output length of a window of `kernel` sliding by `stride` over `size` + 2·padding values."""
    return (size + 2 * padding - kernel) // stride + 1


def _window(i: int, stride: int, n_out: int) -> slice:
    """The input positions kernel offset i meets, over the n_out outputs."""
    return slice(i, i + stride * (n_out - 1) + 1, stride)


def _image_shape(layer, input_shape) -> tuple:
    """(C, H, W) checked: three positive dimensions (a clear error for flat inputs)."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"layer sizes do not chain: {layer!r} takes feature maps (channels, height, width) but "
                         f"receives shape {shape} (give the first layer input_shape=(C, H, W), and put Flatten "
                         f"before Dense layers)")
    return shape


def _windowed_shape(layer, input_shape, kernel, stride, padding=0) -> tuple:
    """(OH, OW) of a window sliding over (C, H, W); an error when the window does not fit."""
    c, h, w = _image_shape(layer, input_shape)
    oh, ow = out_size(h, kernel, stride, padding), out_size(w, kernel, stride, padding)
    if oh < 1 or ow < 1:
        raise ValueError(f"layer sizes do not chain: {layer!r} needs inputs of at least {kernel}×{kernel} "
                         f"(with padding {padding}), receives {h}×{w}")
    return oh, ow


def im2col(x, kernel: int, stride: int, oh: int, ow: int):
    """col (n, C·k·k, OH·OW) of padded inputs x (n, C, H, W): entry (c, i, j) of column (r, s) is
    x[c, r·stride + i, s·stride + j]; one block copy per kernel offset."""
    n, c = x.shape[:2]
    col = array_module(x).empty((n, c, kernel, kernel, oh, ow), dtype=x.dtype)
    for i in range(kernel):
        rows = _window(i, stride, oh)
        for j in range(kernel):
            col[:, :, i, j] = x[:, :, rows, _window(j, stride, ow)]
    return col.reshape(n, c * kernel * kernel, oh * ow)


def col2im(dcol, shape, kernel: int, stride: int, oh: int, ow: int):
    """The adjoint of im2col: dx (shape) with every column entry added back where it was copied from."""
    n, c = shape[:2]
    dcol = dcol.reshape(n, c, kernel, kernel, oh, ow)
    dx = array_module(dcol).zeros(shape, dtype=dcol.dtype)
    for i in range(kernel):
        rows = _window(i, stride, oh)
        for j in range(kernel):
            dx[:, :, rows, _window(j, stride, ow)] += dcol[:, :, i, j]
    return dx


def pad_maps(x, padding: int):
    """x (n, C, H, W) with `padding` zeros on each side of H and W (x itself when padding is 0)."""
    if not padding:
        return x
    n, c, h, w = x.shape
    out = array_module(x).zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    out[:, :, padding:padding + h, padding:padding + w] = x
    return out


@register
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every framework): Z[o] = Σ_c W[o, c] ⋆ X[c] + b[o], with
    W (out_channels, in_channels, k, k) and b (out_channels,). `init` is an initializer name (default "he")
    drawn with fan-in = in_channels·k² (xavier's fan-out: out_channels·k²). `input_shape` (C, H, W) fixes the
    image size of a network's first layer. Inputs (n, C, H, W); no population axis."""

    name = "conv2d"
    decay = ("W",)
    changes_width = True
    #: bytes of unfolded columns per chunk of the batch (see the module docstring)
    col_budget = COL_BUDGET

    def __init__(self, in_channels, out_channels, kernel, stride=1, padding=0, init="he", bias=True,
                 input_shape=None, seed=None, rng=None, dtype="float32"):
        super().__init__()
        kind = type(self).__name__
        self.in_channels = positive_int(in_channels, f"{kind} in_channels")
        self.out_channels = positive_int(out_channels, f"{kind} out_channels")
        self.kernel = positive_int(kernel, f"{kind} kernel")
        self.stride = positive_int(stride, f"{kind} stride")
        self.padding = nonnegative_int(padding, f"{kind} padding")
        self.init = dict(init) if isinstance(init, dict) else init
        self.bias = bool(bias)
        self.shape = None
        if input_shape is not None:
            self.shape = tuple(positive_int(d, f"{kind} input_shape") for d in input_shape)
            if len(self.shape) != 3 or self.shape[0] != self.in_channels:
                raise ValueError(f"{kind} input_shape must be ({self.in_channels}, height, width), got {input_shape!r}")
            _windowed_shape(self, self.shape, self.kernel, self.stride, self.padding)
        if rng is None:
            rng = np.random.default_rng(seed)
        fan_in = self.in_channels * self.kernel ** 2
        W, b = initialize(init, fan_in, self.out_channels, rng, dtype)
        if (init.get("name") if isinstance(init, dict) else init) == "xavier":  # Glorot: 2/(fan_in + out·k²)
            W *= W.dtype.type(math.sqrt((fan_in + self.out_channels) / (fan_in + self.out_channels * self.kernel ** 2)))
        self.params["W"] = np.ascontiguousarray(W.T).reshape(self.out_channels, self.in_channels, self.kernel,
                                                             self.kernel)
        if self.bias:
            self.params["b"] = b

    @property
    def input_shape(self):
        return self.shape

    def output_shape(self, input_shape):
        super().output_shape(input_shape)
        c = _image_shape(self, input_shape)[0]
        if c != self.in_channels:
            raise ValueError(f"layer sizes do not chain: {self!r} takes {self.in_channels} channels, receives {c}")
        return (self.out_channels, *_windowed_shape(self, input_shape, self.kernel, self.stride, self.padding))

    def _chunk(self, x, oh, ow) -> int:
        """Examples per chunk so that a chunk's columns fit `col_budget` (at least one)."""
        per_example = self.in_channels * self.kernel ** 2 * oh * ow * x.dtype.itemsize
        return max(1, int(self.col_budget // per_example))

    def forward(self, v, x, training=False, rng=None):
        """Cache (padded x, col or None, (OH, OW)): the columns are kept when the batch is one chunk."""
        if x.ndim != 4:
            raise ValueError(f"Conv2D takes a batch of feature maps (n, C, H, W), got shape {x.shape} (a population "
                             f"axis of K members is not supported by convolution layers)")
        k, s = self.kernel, self.stride
        xpad = pad_maps(x, self.padding)
        oh, ow = out_size(xpad.shape[2], k, s), out_size(xpad.shape[3], k, s)
        W2 = v["W"].reshape(self.out_channels, -1)
        n, step = x.shape[0], self._chunk(x, oh, ow)
        col = None
        if n <= step:
            col = im2col(xpad, k, s, oh, ow)
            z = W2 @ col
        else:
            z = array_module(x).empty((n, self.out_channels, oh * ow), dtype=x.dtype)
            for a in range(0, n, step):
                array_module(x).matmul(W2, im2col(xpad[a:a + step], k, s, oh, ow), out=z[a:a + step])
        if self.bias:
            z += v["b"][:, None]
        return z.reshape(n, self.out_channels, oh, ow), (xpad, col, (oh, ow))

    def backward(self, v, cache, dz, need_dx=True):
        xpad, col, (oh, ow) = cache
        k, s = self.kernel, self.stride
        n = xpad.shape[0]
        dz = dz.reshape(n, self.out_channels, oh * ow)
        W2 = v["W"].reshape(self.out_channels, -1)
        grads, dx = {}, None
        step = n if col is not None else self._chunk(xpad, oh, ow)
        dW = None
        if need_dx:
            dx = array_module(dz).empty(xpad.shape, dtype=dz.dtype)
        for a in range(0, n, step):
            c = col if col is not None else im2col(xpad[a:a + step], k, s, oh, ow)
            d = dz[a:a + step]
            if self.trainable:
                part = (d @ c.transpose(0, 2, 1)).sum(axis=0)
                dW = part if dW is None else dW + part
            if need_dx:
                dx[a:a + step] = col2im(W2.T @ d, c.shape[:1] + xpad.shape[1:], k, s, oh, ow)
        if self.trainable:
            grads["W"] = dW.reshape(v["W"].shape)
            if self.bias:
                grads["b"] = dz.sum(axis=(0, 2))
        if dx is not None and self.padding:
            p = self.padding
            dx = dx[:, :, p:dx.shape[2] - p, p:dx.shape[3] - p]
        return dx, grads

    def config(self):
        out = {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel": self.kernel,
               "stride": self.stride, "padding": self.padding, "init": self.init, "bias": self.bias}
        if self.shape is not None:
            out["input_shape"] = list(self.shape)
        return out


class _Pool(Layer):
    """size × size windows moved by `stride` (default: size) over each feature map, no padding."""

    def __init__(self, size, stride=None):
        super().__init__()
        kind = type(self).__name__
        self.size = positive_int(size, f"{kind} size")
        self.stride = self.size if stride is None else positive_int(stride, f"{kind} stride")

    def output_shape(self, input_shape):
        c = _image_shape(self, input_shape)[0]
        return (c, *_windowed_shape(self, input_shape, self.size, self.stride))

    def _out(self, x):
        return out_size(x.shape[-2], self.size, self.stride), out_size(x.shape[-1], self.size, self.stride)

    def _windows(self, oh, ow):
        """(offset index, row slice, column slice) for each of the size² window offsets."""
        s, st = self.size, self.stride
        return [(i * s + j, _window(i, st, oh), _window(j, st, ow)) for i in range(s) for j in range(s)]

    def config(self):
        return {"size": self.size, **({} if self.stride == self.size else {"stride": self.stride})}


@register
class MaxPool2D(_Pool):
    """The largest value of each window; backward routes dy to the window's first largest input (one winner per
    window, also where inputs tie, as a ReLU's zeros do). Elementwise maxima and comparisons over the size²
    window offsets: no copy of the windows, no argmax."""

    name = "max_pool2d"

    def forward(self, v, x, training=False, rng=None):
        xp = array_module(x)
        windows = self._windows(*self._out(x))
        y = x[..., windows[0][1], windows[0][2]].copy()
        for _, r, c in windows[1:]:
            xp.maximum(y, x[..., r, c], out=y)
        return y, (x, y)

    def backward(self, v, cache, dy, need_dx=True):
        """dx[window offset] += dy where that offset holds the max and no earlier offset did."""
        x, y = cache
        xp = array_module(dy)
        dx = xp.zeros(x.shape, dtype=dy.dtype)
        zero = xp.zeros((), dtype=dy.dtype)
        open_ = None  # windows whose winner is not found yet
        tiled = self.stride == self.size  # windows do not overlap: each input is in one window, set not added
        for _, r, c in self._windows(*dy.shape[-2:]):
            hit = x[..., r, c] == y
            if open_ is None:
                open_ = ~hit
            else:
                hit &= open_
                open_ &= ~hit
            if tiled:
                dx[..., r, c] = xp.where(hit, dy, zero)
            else:
                dx[..., r, c] += xp.where(hit, dy, zero)
        return dx, {}


@register
class AvgPool2D(_Pool):
    """The mean of each window; backward spreads dy / size² over the window."""

    name = "avg_pool2d"

    def forward(self, v, x, training=False, rng=None):
        oh, ow = self._out(x)
        windows = self._windows(oh, ow)
        y = x[..., windows[0][1], windows[0][2]].copy()
        for _, r, c in windows[1:]:
            y += x[..., r, c]
        y *= y.dtype.type(1 / self.size ** 2)
        return y, x.shape

    def backward(self, v, shape, dy, need_dx=True):
        dx = array_module(dy).zeros(shape, dtype=dy.dtype)
        share = dy * dy.dtype.type(1 / self.size ** 2)
        for _, r, c in self._windows(*dy.shape[-2:]):
            dx[..., r, c] += share
        return dx, {}


@register
class BatchNorm2D(BatchNorm):
    """Batch normalisation per channel of feature maps (n, C, H, W): statistics over the examples and every
    position (n·H·W values per channel), γ, β and the running averages of shape (C,); else as BatchNorm."""

    name = "batch_norm2d"

    def __init__(self, channels, momentum=0.9, eps=1e-5, dtype="float32"):
        super().__init__(positive_int(channels, "BatchNorm2D channels"), momentum, eps, dtype)

    @property
    def input_shape(self):
        return None

    def output_shape(self, input_shape):
        c = _image_shape(self, input_shape)[0]
        if c != self.n:
            raise ValueError(f"layer sizes do not chain: {self!r} normalises {self.n} channels, receives {c}")
        return tuple(input_shape)

    def forward(self, v, x, training=False, rng=None):
        updates = None
        axes = (0, 2, 3)
        if training and self.trainable:
            if x.shape[0] * x.shape[2] * x.shape[3] < 2:
                raise ValueError("BatchNorm2D needs at least 2 values per channel in a training batch")
            mu = x.mean(axis=axes)
            xc = x - mu[:, None, None]
            var = (xc * xc).mean(axis=axes)
            m = self.momentum
            updates = {"running_mean": v["running_mean"] * m + (1 - m) * mu,
                       "running_var": v["running_var"] * m + (1 - m) * var}
        else:
            mu, var = v["running_mean"], v["running_var"]
            xc = x - mu[:, None, None]
        inv_std = (1 / array_module(x).sqrt(var + self.eps))[:, None, None]
        xhat = xc * inv_std
        y = xhat * v["gamma"][:, None, None] + v["beta"][:, None, None]
        return y, (xhat, inv_std, bool(training) and self.trainable, updates)

    def backward(self, v, cache, dy, need_dx=True):
        xhat, inv_std, batch_stats, _ = cache
        axes = (0, 2, 3)
        grads = {}
        if self.trainable:
            grads["gamma"] = (dy * xhat).sum(axis=axes)
            grads["beta"] = dy.sum(axis=axes)
        if not need_dx:
            return None, grads
        dxhat = dy * v["gamma"][:, None, None]
        if not batch_stats:
            return dxhat * inv_std, grads
        return inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                          - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)), grads

    def config(self):
        return {"channels": self.n, "momentum": self.momentum, "eps": self.eps}


__all__ = ["Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm2D", "im2col", "col2im", "out_size", "COL_BUDGET"]


@register
class Flatten(Layer):
    """Reshapes each example to one row: (…, n, *shape) → (…, n, prod(shape)), e.g. feature maps before a
    Dense layer. `input_shape` fixes the shape it takes (None: any, fixed by the layer before it)."""

    name = "flatten"

    def __init__(self, input_shape=None):
        super().__init__()
        self.shape = None if input_shape is None else tuple(
            positive_int(d, "Flatten input_shape") for d in input_shape)

    @property
    def input_shape(self):
        return self.shape

    def output_shape(self, input_shape):
        super().output_shape(input_shape)
        return (math.prod(input_shape),)

    def forward(self, v, x, training=False, rng=None):
        features = len(self.shape) if self.shape is not None else x.ndim - 1
        lead = x.shape[:x.ndim - features]
        return x.reshape(lead + (-1,)), x.shape

    def backward(self, v, shape, dy, need_dx=True):
        return dy.reshape(shape), {}

    def config(self):
        return {} if self.shape is None else {"input_shape": list(self.shape)}
