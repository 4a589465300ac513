"""The course's evaluation metrics (Ng, structuring ML projects): one single-number metric to rank models by
(precision, recall, their harmonic mean F1, a weighted error), and satisficing against optimizing metrics
(maximise one subject to thresholds on the others, e.g. prediction time ≤ 100 ms).

`ValidationMetric` measures one of them on a validation set after every epoch, so that
`EarlyStopping(monitor=ValidationMetric("f1", X_val, y_val))` stops on it; `satisficing` picks the best of
several measured candidates.
"""
from __future__ import annotations

import numpy as np

__all__ = ["precision_recall_f1", "weighted_error", "ValidationMetric", "satisficing", "METRIC_MODES"]

#: metric name -> "max" (higher is better) or "min"
METRIC_MODES = {"accuracy": "max", "precision": "max", "recall": "max", "f1": "max", "weighted_error": "min"}


def _labels(y_true, y_pred):
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or t.shape != p.shape or not len(t):
        raise ValueError(f"y_true and y_pred must be non-empty 1-D arrays of one length, got shapes {t.shape}, {p.shape}")
    return t, p


def precision_recall_f1(y_true, y_pred, positive=None) -> dict:
    """Precision, recall and F1 = 2PR/(P + R). With `positive` (a class): that class against the rest (the
    course's cat classifier); without: the mean over the classes present in y_true (macro average).
    A class never predicted has precision 0, as it has no true positive."""
    t, p = _labels(y_true, y_pred)
    classes = [positive] if positive is not None else np.unique(t)
    rows = []
    for c in classes:
        tp = float(np.sum((p == c) & (t == c)))
        prec = tp / max(float(np.sum(p == c)), 1.0)
        rec = tp / max(float(np.sum(t == c)), 1.0)
        rows.append((prec, rec, 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)))
    prec, rec, f1 = (float(np.mean(col)) for col in zip(*rows))
    return {"precision": prec, "recall": rec, "f1": f1}


def weighted_error(y_true, y_pred, weights) -> float:
    """Σ w_i·[ŷ_i ≠ y_i] / Σ w_i: mistakes on some examples count more (the course: weight 10 for the images
    that must never pass). `weights` holds one weight per example, or a dict {class: weight} (others 1)."""
    t, p = _labels(y_true, y_pred)
    if isinstance(weights, dict):
        w = np.array([float(weights.get(int(c), 1.0)) for c in t])
    else:
        w = np.asarray(weights, dtype=float)
    if w.shape != t.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be one finite weight >= 0 per example (or a dict class -> weight), "
                         "not all zero")
    return float(np.sum(w * (t != p)) / w.sum())


class ValidationMetric:
    """A single-number metric measured on (X, y) with a network's predictions; `mode` says which way is better.

    name: accuracy, precision, recall, f1 (macro, or of `positive`) or weighted_error (needs `weights`).
    Called with a network it returns the value; EarlyStopping accepts one as its `monitor`."""

    def __init__(self, name, X, y, positive=None, weights=None):
        if name not in METRIC_MODES:
            raise ValueError(f"unknown metric {name!r}; metrics: {', '.join(METRIC_MODES)}")
        if name == "weighted_error" and weights is None:
            raise ValueError("the weighted error needs weights")
        self.name, self.mode = name, METRIC_MODES[name]
        self.X, self.y = X, np.asarray(y)
        self.positive, self.weights = positive, weights

    def __call__(self, net) -> float:
        pred = np.asarray(net.predict(self.X))
        if self.name == "accuracy":
            return float(np.mean(pred == self.y))
        if self.name == "weighted_error":
            return weighted_error(self.y, pred, self.weights)
        return precision_recall_f1(self.y, pred, self.positive)[self.name]

    def __repr__(self):
        return f"ValidationMetric({self.name!r})"


def satisficing(candidates, optimize, maximize=True, **limits):
    """The best candidate by the optimizing metric among those meeting every satisficing limit.

    candidates: dicts of measured values; limits: name=upper bound (e.g. predict_ms=5.0, size_kb=200).
    Returns (best or None, the list of candidates that met the limits)."""
    for name in limits:
        if any(name not in c for c in candidates):
            raise ValueError(f"every candidate needs a measured {name!r} for the limit on it")
    ok = [c for c in candidates if all(c[k] <= v for k, v in limits.items())]
    if not ok:
        return None, []
    pick = max if maximize else min
    return pick(ok, key=lambda c: c[optimize]), ok
