"""Labelled data sets read from files (`--data` of evaluate, errors and label-issues): an .npz with arrays X
and y (or images and labels), or "IMAGES,LABELS" naming two IDX files (optionally .gz).

The files are not numnet's own, so reading is bounded: shapes and dtypes come from the headers (the .npy
headers inside the .npz, the IDX header) and a data set whose converted images would exceed MAX_DATA_BYTES
is refused before anything is decompressed or allocated. Only integer, float and boolean arrays are
accepted (complex, datetime, string, structured and object arrays are refused, never cast); every problem
is one ValueError naming the file."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..utils.archive import read_npz
from ..utils.checks import float_dtype
from .idx import read_idx

#: largest data set read from a file: the images as the compute dtype (MNIST's 70,000 in float32: 220 MB)
MAX_DATA_BYTES = 2**30

_NAMES = (("X", "y"), ("images", "labels"))


def _from_npz(p: Path, itemsize: int):
    """(X, y) of an .npz, checked from its headers before either array is read."""
    arrays = read_npz(p, "data file", max_bytes=MAX_DATA_BYTES)
    keys = next(((xk, yk) for xk, yk in _NAMES if xk in arrays and yk in arrays), None)
    if keys is None:
        raise ValueError(f"data file {p}: needs arrays X and y (or images and labels); found "
                         f"{', '.join(sorted(arrays)) or 'none'}")
    for key in keys:
        if not arrays.shape(key):
            raise ValueError(f"data file {p}: array {key!r} is a single number (0-d); give one row per example")
    _check_size(p, arrays.shape(keys[0]), itemsize)
    return arrays[keys[0]], arrays[keys[1]]


def _from_idx(images: str, labels: str, itemsize: int):
    limit = MAX_DATA_BYTES // itemsize
    X, y = read_idx(Path(images), max_elements=limit), read_idx(Path(labels), max_elements=limit)
    for path, a in ((images, X), (labels, y)):
        if a.ndim == 0:
            raise ValueError(f"data file {path}: an IDX file of rank 0 (one number); give one row per example")
    return X, y


def _check_size(p, shape, itemsize) -> None:
    need = math.prod(shape) * itemsize
    if need > MAX_DATA_BYTES:
        raise ValueError(f"data file {p}: images of shape {tuple(shape)} would take {need / 2**20:.0f} MB, more than "
                         f"the {MAX_DATA_BYTES / 2**20:.0f} MB numnet reads from a data file: refusing to read it")


def load_labelled(path, dtype="float32", real=False):
    """(X, y) from a file: an .npz with arrays X and y (or images and labels), or "IMAGES,LABELS" naming two
    IDX files (optionally .gz); images are scaled to [0, 1] when stored as uint8. `real`: regression targets
    (any finite reals) instead of integer class labels."""
    dt = float_dtype(dtype)
    text = str(path)
    if "," in text:
        X, y = _from_idx(*(s.strip() for s in text.split(",", 1)), dt.itemsize)
    else:
        p = Path(text)
        if p.suffix != ".npz":
            from ..utils.files import regular_file

            regular_file(p, "data file")
            raise ValueError(f"data file {p}: give an .npz file with arrays X and y, or IMAGES.idx,LABELS.idx")
        X, y = _from_npz(p, dt.itemsize)
    if len(y) != len(X):
        raise ValueError(f"{text}: {len(X)} examples but {len(y)} labels")
    if X.dtype.kind == "b":
        X = X.astype(np.uint8)
    if real:  # regression targets: any finite reals, (n,) or (n, k)
        if y.ndim not in (1, 2) or y.dtype.kind not in "iuf" or not np.isfinite(y).all():
            raise ValueError(f"{text}: targets must be finite numbers, one row per example, got {y.dtype} {y.shape}")
        return _images(X, dt, text, scale=False), y.astype(dt)
    if y.ndim != 1:
        raise ValueError(f"{text}: labels must be 1-D with one per image, got {y.shape} for {len(X)} images")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{text}: labels must be integers, got {y.dtype}")
    if len(y) and y.min() < 0:
        raise ValueError(f"{text}: labels must be class indices >= 0, found {y.min()}")
    return _images(X, dt, text, scale=True), y.astype(np.int64)


def _images(X, dt, text, scale) -> np.ndarray:
    """X as (n, features) of dtype `dt` (uint8 scaled to [0, 1] when `scale`), converted in place, finite."""
    if len(X) and X.size // len(X) == 0:
        raise ValueError(f"{text}: the examples have no features (shape {X.shape})")
    out = X.reshape(len(X), -1).astype(dt)
    if scale and X.dtype == np.uint8:
        out /= dt.type(255.0)
    if X.dtype.kind == "f" and not np.isfinite(out).all():
        raise ValueError(f"{text}: the images contain NaN or infinite values (or values too large for {dt.name})")
    return out
