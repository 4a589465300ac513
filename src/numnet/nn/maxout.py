"""Maxout units (Goodfellow et al. 2013): each output is the max of `pieces` affine functions of the input,

    f_j(x) = max_k (x W_k + b_k)_j,   W of shape (n_in, n_out·pieces), column j·pieces + k is piece k of unit j.

A Maxout layer takes the place of Dense + activation (it learns its own piecewise-linear activation).
"""
from __future__ import annotations

import numpy as np

from ..utils.checks import int_at_least, number, positive_int
from .initializers import initialize
from .layers import Layer, register


@register
class Maxout(Layer):
    """Z = X W + b reshaped (n, n_out, pieces); out = max over pieces.  Backward routes dY to the winning piece:
    dZ = dY at the argmax, 0 elsewhere; dW = Xᵀ dZ, db = Σ_rows dZ, dX = dZ Wᵀ."""

    name = "maxout"
    decay = ("W",)
    changes_width = True
    unbounded_output = True
    hidden_unit = True  # Network.from_sizes(activation="maxout") builds it in place of Dense + activation

    def __init__(self, n_in, n_out, pieces=2, init="default", bias_init=None, seed=None, rng=None, dtype="float32"):
        super().__init__()
        self.n_in = positive_int(n_in, "Maxout n_in")
        self.n_out = positive_int(n_out, "Maxout n_out")
        self.pieces = int_at_least(pieces, "Maxout pieces", 2)
        self.init = dict(init) if isinstance(init, dict) else init
        self.bias_init = None if bias_init is None else number(bias_init, "Maxout bias_init")
        if rng is None:
            rng = np.random.default_rng(seed)
        W, b = initialize(init, self.n_in, self.n_out * self.pieces, rng, dtype, self.bias_init)
        self.params["W"], self.params["b"] = W, b
        self.grads["W"], self.grads["b"] = np.zeros_like(W), np.zeros_like(b)
        self._x = self._arg = None

    @property
    def input_size(self):
        return self.n_in

    def forward(self, x, training=False, rng=None):
        z = (x @ self.params["W"] + self.params["b"]).reshape(len(x), self.n_out, self.pieces)
        self._x = x
        self._arg = z.argmax(axis=2)[..., None]
        return np.take_along_axis(z, self._arg, axis=2)[..., 0]

    def backward(self, dy, need_dx=True):
        dz = np.zeros((len(dy), self.n_out, self.pieces), dtype=dy.dtype)
        np.put_along_axis(dz, self._arg, dy[..., None], axis=2)
        dz = dz.reshape(len(dy), -1)
        if self.trainable:
            np.matmul(self._x.T, dz, out=self.grads["W"])
            np.sum(dz, axis=0, out=self.grads["b"])
        return dz @ self.params["W"].T if need_dx else None

    def output_size(self, n_in):
        if n_in != self.n_in:
            raise ValueError(f"layer sizes do not chain: Maxout expects {self.n_in} inputs but receives {n_in}")
        return self.n_out

    def config(self):
        extra = {} if self.bias_init is None else {"bias_init": self.bias_init}
        return {"n_in": self.n_in, "n_out": self.n_out, "pieces": self.pieces, "init": self.init, **extra}
