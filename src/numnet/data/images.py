"""Your own digit images in and out of MNIST form: load a photo or scan of a handwritten digit
as a (784,) vector normalised the way MNIST was (bright ink on black, fitted in a 20x20 box,
centred by mass in 28x28), and turn such vectors back into PNG images."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from ..utils.checks import float_dtype, is_int
from ..utils.files import regular_file, write_bytes_atomic

__all__ = ["load_digit", "load_digits", "digit_to_image", "ImageTooLarge"]

_SIZE = 28  # canvas side
_BOX = 20  # the digit's larger side after fitting (as in MNIST)
_BLANK_CONTRAST = 0.05  # ink must stand out from the background by 5% of full scale
_INK_THRESHOLD = 0.05  # pixels above this fraction of the ink contrast count for the bounding box
_BOX_TRIM = 0.002  # the box ignores this fraction of the ink mass at each end (stray specks)
_DENOISE_ABOVE = 1.5 / 255  # background noise (sigma) above which a median filter runs first
#: largest image decoded (pixels, from the file's header; a JPEG is first reduced while decoding)
MAX_IMAGE_PIXELS = 64_000_000
#: images with a longer side than this are shrunk right after decoding (the digit ends up 20 px anyway)
_WORKING_SIDE = 1024
#: most elongated image accepted (longer side / shorter side): a 3x20000 strip would shrink to one row
MAX_ASPECT = 20
#: the raster formats numnet decodes; never EPS/PS (Ghostscript), PDF, or scientific containers
#: (JPEG covers multi-picture MPO files; formats this Pillow lacks are left out when opening)
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "TGA")


class _TooLarge(Exception):
    pass


class _Refused(Exception):
    pass


class ImageTooLarge(ValueError):
    """The image has more pixels than allowed (refused from its header, before decoding)."""


def _formats() -> list[str]:
    Image.init()
    return [f for f in FORMATS if f in Image.OPEN]


def _open_gray(path, name=None, max_pixels=None) -> np.ndarray:
    """Read any image Pillow can open as grayscale float32 in [0, 1] (alpha composited on white), its longer
    side shrunk to at most _WORKING_SIDE px before the conversion to float.
    `path`: a file path or a binary file object; `max_pixels`: refuse larger images before decoding them."""
    name = path if name is None else name
    if isinstance(path, Path):
        regular_file(path, "image file")
    try:
        with warnings.catch_warnings():
            # numnet checks the size itself (below), before decoding, with its own message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=_formats()) as img:
                w, h = img.size
                if max_pixels is not None and w * h > max_pixels:
                    raise ImageTooLarge(f"{name}: {w}x{h} pixels is more than the {max_pixels / 1e6:g} megapixels "
                                        f"allowed")
                if max(w, h) > MAX_ASPECT * min(w, h):
                    raise _Refused(f"{name}: a {w}x{h} image is too elongated for one digit (more than "
                                   f"{MAX_ASPECT}:1); crop it around the digit")
                if img.format == "JPEG" and img.mode in ("L", "RGB", "YCbCr"):
                    # decode big JPEGs at 1/2, 1/4 or 1/8 scale: no smaller than the working size,
                    # or as small as can be when the file has more pixels than numnet decodes
                    shrink = 8.0 if w * h > MAX_IMAGE_PIXELS else max(1.0, max(w, h) / _WORKING_SIDE)
                    img.draft("L", (int(w / shrink), int(h / shrink)))
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
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not a readable image (numnet reads {', '.join(FORMATS[:-3])}, "
                         f"{', '.join(FORMATS[-3:])})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, ImageTooLarge):
            raise
        if isinstance(exc, Image.DecompressionBombError):
            raise ImageTooLarge(f"{name}: too many pixels ({exc})") from None
        raise ValueError(f"{name}: not a readable image ({exc})") from None
    return _to_unit(img, name)


def _to_unit(img: Image.Image, name) -> np.ndarray:
    """The decoded image as grayscale float32 in [0, 1]. 8-bit images are divided by 255; 16-bit, 32-bit
    integer and float images by the smallest of 1 (floats only), 255 and 65535 that covers their values,
    or stretched over their own range when they fall outside all of those (negative values, say)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if not (img.mode == "F" or img.mode.startswith("I")):
        return np.asarray(img.convert("L"), dtype=np.float32) / np.float32(255.0)
    gray = np.asarray(img, dtype=np.float32)
    if not np.all(np.isfinite(gray)):
        raise ValueError(f"{name}: the image contains NaN or infinite values")
    lo, hi = float(gray.min()), float(gray.max())
    scales = (1.0, 255.0, 65535.0) if img.mode == "F" else (255.0, 65535.0)
    top = next((s for s in scales if hi <= s), None)
    if lo < 0 or top is None:
        lo, top = (lo, hi) if hi > lo else (lo, lo + 1.0)
        return (gray - np.float32(lo)) / np.float32(top - lo)
    return gray / np.float32(top)


