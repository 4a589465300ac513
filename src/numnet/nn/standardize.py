"""Input standardization as the network's first layer: x̂ = (x − μ) / σ per feature, with μ and σ fitted on the
training data only and saved in the model file, so evaluate, predict and the book API apply them too."""
from __future__ import annotations

import numpy as np

from ..utils.backend import device_of, to_device, to_host
from ..utils.checks import positive_int
from .layers import Layer, register


@register
class Standardize(Layer):
    """out = (x − mean) / std per feature. `fit(X)` sets mean and std (buffers, not trained); a constant
    feature (std 0, e.g. an always-black pixel) gets std 1, so it maps to 0. Backward: dX = dY / std."""

    name = "standardize"

    def __init__(self, n, dtype="float32"):
        super().__init__()
        self.n = positive_int(n, "Standardize n")
        self.buffers["mean"] = np.zeros(self.n, dtype=dtype)
        self.buffers["std"] = np.ones(self.n, dtype=dtype)

    @classmethod
    def fitted(cls, X, dtype=None) -> "Standardize":
        """A Standardize layer fitted on X (n, features); dtype defaults to X's float type (else float32)."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"standardize needs X of shape (n, features), got {X.shape}")
        dtype = dtype or (X.dtype if X.dtype in (np.float32, np.float64) else np.float32)
        return cls(X.shape[1], dtype=dtype).fit(X)

    @property
    def input_shape(self):
        return (self.n,)

    def fit(self, X) -> "Standardize":
        """μ = mean of X's rows, σ = their standard deviation (1 where a feature is constant), in float64."""
        X = np.asarray(to_host(X), dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n:
            raise ValueError(f"standardize needs X of shape (n, {self.n}), got {X.shape}")
        if len(X) == 0:
            raise ValueError("cannot standardize on an empty data set")
        if not np.isfinite(X).all():
            raise ValueError("cannot standardize: X contains NaN or infinite values")
        std = X.std(axis=0)
        std[(std == 0) | (X.max(axis=0) == X.min(axis=0))] = 1.0
        for k, v in (("mean", X.mean(axis=0)), ("std", std)):  # onto the buffers' device (a GPU network's)
            self.buffers[k] = to_device(v.astype(self.buffers[k].dtype), device_of(self.buffers[k]))
        return self

    def forward(self, v, x, training=False, rng=None):
        return (x - v["mean"]) / v["std"], None

    def backward(self, v, cache, dy, need_dx=True):
        return dy / v["std"], {}

    def check_state(self):
        std = np.asarray(self.buffers["std"])
        if not (std > 0).all():
            raise ValueError("standardize std must be positive (a zero or negative std divides by zero)")

    def config(self):
        return {"n": self.n}
