"""Weight initializers, by name. W has shape (n_in, n_out); biases have shape (n_out,).

| name      | W                           | b        | source                                   |
|-----------|-----------------------------|----------|------------------------------------------|
| "large"   | N(0, 1)                     | N(0, 1)  | Nielsen ch.1 (network.py)                |
| "default" | N(0, 1/n_in)                | N(0, 1)  | Nielsen ch.3 (network2.py), a.k.a. 1/√n_in |
| "xavier"  | N(0, 2/(n_in + n_out))      | 0        | Glorot & Bengio (tanh, sigmoid)          |
| "he"      | N(0, 2/n_in)                | 0        | He et al. (ReLU family)                  |

An initializer is a function (n_in, n_out, rng, dtype) -> (W, b) that draws W first, then b, from `rng`;
`@INITIALIZERS.register` adds one.
"""
from __future__ import annotations

import numpy as np

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


def initialize(name, n_in: int, n_out: int, rng: np.random.Generator, dtype="float32"):
    """Draw (W, b) for a Dense layer with the named scheme."""
    return INITIALIZERS.get(str(name))(n_in, n_out, rng, dtype)
