"""Likely label errors, confident-learning style.

With out-of-sample probabilities p (n, K) and given labels y, each class j gets a threshold t_j: the mean
probability of class j over the examples labelled j (how confident the model is on its own class).
An example is a *suspect* when its self-confidence p(y_i) is below t_(y_i) while some other class j reaches
its threshold (p_ij ≥ t_j): the off-diagonal of the confident joint. Examples are ranked by normalised
self-confidence p(y_i)/t_(y_i), lowest first (ranking the suspects first did worse on MNIST with 2% flipped
labels: 77% of the flips in the top 2% against 83%).

Probabilities must not come from a model trained on the same labels (it memorises the wrong ones): pass
`cross_fit=k` to train k fresh copies of the model, each on all folds but one, and predict the held-out fold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils.checks import is_int


@dataclass
class LabelIssues:
    """Examples ranked from most to least likely mislabelled."""

    order: np.ndarray        # indices, most suspicious first
    given: np.ndarray        # given label of each ranked example
    suggested: np.ndarray    # the model's most probable class for it
    self_confidence: np.ndarray  # p(given label)
    score: np.ndarray        # p(given)/t_given (lower: more suspicious)
    suspect: np.ndarray      # bool: in the confident joint's off-diagonal
    thresholds: np.ndarray   # t_j per class

    def top(self, k):
        return self.order[:k]

    @property
    def n_suspects(self) -> int:
        return int(self.suspect.sum())


def out_of_sample_proba(net, X, y, folds=2, epochs=5, batch_size=64, optimizer=None, seed=0, l2=0.0):
    """Probabilities for every example from a fresh copy of `net` (same architecture, new weights) trained on
    the other folds (k-fold cross-fitting). `optimizer`: a factory () -> Optimizer (default Adam(0.001))."""
    from ..model.transfer import reinitialize
    from ..train.optimizers import Adam

    if not is_int(folds) or folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds!r}")
    X = net.prepare_inputs(X)
    y = np.asarray(y)
    n = len(X)
    if n < folds:
        raise ValueError(f"{n} examples cannot be split into {folds} folds")
    fold_of = np.random.default_rng(seed).permutation(n) % folds
    proba = np.zeros((n, net.n_out), dtype=np.float64)
    for f in range(folds):
        held = fold_of == f
        model = reinitialize(net, None if seed is None else seed + 1 + f)
        model.freeze(0)
        model.fit(X[~held], y[~held], epochs=epochs, batch_size=batch_size,
                  optimizer=optimizer() if optimizer else Adam(0.001), l2=l2, seed=seed, verbose=0)
        proba[held] = model.predict_proba(X[held])
    return proba


def rank_label_issues(proba, y) -> LabelIssues:
    """Rank examples by how likely their given label y is wrong, from probabilities `proba` (n, K)."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    if proba.ndim != 2 or proba.shape[0] != len(y) or y.ndim != 1:
        raise ValueError(f"proba must have shape (n, K) with one row per label, got {proba.shape} for {y.shape}")
    n, K = proba.shape
    if K == 1:  # one sigmoid unit: two classes
        proba = np.hstack([1 - proba, proba])
        K = 2
    if y.dtype.kind not in "iu" or (n and (y.min() < 0 or y.max() >= K)):
        raise ValueError(f"labels must be integer classes in [0, {K})")
    thresholds = np.array([proba[y == j, j].mean() if np.any(y == j) else 1.0 for j in range(K)])
    self_conf = proba[np.arange(n), y]
    above = proba >= thresholds
    above[np.arange(n), y] = False
    suspect = (self_conf < thresholds[y]) & above.any(axis=1)
    score = self_conf / np.maximum(thresholds[y], 1e-12)
    order = np.argsort(score, kind="stable")
    return LabelIssues(order, y[order], proba[order].argmax(axis=1), self_conf[order], score[order], suspect[order],
                       thresholds)


def label_issues(net, X, y, cross_fit=0, **train) -> LabelIssues:
    """Rank (X, y)'s examples by how likely their label is wrong. cross_fit=0 uses `net`'s own probabilities
    (right when `net` never saw these labels, e.g. test data); cross_fit=k ≥ 2 trains k fresh copies of `net`
    on the other folds (see `out_of_sample_proba`, whose options `train` passes on)."""
    if cross_fit:
        proba = out_of_sample_proba(net, X, y, folds=cross_fit, **train)
    else:
        if train:
            raise ValueError(f"training options {', '.join(sorted(train))} need cross_fit >= 2")
        proba = net.predict_proba(X)
    return rank_label_issues(proba, y)


def write_label_issues(issues: LabelIssues, X, out_dir, top=50, name="data"):
    """label-issues.csv (every ranked example) and label-issues.png (a contact sheet of the top ones)."""
    import csv
    import io
    from pathlib import Path

    from ..utils.files import write_text_atomic
    from .errors import write_error_sheet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "index", "given", "suggested", "p_given", "score", "suspect"])
    for k, i in enumerate(issues.order):
        w.writerow([k + 1, int(i), int(issues.given[k]), int(issues.suggested[k]), f"{issues.self_confidence[k]:.5f}",
                    f"{issues.score[k]:.5f}", int(issues.suspect[k])])
    write_text_atomic(out / "label-issues.csv", buf.getvalue())
    paths = [out / "label-issues.csv"]
    X = np.asarray(X)
    if X.ndim == 2 and X.shape[1] == 784:
        class Sheet:
            index = issues.order[:top]
            labels = [f"#{i}: {g}→{s}? ({p:.2f})" for i, g, s, p in
                      zip(issues.order[:top], issues.given, issues.suggested, issues.self_confidence)]
        paths.append(write_error_sheet(Sheet, X, out / "label-issues.png",
                                       title=f"{name}: most likely label errors"))
    return paths
