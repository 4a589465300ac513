"""Error analysis and diagnosis (Ng's course): confusion matrix, the worst mistakes, bias/variance.

    avoidable bias = training error − Bayes (human-level) error
    variance       = dev error − training error
    data mismatch  = dev error − training-dev error   (when a training-dev set exists)
"""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, classes=None) -> np.ndarray:
    """C[i, j] = number of examples of true class i predicted as class j."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of the same length, got {y_true.shape} and {y_pred.shape}")
    if not (np.issubdtype(y_true.dtype, np.integer) and np.issubdtype(y_pred.dtype, np.integer)):
        raise ValueError("confusion_matrix needs integer class indices")
    if classes is None:
        classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= classes):
        raise ValueError(f"labels must lie in [0, {classes})")
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def format_confusion(C) -> str:
    """The confusion matrix as a text table: rows are true classes, columns predictions."""
    C = np.asarray(C)
    k = len(C)
    width = max(5, len(str(C.max())) + 1)
    head = "true\\pred" + "".join(f"{j:>{width}}" for j in range(k)) + f"{'recall':>9}"
    lines = [head]
    for i in range(k):
        total = C[i].sum()
        recall = f"{100 * C[i, i] / total:8.2f}%" if total else "       -"
        lines.append(f"{i:>9}" + "".join(f"{v:>{width}}" for v in C[i]) + recall)
    return "\n".join(lines)


def worst_mistakes(net, X, y, k=10):
    """The k misclassified examples the network was most confident about:
    a list of (index, true label, predicted label, probability of the prediction)."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    proba = net.predict_proba(X)
    y = np.asarray(y)
    if proba.shape[1] == 1:  # one sigmoid output: class 1 when p > 0.5, as Network.predict decides
        p1 = proba[:, 0]
        pred = (p1 > 0.5).astype(np.int64)
        conf = np.where(pred == 1, p1, 1 - p1)
    else:
        pred = proba.argmax(axis=1)
        conf = proba[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != y)
    order = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
    return [(int(i), int(y[i]), int(pred[i]), float(conf[i])) for i in order]


def diagnose(train_error, dev_error, bayes_error=0.0, train_dev_error=None, tolerance=0.01) -> dict:
    """Bias/variance diagnosis from error rates (fractions). Returns the gaps and a list of advice strings."""
    rates = [("train_error", train_error), ("dev_error", dev_error), ("bayes_error", bayes_error)]
    if train_dev_error is not None:
        rates.append(("train_dev_error", train_dev_error))
    for name, v in rates:
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1):
            raise ValueError(f"{name} must be a fraction in [0, 1], got {v!r}")
    bias = train_error - bayes_error
    if train_dev_error is not None:
        variance, mismatch = train_dev_error - train_error, dev_error - train_dev_error
    else:
        variance, mismatch = dev_error - train_error, None
    def high(gap):  # a gap of exactly `tolerance` is not high, whatever the float rounding (0.16 - 0.15 > 0.01)
        return gap - tolerance > 1e-9

    advice = []
    if high(bias):
        advice.append("high avoidable bias: train a bigger network, train longer, or use a better optimizer")
    if high(variance):
        advice.append("high variance: get more data, add regularisation (L2, dropout, augmentation)")
    if mismatch is not None and high(mismatch):
        advice.append("data mismatch: make the training data more like the dev/test data")
    if not advice:
        advice.append("errors are close to the Bayes error: little to gain from bias or variance fixes")
    return {"avoidable_bias": bias, "variance": variance, "data_mismatch": mismatch, "advice": advice}


def class_report(C) -> list[dict]:
    """Per class, from the confusion matrix C (rows true, columns predicted): precision = C[k,k] / column sum,
    recall = C[k,k] / row sum, F1 = 2PR / (P + R), support = row sum; None where undefined (0/0)."""
    C = np.asarray(C)
    out = []
    for k in range(len(C)):
        tp, predicted, support = int(C[k, k]), int(C[:, k].sum()), int(C[k].sum())
        p = tp / predicted if predicted else None
        r = tp / support if support else None
        f1 = (2 * p * r / (p + r) if p + r else 0.0) if p is not None and r is not None else None
        out.append({"class": k, "precision": p, "recall": r, "f1": f1, "support": support})
    return out


def format_class_report(rows: list[dict]) -> str:
    from ..utils.tables import format_table

    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    f1s = [r["f1"] for r in rows if r["f1"] is not None]
    body = [[r["class"], pct(r["precision"]), pct(r["recall"]), pct(r["f1"]), r["support"]] for r in rows]
    body.append(["macro", pct(np.mean([r["precision"] for r in rows if r["precision"] is not None])),
                 pct(np.mean([r["recall"] for r in rows if r["recall"] is not None])),
                 pct(np.mean(f1s) if f1s else None), sum(r["support"] for r in rows)])
    return format_table(body, ["class", "precision", "recall", "F1", "support"], markdown=False)
