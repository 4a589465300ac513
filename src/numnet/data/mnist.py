"""The bundled MNIST digits: read from the package's IDX files, checked against SHA256SUMS, split into
training, validation and test sets. X has shape (n, 784) with pixel/255 values; y holds int64 labels."""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from ..utils.checks import float_dtype, is_int
from .idx import read_idx

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def mnist_dir() -> Path:
    """The folder holding the bundled MNIST files (package data)."""
    return Path(__file__).resolve().parent / "bundled" / "mnist"


def _read_sha256sums(directory: Path) -> dict[str, str]:
    """Parse `sha256sum` output ("<hex>  <name>" per line) into {name: hex}."""
    sums_path = directory / "SHA256SUMS"
    if not sums_path.is_file():
        raise FileNotFoundError(f"MNIST checksum list not found: {sums_path}")
    sums = {}
    for lineno, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{sums_path}: line {lineno} is not '<sha256>  <file name>'")
        sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _find_mnist_file(directory: Path, stem: str) -> Path:
    """The gzip-compressed file if present, else the raw one."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MNIST file not found: {directory / (stem + '.gz')}")


@functools.lru_cache(maxsize=2)
def _load_mnist_from(directory: str) -> dict[str, np.ndarray]:
    """Read, checksum and validate the four MNIST files in `directory` (cached, read-only)."""
    directory = Path(directory)
    sums = _read_sha256sums(directory)
    arrays = {}
    for key, stem in _MNIST_FILES.items():
        if stem not in sums:
            raise ValueError(f"{directory / 'SHA256SUMS'}: no checksum listed for {stem}")
        path = _find_mnist_file(directory, stem)
        array = read_idx(path, expected_sha256=sums[stem])
        if array.dtype != np.uint8:
            raise ValueError(f"{path}: expected uint8 data, got {array.dtype}")
        array.setflags(write=False)  # shared by every caller: never hand this out directly
        arrays[key] = array
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        images_path = directory / f"{_MNIST_FILES[split + '_images']}"
        labels_path = directory / f"{_MNIST_FILES[split + '_labels']}"
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"{images_path}: expected images of shape (n, 28, 28), got {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"{labels_path}: labels shape {labels.shape} does not match "
                f"{images.shape[0]} images in {images_path.name}"
            )
        if labels.size and labels.max() > 9:
            raise ValueError(f"{labels_path}: labels must be digits 0..9, found {labels.max()}")
    return arrays


def load_mnist_raw(directory=None):
    """The raw MNIST arrays (fresh copies): train_images (60000, 28, 28) uint8, train_labels
    (60000,) uint8, test_images (10000, 28, 28) uint8, test_labels (10000,) uint8."""
    arrays = _load_mnist_from(str(Path(directory or mnist_dir()).resolve()))
    return tuple(arrays[key].copy() for key in _MNIST_FILES)


def load_mnist(validation_size: int = 10000, dtype="float32", directory=None):
    """MNIST as ((X_train, y_train), (X_val, y_val), (X_test, y_test)).

    X has shape (n, 784), pixel/255 in `dtype`; y is int64. The validation set is the
    last `validation_size` images of the training file (50,000 / 10,000 / 10,000 by default).
    Files are checked against SHA256SUMS; `directory` overrides the bundled folder.
    """
    dt = float_dtype(dtype)
    train_images, train_labels, test_images, test_labels = (
        _load_mnist_from(str(Path(directory or mnist_dir()).resolve()))[key] for key in _MNIST_FILES
    )
    n = train_images.shape[0]
    if not is_int(validation_size) or not 0 <= validation_size < n:
        raise ValueError(f"validation_size must be an int in [0, {n}), got {validation_size!r}")
    k = n - int(validation_size)

    def features(images):
        # astype copies: a fresh array the caller owns (the cached uint8 stays untouched).
        x = images.reshape(images.shape[0], math.prod(images.shape[1:])).astype(dt)
        x /= 255
        return x

    return (
        (features(train_images[:k]), train_labels[:k].astype(np.int64)),
        (features(train_images[k:]), train_labels[k:].astype(np.int64)),
        (features(test_images), test_labels.astype(np.int64)),
    )
