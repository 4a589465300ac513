"""The IDX file format (MNIST's): a magic number naming the element type and rank, big-endian sizes, then
the values; gzip-compressed files are detected by their magic bytes."""
from __future__ import annotations

import gzip
import hashlib
import io
import math
import zlib
from pathlib import Path

import numpy as np

from ..utils.files import regular_file, write_bytes_atomic

#: IDX type byte -> big-endian NumPy dtype of the stored values.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: native dtype -> IDX type byte (the inverse of _IDX_TYPES).
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"


#: largest IDX content read (decompressed bytes); MNIST's training images are 47 MB
MAX_IDX_BYTES = 2 * 2**30


def _read_idx_bytes(path: Path, max_bytes: int = MAX_IDX_BYTES, max_elements: int | None = None) -> bytes:
    """The (decompressed) content of an IDX file, gzip detected by its magic bytes. The header is read
    first and the data only up to the size it declares, so a gzip bomb is never decompressed in full; a header
    declaring more than `max_bytes` (or `max_elements` values) is refused before any data is read."""
    regular_file(path, "IDX file")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            head = f.read(4)
            rank = head[3] if len(head) == 4 else 0
            head += f.read(4 * rank)
            if len(head) < 4 + 4 * rank or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                return head  # _parse_idx names the problem
            shape = tuple(int(d) for d in np.frombuffer(head, dtype=">u4", count=rank, offset=4))
            expected = math.prod(shape) * _IDX_TYPES[head[2]].itemsize
            if expected > max_bytes:
                raise ValueError(f"{path}: IDX header declares shape {shape} ({expected} bytes), more than "
                                 f"the limit of {max_bytes} bytes: refusing to read it")
            if max_elements is not None and math.prod(shape) > max_elements:
                raise ValueError(f"{path}: IDX header declares shape {shape} ({math.prod(shape)} values), more "
                                 f"than the limit of {max_elements} values: refusing to read it")
            return head + _read_upto(f, expected + 1)  # one byte more than declared reveals extra data
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{path}: corrupt gzip stream ({exc})") from None


def _read_upto(f, n: int, chunk: int = 2**24) -> bytes:
    """At most `n` bytes of `f`, read in chunks: a header declaring gigabytes over a few bytes of data costs
    only what is there (a single read(n) would allocate n bytes first)."""
    parts, left = [], n
    while left > 0:
        part = f.read(min(chunk, left))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _parse_idx(data: bytes, name) -> np.ndarray:
    """Decode IDX bytes: 2 zero bytes, type byte, rank byte, rank big-endian uint32 dims, data."""
    if len(data) < 4:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} bytes, need at least 4)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{name}: bad IDX magic number (first two bytes are {data[0]:#04x} {data[1]:#04x}, "
            "expected 0x00 0x00)"
        )
    code, rank = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(
            f"{name}: unknown IDX type code {code:#04x} "
            f"(expected one of {', '.join(f'{c:#04x}' for c in _IDX_TYPES)})"
        )
    header = 4 + 4 * rank
    if len(data) < header:
        raise ValueError(
            f"{name}: truncated IDX header (rank {rank} needs {header} header bytes, "
            f"file has {len(data)})"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=rank, offset=4))
    dtype = _IDX_TYPES[code]
    count = math.prod(shape)
    expected = count * dtype.itemsize
    actual = len(data) - header
    if actual < expected:
        raise ValueError(
            f"{name}: truncated IDX data (shape {shape} of {dtype.newbyteorder('=').name} "
            f"needs {expected} bytes, found {actual})"
        )
    if actual > expected:
        raise ValueError(
            f"{name}: size mismatch, {actual - expected} extra bytes after the IDX data "
            f"(shape {shape} needs {expected} bytes, found {actual})"
        )
    values = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    # astype copies: the result is native-endian, writable and independent of `data`.
    return values.astype(dtype.newbyteorder("=")).reshape(shape)


def read_idx(path, expected_sha256: str | None = None, max_elements: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian array of its shape.

    If `expected_sha256` is given, the SHA-256 of the decompressed bytes must match it. `max_elements`: refuse,
    from the header, a file declaring more values (what the caller will convert must fit its memory bound).
    """
    path = Path(path)
    data = _read_idx_bytes(path, MAX_IDX_BYTES, max_elements)
    if expected_sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != str(expected_sha256).strip().lower():
            raise ValueError(
                f"{path}: SHA-256 mismatch (expected {expected_sha256}, got {digest}); "
                "the file is corrupt or not the expected one"
            )
    return _parse_idx(data, path)


def write_idx(path, array) -> None:
    """Write `array` as an IDX file (gzip-compressed when `path` ends with .gz), atomically."""
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.byteorder not in "|=" else array.dtype
    code = _IDX_CODES.get(native)
    if code is None:
        raise ValueError(
            f"{path}: dtype {array.dtype} cannot be stored in IDX "
            "(supported: uint8, int8, int16, int32, float32, float64)"
        )
    if array.ndim > 255:
        raise ValueError(f"{path}: IDX supports at most 255 dimensions, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"{path}: IDX dimensions must be < 2**32, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=_IDX_TYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:  # mtime=0: reproducible
            gz.write(data)
        data = buffer.getvalue()
    write_bytes_atomic(path, data)
