"""Maxout units (Goodfellow et al. 2013): each output is the max of `pieces` affine functions of the input,

    f_j(x) = max_k (x W_k + b_k)_j,   W of shape (n_in, n_out·pieces), column j·pieces + k is piece k of unit j.

A Maxout layer takes the place of Dense + activation (it learns its own piecewise-linear activation).
"""
from __future__ import annotations


from ..utils.backend import array_module
from ..utils.checks import int_at_least, positive_int
from .layers import Dense, register


@register
class Maxout(Dense):
    """Z = X W + b reshaped (…, n, n_out, pieces); out = max over pieces.  Backward routes dY to the winning
    piece: dZ = dY at the argmax, 0 elsewhere; then Dense's dW = Xᵀ dZ, db = Σ_rows dZ, dX = dZ Wᵀ."""

    name = "maxout"
    hidden_unit = True  # Network.from_sizes(activation="maxout") builds it in place of Dense + activation

    def __init__(self, n_in, n_out, pieces=2, init="default", bias_init=None, seed=None, rng=None, dtype="float32"):
        self.pieces = int_at_least(pieces, "Maxout pieces", 2)
        super().__init__(n_in, positive_int(n_out, "Maxout n_out") * self.pieces, init=init, bias=True,
                         bias_init=bias_init, seed=seed, rng=rng, dtype=dtype)
        self.n_out = int(n_out)  # the affine part is n_out·pieces wide; the layer's output is n_out

    def forward(self, v, x, training=False, rng=None):
        z, _ = super().forward(v, x, training, rng)
        z = z.reshape(z.shape[:-1] + (self.n_out, self.pieces))
        arg = z.argmax(axis=-1)[..., None]
        return array_module(z).take_along_axis(z, arg, axis=-1)[..., 0], (x, arg)

    def backward(self, v, cache, dy, need_dx=True):
        """dY at the winning piece, 0 elsewhere (a select, not a scatter: CuPy has no put_along_axis)."""
        x, arg = cache
        xp = array_module(dy)
        dz = xp.where(xp.arange(self.pieces) == arg, dy[..., None], xp.zeros((), dtype=dy.dtype))
        return super().backward(v, x, dz.reshape(dy.shape[:-1] + (-1,)), need_dx)

    def config(self):
        extra = {} if self.bias_init is None else {"bias_init": self.bias_init}
        return {"n_in": self.n_in, "n_out": self.n_out, "pieces": self.pieces, "init": self.init, **extra}
