"""Deterministic distribution shifts of 28×28 digit images (for data-mismatch experiments), label noise on
purpose, and labelled data sets read from files.

    shift_images(X, "thick")    strokes dilated by one pixel (max over the 3×3 neighbourhood)
    shift_images(X, "rotate")   every image rotated by `amount` degrees (default 20)
    shift_images(X, "invert")   inverted contrast: 1 − x
    shift_images(X, "thin")     strokes eroded by one pixel (min over the plus-shaped neighbourhood)

Nothing here draws random numbers except `flip_labels`, which is seeded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .augment import affine_images

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


def load_labelled(path, dtype="float32", real=False):
    """(X, y) from a file: an .npz with arrays X and y (or images and labels), or "IMAGES,LABELS" naming two
    IDX files (optionally .gz); images are scaled to [0, 1] when stored as uint8."""
    from .idx import read_idx

    text = str(path)
    if "," in text:
        images, labels = (p.strip() for p in text.split(",", 1))
        X, y = read_idx(Path(images)), read_idx(Path(labels))
    else:
        p = Path(text)
        if not p.is_file():
            raise FileNotFoundError(f"data file not found: {p}")
        if p.suffix != ".npz":
            raise ValueError(f"{p}: give an .npz file with arrays X and y, or IMAGES.idx,LABELS.idx")
        try:
            with np.load(p, allow_pickle=False) as z:
                keys = set(z.files)
                xk = "X" if "X" in keys else "images" if "images" in keys else None
                yk = "y" if "y" in keys else "labels" if "labels" in keys else None
                if xk is None or yk is None:
                    raise ValueError(f"{p}: needs arrays X and y (or images and labels); found {sorted(keys)}")
                X, y = z[xk], z[yk]
        except (OSError, EOFError) as e:
            raise ValueError(f"{p}: not a readable .npz file ({e})") from None
    X, y = np.asarray(X), np.asarray(y)
    if real:  # regression targets: any finite reals, (n,) or (n, k)
        if y.ndim not in (1, 2) or len(y) != len(X) or y.dtype.kind not in "iuf" or not np.isfinite(y).all():
            raise ValueError(f"{text}: targets must be finite numbers, one row per example, got {y.dtype} {y.shape}")
        return X.reshape(len(X), -1).astype(dtype), y.astype(dtype)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"{text}: labels must be 1-D with one per image, got {y.shape} for {len(X)} images")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{text}: labels must be integers, got {y.dtype}")
    scale = 255.0 if X.dtype == np.uint8 else 1.0
    X = X.reshape(len(X), -1).astype(dtype) / np.asarray(scale, dtype=dtype)
    return X, y.astype(np.int64)
