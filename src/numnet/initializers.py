"""Weight initializers, by name. W has shape (n_in, n_out); biases have shape (n_out,).

| name      | W                           | b        | source                                   |
|-----------|-----------------------------|----------|------------------------------------------|
| "large"   | N(0, 1)                     | N(0, 1)  | Nielsen ch.1 (network.py)                |
| "default" | N(0, 1/n_in)                | N(0, 1)  | Nielsen ch.3 (network2.py), a.k.a. 1/√n_in |
| "xavier"  | N(0, 2/(n_in + n_out))      | 0        | Glorot & Bengio (tanh, sigmoid)          |
| "he"      | N(0, 2/n_in)                | 0        | He et al. (ReLU family)                  |
"""
from __future__ import annotations

import numpy as np

INITIALIZERS = ("large", "default", "xavier", "he")


def initialize(name, n_in: int, n_out: int, rng: np.random.Generator, dtype="float32"):
    """Draw (W, b) for a Dense layer with the named scheme; draws W first, then b, from `rng`."""
    key = str(name).lower()
    if key not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; known: {', '.join(INITIALIZERS)}")
    std = {"large": 1.0, "default": np.sqrt(1.0 / n_in), "xavier": np.sqrt(2.0 / (n_in + n_out)),
           "he": np.sqrt(2.0 / n_in)}[key]
    W = (rng.standard_normal((n_in, n_out)) * std).astype(dtype)
    if key in ("large", "default"):
        b = rng.standard_normal(n_out).astype(dtype)
    else:
        b = np.zeros(n_out, dtype=dtype)
    return W, b
