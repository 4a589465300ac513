"""Binary attributes of MNIST digits for multi-task learning, and labels hidden on purpose.

Each attribute is a yes/no task: the network has one sigmoid output per attribute and the cross-entropy
cost, which skips missing (NaN) labels: J = (1/m) Σ_i Σ_(j labelled) L(ŷ_ij, y_ij).
"""
from __future__ import annotations

import numpy as np

ATTRIBUTES = ("even", "at_least_5", "closed_loop", "prime")
_DIGITS = {
    "even": {0, 2, 4, 6, 8},
    "at_least_5": {5, 6, 7, 8, 9},
    "closed_loop": {0, 6, 8, 9},  # a closed loop as usually written (4 is written open as often as closed)
    "prime": {2, 3, 5, 7},
}


def digit_attributes(y, attributes=ATTRIBUTES, dtype="float32") -> np.ndarray:
    """(n, len(attributes)) 0/1 targets for digit labels y."""
    y = np.asarray(y)
    unknown = [a for a in attributes if a not in _DIGITS]
    if unknown:
        raise ValueError(f"unknown attribute(s) {', '.join(unknown)}; known: {', '.join(ATTRIBUTES)}")
    return np.stack([np.isin(y, sorted(_DIGITS[a])) for a in attributes], axis=1).astype(dtype)


def hide_labels(Y, fraction, seed=None) -> np.ndarray:
    """A copy of the targets Y with each entry independently replaced by NaN (missing) with probability
    `fraction`, drawn with default_rng(seed)."""
    Y = np.array(Y, dtype=np.result_type(np.asarray(Y).dtype, np.float32))
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    Y[np.random.default_rng(seed).random(Y.shape) < fraction] = np.nan
    return Y