def _downscaled(gray: np.ndarray, side: int) -> np.ndarray:
    """A copy with its longer side at most `side` px (box averaging)."""
    h, w = gray.shape
    if max(h, w) <= side:
        return gray
    size = (max(1, round(w * side / max(h, w))), max(1, round(h * side / max(h, w))))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


def _lighting(gray: np.ndarray) -> np.ndarray:
    """The paper's uneven lighting: a quadratic surface in (x, y) fitted by least squares on a copy of at most
    64 px a side, refitted without the pixels that stand out from it (the ink, of either polarity)."""
    small = _downscaled(gray, 64).astype(np.float64)
    h, w = small.shape

    def terms(rows, cols):
        y, x = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, cols), indexing="ij")
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)

    A, v = terms(h, w), small.ravel()
    r = v - np.median(v)  # start from flat paper: its median
    for _ in range(4):
        keep = np.abs(r) <= max(3.0 * 1.4826 * np.median(np.abs(r)), 2 / 255)
        coef = np.linalg.lstsq(A[keep], v[keep], rcond=None)[0]
        r = v - A @ coef
    H, W = gray.shape
    y, x = np.linspace(-1, 1, H)[:, None], np.linspace(-1, 1, W)[None, :]
    c = coef.astype(np.float32)
    return c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y


def _noise(ink: np.ndarray) -> float:
    """Robust spread (MAD, as a Gaussian sigma) of the background of a lighting-corrected image, from at
    most ~100,000 pixels (a strided subsample: averaging would hide the noise)."""
    step = max(1, int(np.sqrt(ink.size / 100_000)))
    sample = ink[::step, ::step].ravel()
    return float(1.4826 * np.median(np.abs(sample - np.median(sample))))


def _otsu(values: np.ndarray, top: float) -> float:
    """Otsu's threshold of `values` in [0, top]: the level that best splits them into two classes
    (largest between-class variance over a 256-bin histogram)."""
    counts, edges = np.histogram(values, bins=256, range=(0.0, top))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)[:-1].astype(np.float64)
    m0 = np.cumsum(counts * centres)[:-1]
    w1, m1 = w0[-1] + counts[-1] - w0, m0[-1] + counts[-1] * centres[-1] - m0
    between = w0 * w1 * (m0 / np.maximum(w0, 1) - m1 / np.maximum(w1, 1)) ** 2
    return float(edges[1 + np.argmax(between)])


def _span(core: np.ndarray, faint: np.ndarray, trim: float) -> tuple[int, int]:
    """First and last index of the ink along one axis, given the clearly inked mass per row (`core`) and
    whether each row holds faint ink (`faint`): the span holding all but `trim` of the core mass at each
    end, so far-off specks do not count, widened over the faint ink next to it (anti-aliased edges) by at
    most a tenth of its length plus one."""
    cum = np.cumsum(core)
    lo = int(np.searchsorted(cum, trim * cum[-1], side="right"))
    hi = min(int(np.searchsorted(cum, (1.0 - trim) * cum[-1], side="left")), len(core) - 1)
    reach = (hi - lo) // 10 + 1
    for _ in range(reach):
        lo -= lo > 0 and faint[lo - 1] > 0
    for _ in range(reach):
        hi += hi < len(faint) - 1 and faint[hi + 1] > 0
    return lo, hi


