"""Input checks: data as arrays of the network's dtype and shape on its device, targets as the output expects.

A mixin of `Network` (its data-checking job). Data is checked on the host (an array on a device is copied there
first) and placed on the network's device once per call."""
from __future__ import annotations

import math

import numpy as np

from ..utils.backend import to_host


class Inputs:
    """`prepare_inputs`, `prepare_targets` and `regression`."""

    def prepare_inputs(self, X, what="X"):
        """X as a C-contiguous array of the network's dtype, shape (n, *input_shape), finite, on the network's
        device; a single example (shape input_shape) becomes a batch of one, and flat rows (n, features) are
        reshaped for a network taking images (input_shape (1, 28, 28)); else a clear error."""
        X = to_host(X)
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"{what} must be a numeric array, got dtype {X.dtype}")
        if np.issubdtype(X.dtype, np.complexfloating):
            raise ValueError(f"{what} must be real, got dtype {X.dtype}")
        shape = self.input_shape
        if X.shape == shape:
            X = X.reshape((1, *shape))
        elif len(shape) > 1 and X.ndim in (1, 2) and X.shape[-1] == math.prod(shape):
            X = X.reshape((-1, *shape))
        if X.ndim != len(shape) + 1 or X.shape[1:] != shape:
            expected = ", ".join(str(d) for d in ("n", *shape))
            raise ValueError(f"{what} must have shape ({expected}), got {X.shape}")
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if not np.isfinite(X).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        return self._placed(X)

    @property
    def regression(self) -> bool:
        """True when targets may be any real numbers: a cost declaring `real_targets` (quadratic) on an output
        layer declaring `unbounded_output` (identity)."""
        return self.cost.real_targets and self.layers[-1].unbounded_output

    def prepare_targets(self, y, n, what="y"):
        """(Y, labels), both on the network's device: see `_targets`."""
        Y, labels = self._targets(to_host(y), n, what)
        return self._placed(Y), (None if labels is None else self._placed(labels))

    def _targets(self, y, n, what):
        """(Y, labels) on the host: targets shaped like the output (class indices (n,) become one-hot, or a 0/1 column for
        one unit) and the class labels where they exist (None for multi-label, soft or real-valued targets).
        A regression network (see `regression`) takes any finite real targets, (n, n_out) or (n,) for one output."""
        y = np.asarray(y)
        if y.dtype == object:
            raise ValueError(f"{what} must be a numeric array, got dtype object")
        if y.shape[0:1] != (n,):
            raise ValueError(f"{what} has {y.shape[0] if y.ndim else 0} entries but X has {n} examples")
        K = self.n_out
        regression = self.regression
        if regression and y.ndim == 1 and K == 1 and np.issubdtype(y.dtype, np.number):
            if not np.isfinite(y).all():
                raise ValueError(f"{what} contains NaN or infinite values")
            if not np.all((y == 0) | (y == 1)):  # real values: a column of targets (0/1 stay binary labels)
                return np.ascontiguousarray(y.reshape(-1, 1), dtype=self.dtype), None
        if y.ndim == 1:
            if np.issubdtype(y.dtype, np.floating):
                if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                    raise ValueError(f"{what} must hold integer class indices, got non-integer values")
            elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
                raise ValueError(f"{what} must hold integer class indices, got dtype {y.dtype}")
            classes = 2 if K == 1 else K
            if n and (y.min() < 0 or y.max() >= classes):
                raise ValueError(f"{what} has labels outside [0, {classes}): found {y.min()}..{y.max()}")
            labels = y.astype(np.int64)
            if K == 1:
                return labels.reshape(-1, 1).astype(self.dtype), labels
            Y = np.zeros((n, K), dtype=self.dtype)
            Y[np.arange(n), labels] = 1
            return Y, labels
        if y.ndim == 2 and y.shape[1] == K:
            if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
                raise ValueError(f"{what} must be numeric, got dtype {y.dtype}")
            Y = np.ascontiguousarray(y, dtype=self.dtype)
            missing = np.isnan(Y)
            if np.isinf(Y).any():
                raise ValueError(f"{what} contains NaN or infinite values (an infinite target)")
            if missing.any():
                if not self.cost.allows_missing:
                    raise ValueError(f"{what} contains NaN or infinite values: the {self.cost.name} cost cannot skip "
                                     f"missing (NaN) targets (cross_entropy with sigmoid outputs can)")
                if n and missing.all():
                    raise ValueError(f"{what}: every label is missing; nothing to learn from")
            if n and not regression and (np.nanmin(Y) < 0 or np.nanmax(Y) > 1):
                raise ValueError(f"{what} targets must lie in [0, 1] (one-hot, multi-label 0/1 or probabilities); "
                                 f"real-valued targets need an identity output and the quadratic cost")
            if missing.any():
                return Y, None
            one_hot = K > 1 and bool(np.all((Y == 0) | (Y == 1))) and bool(np.all(Y.sum(axis=1) == 1))
            return Y, (Y.argmax(axis=1) if one_hot else None)
        raise ValueError(f"{what} must be class indices of shape ({n},) or targets of shape ({n}, {K}), got {y.shape}")

