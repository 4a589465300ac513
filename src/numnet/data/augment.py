"""MNIST augmentation: the book's one-pixel shifts and random rotations/translations (bilinear, zero fill)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..utils.checks import is_int


def _check_images(X, shape, name: str = "X") -> tuple[int, int]:
    """Validate X as a 2-D float batch of flattened `shape` images; return (height, width)."""
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(is_int(s) and s >= 1 for s in shape)
    ):
        raise ValueError(f"shape must be (height, width) of positive ints, got {shape!r}")
    if not isinstance(X, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(X).__name__}")
    if X.ndim != 2 or X.shape[1] != shape[0] * shape[1]:
        raise ValueError(
            f"{name} must have shape (n, {shape[0] * shape[1]}) for {shape[0]}x{shape[1]} "
            f"images, got {X.shape}"
        )
    if X.dtype.kind != "f":
        raise ValueError(f"{name} must hold floats, got dtype {X.dtype}")
    return int(shape[0]), int(shape[1])


def expand_shifts(X, y, shape=(28, 28)):
    """The book's expanded training set: the originals, then every image shifted one pixel
    up, down, left and right (zero fill); returns (X (5n, d), y (5n,))."""
    h, w = _check_images(X, shape)
    y = np.asarray(y)
    if y.ndim < 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} examples but y has shape {y.shape}")
    n = X.shape[0]
    images = X.reshape(n, h, w)
    out = np.zeros((5, n, h, w), dtype=X.dtype)
    out[0] = images
    out[1, :, :-1, :] = images[:, 1:, :]  # up
    out[2, :, 1:, :] = images[:, :-1, :]  # down
    out[3, :, :, :-1] = images[:, :, 1:]  # left
    out[4, :, :, 1:] = images[:, :, :-1]  # right
    return out.reshape(5 * n, h * w), np.tile(y, (5,) + (1,) * (y.ndim - 1))


# Images per chunk in affine_images: keeps the ~15 temporaries (chunk*h*w each) in cache.
_AFFINE_CHUNK = 1024


def _per_image(value, n: int, name: str) -> np.ndarray:
    """Broadcast a scalar or (n,) parameter to a finite float64 (n,) array."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != n):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return np.broadcast_to(array, (n,))


