"""Your own digit images in and out of MNIST form: load a photo or scan of a handwritten digit
as a (784,) vector normalised the way MNIST was (bright ink on black, fitted in a 20x20 box,
centred by mass in 28x28), and turn such vectors back into PNG images."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..utils.checks import float_dtype, is_int
from ..utils.files import write_bytes_atomic

__all__ = ["load_digit", "load_digits", "digit_to_image", "ImageTooLarge"]

_SIZE = 28  # canvas side
_BOX = 20  # the digit's larger side after fitting (as in MNIST)
_BLANK_CONTRAST = 0.05  # ink must stand out from the background by 5% of full scale
_INK_THRESHOLD = 0.05  # pixels above this (after stretching to [0, 1]) count for the bounding box
#: largest image decoded (pixels, from the file's header; a JPEG is first reduced while decoding)
MAX_IMAGE_PIXELS = 64_000_000
#: images with a longer side than this are shrunk right after decoding (the digit ends up 20 px anyway)
_WORKING_SIDE = 2048


class _TooLarge(Exception):
    pass


class ImageTooLarge(ValueError):
    """The image has more pixels than allowed (refused from its header, before decoding)."""


def _open_gray(path, name=None, max_pixels=None) -> np.ndarray:
    """Read any image Pillow can open as grayscale float64 in [0, 1] (alpha composited on white).
    `path`: a file path or a binary file object; `max_pixels`: refuse larger images before decoding them."""
    name = path if name is None else name
    if isinstance(path, Path):
        if not path.exists():
            raise FileNotFoundError(f"image file not found: {path}")
        if path.is_dir():
            raise ValueError(f"{path}: is a directory, not an image")
    try:
        with warnings.catch_warnings():
            # numnet checks the size itself (below), before decoding, with its own message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if max_pixels is not None and w * h > max_pixels:
                    raise ImageTooLarge(f"{name}: {w}x{h} pixels is more than the {max_pixels / 1e6:g} megapixels "
                                        f"allowed")
                if w * h > MAX_IMAGE_PIXELS and img.format == "JPEG":
                    img.draft("L", (w // 8, h // 8))  # decode at 1/2, 1/4 or 1/8 scale
                    w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise _TooLarge(f"{name}: image is {w}x{h} pixels, more than numnet decodes "
                                    f"({MAX_IMAGE_PIXELS // 10**6} megapixels); crop or shrink it first")
                img.load()
                if max(img.size) > _WORKING_SIDE:
                    img.thumbnail((_WORKING_SIDE, _WORKING_SIDE), Image.Resampling.BOX)
                img = ImageOps.exif_transpose(img)  # phone photos: honour the orientation tag
    except _TooLarge as exc:
        raise ImageTooLarge(str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, ImageTooLarge):
            raise
        if isinstance(exc, Image.DecompressionBombError):
            raise ImageTooLarge(f"{name}: too many pixels ({exc})") from None
        raise ValueError(f"{name}: not a readable image ({exc})") from None
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit or float grayscale
        gray = np.asarray(img, dtype=np.float64)
        return np.clip(gray / (65535.0 if gray.max() > 255 else 255.0), 0.0, 1.0)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def _border(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of the outer ring (about 5% of the smaller side, at least 1 px) and the rest."""
    h, w = gray.shape
    b = max(1, min(h, w) // 20)
    if h <= 2 * b or w <= 2 * b:  # too small to have an inside: everything is border
        return gray.ravel(), gray.ravel()
    inner = gray[b:h - b, b:w - b]
    ring = np.concatenate([gray[:b].ravel(), gray[h - b:].ravel(), gray[b:h - b, :b].ravel(),
                           gray[b:h - b, w - b:].ravel()])
    return ring, inner.ravel()


def _normalise(gray: np.ndarray, invert, name) -> np.ndarray:
    """MNIST-style 28x28 digit from a grayscale image in [0, 1]; see load_digit."""
    ring, inner = _border(gray)
    if invert == "auto":
        invert = ring.mean() > inner.mean()  # dark ink on light paper: the border is brighter
    if invert:
        gray, ring = 1.0 - gray, 1.0 - ring
    # Background level: the median of the border (robust to ink touching it) or of the whole
    # image (robust to a tight crop), whichever is darker after the polarity fix.
    background = min(np.median(ring), np.median(gray))
    if gray.max() - background < _BLANK_CONTRAST:
        raise ValueError(f"{name}: the image is blank (no ink stands out from the background)")
    # Paper texture / sensor noise: drop 3 sigma of the border's spread (robust MAD estimate),
    # at most a quarter of the ink contrast. Zero for clean images such as MNIST.
    sigma = 1.4826 * np.median(np.abs(ring - np.median(ring)))
    floor = background + min(3.0 * sigma, 0.25 * (gray.max() - background))
    ink = np.clip(gray - floor, 0.0, None)
    # Stretch so the ink reaches 1: the 99th percentile of the inked pixels rather than the
    # maximum, so a few noisy bright pixels do not leave the strokes grey.
    ink = np.clip(ink / np.percentile(ink[ink > 0], 99), 0.0, 1.0)
    rows = np.flatnonzero((ink > _INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > _INK_THRESHOLD).any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    # Fit the larger side to 20 px, keeping the aspect ratio (LANCZOS on the float image).
    h, w = ink.shape
    scale = _BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    fitted = Image.fromarray(ink.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(fitted, dtype=np.float64), 0.0, 1.0)
    # Centre of mass -> canvas centre (14, 14), with integer offsets keeping the digit inside.
    mass = digit.sum()
    if mass <= 0:
        raise ValueError(f"{name}: the image is blank (no ink left after resizing)")
    h, w = digit.shape
    com_r = (digit.sum(axis=1) @ np.arange(h)) / mass
    com_c = (digit.sum(axis=0) @ np.arange(w)) / mass
    top = int(np.clip(round(_SIZE / 2 - com_r), 0, _SIZE - h))
    left = int(np.clip(round(_SIZE / 2 - com_c), 0, _SIZE - w))
    canvas = np.zeros((_SIZE, _SIZE))
    canvas[top:top + h, left:left + w] = digit
    return canvas


def load_digit(path, invert="auto", dtype="float32", max_pixels=None) -> np.ndarray:
    """Load a photo/scan of one digit as an MNIST-style (784,) vector in [0, 1].

    `path`: a file path, the image file's bytes, or a binary file object. `max_pixels`: refuse (ImageTooLarge)
    an image with more pixels, from its header, before decoding it.

    Grayscale, polarity fixed to bright ink on black (invert="auto" inverts when the border
    is brighter than the inside), contrast stretched, cropped to the ink, fitted in a 20x20
    box and placed in 28x28 with its centre of mass at (14, 14), as MNIST digits are.
    """
    if not (isinstance(invert, (bool, np.bool_)) or (isinstance(invert, str) and invert == "auto")):
        raise ValueError(f"invert must be 'auto', True or False, got {invert!r}")
    dt = float_dtype(dtype)
    if isinstance(path, (bytes, bytearray, memoryview)):
        source, name = io.BytesIO(path), "image"
    elif hasattr(path, "read"):
        source, name = path, getattr(path, "name", "image")
    else:
        source = name = Path(os.fspath(path))
    return _normalise(_open_gray(source, name, max_pixels), invert, name).reshape(_SIZE * _SIZE).astype(dt)


def load_digits(paths, invert="auto", dtype="float32") -> np.ndarray:
    """Load several digit images (see load_digit) as an (n, 784) batch, one row per file."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ValueError("no image paths given")
    dt = float_dtype(dtype)
    batch = np.empty((len(paths), _SIZE * _SIZE), dtype=dt)
    for i, path in enumerate(paths):  # one file at a time: decoding is per file anyway
        batch[i] = load_digit(path, invert=invert, dtype=dt)
    return batch


def digit_to_image(x, path=None, scale: int = 1) -> Image.Image:
    """A (784,) or (28, 28) vector in [0, 1] as a grayscale PIL image (white digit on black),
    upscaled `scale` times (nearest neighbour); saved atomically as PNG when `path` is given."""
    x = np.asarray(x)
    if x.size != _SIZE * _SIZE or x.ndim not in (1, 2) or (x.ndim == 2 and x.shape != (_SIZE, _SIZE)):
        raise ValueError(f"digit must have shape (784,) or (28, 28), got {x.shape}")
    if x.dtype.kind not in "fiub":
        raise ValueError(f"digit must be numeric, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError("digit contains NaN or infinite values")
    if not is_int(scale) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    pixels = np.round(np.clip(x.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    img = Image.fromarray(pixels.reshape(_SIZE, _SIZE))
    if scale > 1:
        img = img.resize((_SIZE * scale, _SIZE * scale), Image.Resampling.NEAREST)
    if path is not None:
        buffer = io.BytesIO()
        img.save(buffer, format="PNG")
        write_bytes_atomic(path, buffer.getvalue())
    return img
