"""Weight initializers, by name. W has shape (n_in, n_out); biases have shape (n_out,).

| name      | W                           | b        | source                                   |
|-----------|-----------------------------|----------|------------------------------------------|
| "large"   | N(0, 1)                     | N(0, 1)  | Nielsen ch.1 (network.py)                |
| "default" | N(0, 1/n_in)                | N(0, 1)  | Nielsen ch.3 (network2.py), a.k.a. 1/√n_in |
| "xavier"  | N(0, 2/(n_in + n_out))      | 0        | Glorot & Bengio (tanh, sigmoid)          |
| "he"      | N(0, 2/n_in)                | 0        | He et al. (ReLU family)                  |
| "normal"  | N(0, std²), std = 0.01      | 0        | Saito ch.4-5 (`weight_init_std`)         |
| "zeros"   | 0                           | 0        | the notes' warning: symmetry never breaks |

An initializer is a function (n_in, n_out, rng, dtype, **options) -> (W, b) that draws W first, then b, from
`rng`; `@INITIALIZERS.register` adds one. A layer's `init` is a name or a dict {"name": ..., **options}
(`{"name": "normal", "std": 0.1}`); its `bias_init` (a number) replaces the initializer's biases by a constant.
"""
from __future__ import annotations

import numpy as np

from ..utils.checks import number
from ..utils.registry import Registry

INITIALIZERS = Registry("initializer")


def gaussian(std: float, W, n_out: int, rng, dtype, normal_bias: bool):
    """Scale standard-normal W by std; b ~ N(0, 1) (the book's) or zeros."""
    W = (W * std).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if normal_bias else np.zeros(n_out, dtype=dtype)
    return W, b


@INITIALIZERS.register(name="large")
def large(n_in, n_out, rng, dtype="float32"):
    return gaussian(1.0, rng.standard_normal((n_in, n_out)), n_out, rng, dtype, True)


@INITIALIZERS.register(name="default")
def default(n_in, n_out, rng, dtype="float32"):
    return gaussian(np.sqrt(1.0 / n_in), rng.standard_normal((n_in, n_out)), n_out, rng, dtype, True)


@INITIALIZERS.register(name="xavier")
def xavier(n_in, n_out, rng, dtype="float32"):
    return gaussian(np.sqrt(2.0 / (n_in + n_out)), rng.standard_normal((n_in, n_out)), n_out, rng, dtype, False)


@INITIALIZERS.register(name="he")
def he(n_in, n_out, rng, dtype="float32"):
    return gaussian(np.sqrt(2.0 / n_in), rng.standard_normal((n_in, n_out)), n_out, rng, dtype, False)


@INITIALIZERS.register(name="normal")
def normal(n_in, n_out, rng, dtype="float32", std=0.01):
    """Saito's weight_init_std: W ~ N(0, std²), b = 0."""
    std = number(std, "normal initializer std", 0.0, low_open=True)
    return gaussian(std, rng.standard_normal((n_in, n_out)), n_out, rng, dtype, False)


@INITIALIZERS.register(name="zeros")
def zeros(n_in, n_out, rng, dtype="float32"):
    """W = 0, b = 0: every hidden unit computes the same thing and gets the same gradient, so they stay
    equal for ever (the symmetry the notes warn about; draws nothing from rng)."""
    return np.zeros((n_in, n_out), dtype=dtype), np.zeros(n_out, dtype=dtype)


_FIXED = ("n_in", "n_out", "rng", "dtype")


def initialize(init, n_in: int, n_out: int, rng: np.random.Generator, dtype="float32", bias_init=None):
    """Draw (W, b) with the scheme `init` (a name, or a dict {"name": ..., **options}); a number `bias_init`
    sets every bias to that constant (b = c) after the draw."""
    if isinstance(init, dict):
        options = dict(init)
        name = options.pop("name", None)
        if name is None:
            raise ValueError(f"an initializer given as a dict needs a 'name', got {init!r}")
        unknown = sorted(set(options) - (set(INITIALIZERS.params(name)) - set(_FIXED)))
        if unknown:
            allowed = [p for p in INITIALIZERS.params(name) if p not in _FIXED]
            raise ValueError(f"unknown parameter(s) for initializer {INITIALIZERS.resolve(name)!r}: "
                             f"{', '.join(unknown)} (allowed: {', '.join(allowed) or 'none'})")
    else:
        name, options = str(init), {}
    W, b = INITIALIZERS.get(name)(n_in, n_out, rng, dtype, **options)
    if bias_init is not None:
        b[...] = number(bias_init, "bias_init")
    return W, b