def _long_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """The pixels of `mask` that lie in a horizontal run of at least `length` True pixels in their row."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)                      # +1 where a run starts, -1 just after it ends
    rows, starts = np.nonzero(step == 1)
    ends = np.nonzero(step == -1)[1]                    # same order: row by row, left to right
    keep = ends - starts >= length
    out = np.zeros(h * w + 1, dtype=np.int32)           # a +1/-1 difference per run, then a running sum
    np.add.at(out, rows[keep] * w + starts[keep], 1)
    np.add.at(out, rows[keep] * w + ends[keep], -1)
    return np.cumsum(out[:-1]).reshape(h, w) > 0


def _without_ruled_lines(ink: np.ndarray, sigma: float) -> np.ndarray:
    """Lined paper: the ruled lines are ink-like marks running across most of the width (a run of at least
    60% of it, at the faint-ink level, widened a pixel up and down for their soft edges). They are removed
    only when there are at least two such lines apart, as on ruled paper: one long horizontal mark may be the
    digit's own stroke (the bar of a tightly cropped 2 or 7)."""
    h, w = ink.shape
    lines = _long_runs(ink > max(4.0 * sigma, _INK_THRESHOLD * float(ink.max())), max(8, int(0.6 * w)))
    rows = lines.any(axis=1)
    bands = int(np.count_nonzero(np.diff(rows.astype(np.int8)) == 1) + rows[0])
    if bands < 2:
        return ink
    lines[1:] |= lines[:-1].copy()
    lines[:-1] |= lines[1:].copy()
    out = ink.copy()
    out[lines] = 0.0
    return out


def _normalise(gray: np.ndarray, invert, name) -> np.ndarray:
    """MNIST-style 28x28 digit from a grayscale image in [0, 1]; see load_digit."""
    ink = gray - _lighting(gray)  # background at 0 everywhere, however the paper was lit
    if invert == "auto":  # the ink is the heavier tail beyond the noise: dark ink on light paper is negative
        edge = 4.0 * _noise(ink) + 1 / 255
        invert = -ink[ink < -edge].sum() > ink[ink > edge].sum()
    if invert:
        ink = -ink
    sigma = _noise(ink)
    if sigma > _DENOISE_ABOVE:  # grain or sensor noise: a 3x3 median removes specks, keeps strokes
        ink = np.asarray(Image.fromarray(ink).filter(ImageFilter.MedianFilter(3)))
        sigma = _noise(ink)
    ink = _without_ruled_lines(ink, sigma)
    contrast = float(ink.max())
    if contrast < max(_BLANK_CONTRAST, 6.0 * sigma):
        raise ValueError(f"{name}: the image is blank (no ink stands out from the background)")
    # The box: the clearly inked pixels (above Otsu's threshold) without the first and last 0.2% of their
    # mass along each axis (stray specks), widened over the fainter ink next to them (above 5% of the
    # contrast and 4 sigma of the noise): the anti-aliased edges MNIST digits keep.
    core = np.where(ink > max(_otsu(ink, contrast), 4.0 * sigma), ink, 0.0)
    faint = ink > max(_INK_THRESHOLD * contrast, 4.0 * sigma)
    top, bottom = _span(core.sum(axis=1), faint.any(axis=1), _BOX_TRIM)
    left, right = _span(core.sum(axis=0), faint.any(axis=0), _BOX_TRIM)
    ink = ink[top:bottom + 1, left:right + 1]
    # Paper texture / noise: drop 3 sigma (at most a quarter of the contrast), then stretch so the ink
    # reaches 1 (its 99th percentile, so a few bright pixels do not leave the strokes grey).
    ink = np.clip(ink - min(3.0 * sigma, 0.25 * contrast), 0.0, None)
    ink = np.clip(ink / np.percentile(ink[ink > 0], 99), 0.0, 1.0)
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

    Grayscale, uneven lighting removed (a smooth surface fitted to the paper), polarity fixed to bright
    ink on black (invert="auto" inverts when the ink standing out of the noise is darker than the paper),
    noise median-filtered, contrast stretched, cropped to the ink (ignoring stray specks), fitted in a
    20x20 box and placed in 28x28 with its centre of mass at (14, 14), as MNIST digits are.
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