def _check_out(out, X) -> np.ndarray:
    """A new array like X if out is None, else `out` once checked to fit X exactly."""
    if out is None:
        return np.empty_like(X, order="C")
    if not (
        isinstance(out, np.ndarray)
        and out.shape == X.shape
        and out.dtype == X.dtype
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        raise ValueError(f"out must be a writable C-contiguous {X.dtype} array of shape {X.shape}")
    return out


def affine_images(X, degrees=0.0, dx=0.0, dy=0.0, shape=(28, 28), out=None):
    """Rotate each image by `degrees` (counter-clockwise as displayed) about its centre, then
    translate by (dx, dy) pixels (+x right, +y down); bilinear interpolation, zero fill.

    degrees, dx, dy are scalars or (n,) arrays. Each output pixel p samples the input at
    R(-angle) (p - c - d) + c, gathered from the flattened batch with integer indices.
    Long: the inverse map, the bilinear weights and the border handling are one vectorized computation."""
    h, w = _check_images(X, shape)
    n = X.shape[0]
    out = _check_out(out, X)
    angle = np.deg2rad(_per_image(degrees, n, "degrees"))
    dx, dy = _per_image(dx, n, "dx"), _per_image(dy, n, "dy")
    work = np.result_type(X.dtype, np.float32)  # float32 unless X is float64
    hp, wp = h + 3, w + 3  # padded image: 1 zero row/column before, 2 after
    cy, cx = (h - 1) / 2, (w - 1) / 2
    # With y pointing down, a counter-clockwise (on screen) rotation by a maps an offset
    # (u, v) from the centre to (u cos a + v sin a, -u sin a + v cos a); sampling uses the
    # inverse: src = (u cos a - v sin a, u sin a + v cos a) with (u, v) = p - c - d.
    cos, sin = np.cos(angle), np.sin(angle)
    xs, ys = np.arange(w) - cx, np.arange(h) - cy
    # src_x = cos*(x-cx) - sin*(y-cy) + (cx - cos*dx + sin*dy); +1 for the padding. Split
    # into an (n, w) term in x and an (n, h) term in y so the full-size work is one add.
    px_x = (cos[:, None] * xs).astype(work)
    px_y = (-sin[:, None] * ys + (cx + 1 - cos * dx + sin * dy)[:, None]).astype(work)
    py_x = (sin[:, None] * xs).astype(work)
    py_y = (cos[:, None] * ys + (cy + 1 - sin * dx - cos * dy)[:, None]).astype(work)
    flat_out = out.reshape(n, h, w)
    # Flat indices are computed in `work` floats, exact while below 2**24 in float32.
    chunk = _AFFINE_CHUNK if work == np.float64 else max(1, min(_AFFINE_CHUNK, 2**24 // (hp * wp)))
    exact = work == np.float64 or chunk * hp * wp <= 2**24
    for start in range(0, n, chunk):  # loop over batches of images, not over images
        stop = min(start + chunk, n)
        m = stop - start
        padded = np.zeros((m, hp, wp), dtype=work)
        padded[:, 1:h + 1, 1:w + 1] = X[start:stop].reshape(m, h, w)
        flat = padded.reshape(-1)
        sx = px_x[start:stop, None, :] + px_y[start:stop, :, None]  # (m, h, w)
        sy = py_x[start:stop, None, :] + py_y[start:stop, :, None]
        # Clip into the padded frame: a source outside the image then lands on zero padding
        # with weight 1 (and its neighbour gets weight 0), which is the zero fill.
        np.clip(sx, 0, w + 1, out=sx)
        np.clip(sy, 0, h + 1, out=sy)
        x0, y0 = np.floor(sx), np.floor(sy)
        sx -= x0  # fractional parts: the bilinear weights
        sy -= y0
        if not exact:  # a single image too large for exact float32 indices
            y0, x0 = y0.astype(np.float64), x0.astype(np.float64)
        y0 *= wp
        y0 += x0
        y0 += (np.arange(m, dtype=y0.dtype) * (hp * wp))[:, None, None]
        index = y0.astype(np.intp)
        # Gather the 4 neighbours; offsets via shifted views instead of index arithmetic.
        v00 = np.take(flat, index, mode="clip")
        v01 = np.take(flat[1:], index, mode="clip")
        v10 = np.take(flat[wp:], index, mode="clip")
        v11 = np.take(flat[wp + 1:], index, mode="clip")
        v01 -= v00  # top = v00 + fx (v01 - v00)
        v01 *= sx
        v01 += v00
        v11 -= v10  # bottom = v10 + fx (v11 - v10)
        v11 *= sx
        v11 += v10
        v11 -= v01  # result = top + fy (bottom - top)
        v11 *= sy
        np.add(v11, v01, out=flat_out[start:stop], casting="same_kind")
    return out


def random_affine(X, rng, max_shift=2.0, max_degrees=10.0, shape=(28, 28), out=None):
    """Randomly rotate (uniform in [-max_degrees, max_degrees]) and translate (dx, dy uniform
    in [-max_shift, max_shift] pixels) every image of X (n, h*w); a fresh augmentation per epoch.

    Vectorized over the batch (see affine_images). Measured: 50,000 MNIST float32 images in
    about 0.6 s on one core (chunks of 1024 images; 0.65-0.75 s with 512 or 2048).
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for name, value in (("max_shift", max_shift), ("max_degrees", max_degrees)):
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    _check_images(X, shape)
    n = X.shape[0]
    if max_shift == 0 and max_degrees == 0:
        out = _check_out(out, X)
        np.copyto(out, X)
        return out
    degrees = rng.uniform(-max_degrees, max_degrees, n)
    dx = rng.uniform(-max_shift, max_shift, n)
    dy = rng.uniform(-max_shift, max_shift, n)
    return affine_images(X, degrees, dx, dy, shape=shape, out=out)
