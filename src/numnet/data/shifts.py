"""Deterministic distribution shifts of 28×28 digit images (for data-mismatch experiments) and label noise on
purpose (labelled data sets read from files: numnet.data.labelled).

    shift_images(X, "thick")    strokes dilated by one pixel (max over the 3×3 neighbourhood)
    shift_images(X, "rotate")   every image rotated by `amount` degrees (default 20)
    shift_images(X, "invert")   inverted contrast: 1 − x
    shift_images(X, "thin")     strokes eroded by one pixel (min over the plus-shaped neighbourhood)

Nothing here draws random numbers except `flip_labels`, which is seeded.
"""
from __future__ import annotations

import numpy as np

from .augment import affine_images
from .labelled import load_labelled  # noqa: F401  (its former home)

SHIFTS = ("thick", "thin", "rotate", "invert")


def _neighbours(img, cross_only=False):
    """Views of the padded images shifted by each offset of the 3×3 (or plus-shaped) neighbourhood."""
    n, h, w = img.shape
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if not cross_only or dy == 0 or dx == 0]
    return [pad[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in offsets]


def shift_images(X, kind: str, amount=None, shape=(28, 28)) -> np.ndarray:
    """A shifted copy of the images X (n, h·w) in X's dtype; the same input always gives the same output."""
    if kind not in SHIFTS:
        raise ValueError(f"unknown shift {kind!r}; known: {', '.join(SHIFTS)}")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"images must have shape (n, {shape[0] * shape[1]}), got {X.shape}")
    if kind == "invert":
        return (1 - X).astype(X.dtype)
    if kind == "rotate":
        return affine_images(X, degrees=20.0 if amount is None else float(amount), shape=shape)
    img = X.reshape(-1, *shape)
    steps = 1 if amount is None else int(amount)
    for _ in range(steps):
        views = _neighbours(img, cross_only=kind == "thin")
        img = np.maximum.reduce(views) if kind == "thick" else np.minimum.reduce(views)
    return np.ascontiguousarray(img.reshape(X.shape), dtype=X.dtype)


def flip_labels(y, fraction, seed=None, classes=None):
    """(y_noisy, flipped): a copy of the class labels y with round(fraction·n) of them, chosen with
    default_rng(seed), replaced by a different class drawn uniformly; `flipped` holds their indices (sorted)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError("y must be a 1-D array of integer class labels")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    k = int(classes) if classes is not None else int(y.max(initial=0)) + 1
    if k < 2:
        raise ValueError("flipping labels needs at least two classes")
    rng = np.random.default_rng(seed)
    n_flip = int(round(fraction * len(y)))
    flipped = np.sort(rng.choice(len(y), size=n_flip, replace=False))
    noisy = y.astype(np.int64).copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, k, size=n_flip)) % k  # never the same class
    return noisy, flipped
