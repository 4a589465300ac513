"""The one file format numnet writes for models and checkpoints: an NPZ archive of named arrays plus
`__meta__`, a UTF-8 JSON document stored as uint8 bytes. Never pickle: arrays are read with
allow_pickle=False and the JSON names parts only through registries.

Reading is bounded: every member's name, dtype and shape come from the zip directory and the .npy header
before anything is decompressed, so an archive declaring a huge (or unexpected) array is refused without
allocating it; arrays are read only when asked for (`Archive`), so a member nobody asks for is never read.
"""
from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from .backend import to_host
from .files import atomic_write, regular_file
from .jsonio import MAX_JSON_BYTES, parse_json

META = "__meta__"
#: largest total size of the arrays one archive may declare (bytes)
MAX_ARCHIVE_BYTES = 2**30
#: most members one archive may hold
MAX_MEMBERS = 10000
#: largest uncompressed / compressed ratio of a member (numnet writes uncompressed members)
MAX_RATIO = 1000
#: most layers a model (or a checkpoint's model) may describe: 200,000 identity layers in 4.5 MB of JSON
#: would otherwise take seconds per command to build and run
MAX_LAYERS = 1000
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")


def write_archive(path, meta: dict, arrays: dict) -> Path:
    """Write `arrays` and `meta` (JSON) to `path` atomically; arrays on a device (GPU) are copied to the host."""
    path = Path(path)
    arrays = {k: to_host(v) for k, v in arrays.items()}
    encoded = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path, "wb") as f:
        np.savez(f, **{META: encoded}, **arrays)
    return path


class Member:
    """One array of an archive as its headers declare it: name, dtype, shape (nothing read yet)."""

    def __init__(self, info: zipfile.ZipInfo, name: str, dtype: np.dtype, shape: tuple, fortran: bool, offset: int):
        self.info, self.name, self.dtype, self.shape, self.fortran, self.offset = info, name, dtype, shape, fortran, offset

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


class Archive(Mapping):
    """The arrays of an NPZ file, by name, checked from their headers when opened and read on access.

    `shape(name)` and `dtype(name)` answer from the headers without reading the data."""

    def __init__(self, path, what="file", max_bytes=MAX_ARCHIVE_BYTES):
        self.path, self.what = Path(path), what
        self.members: dict[str, Member] = _scan(self.path, what, max_bytes)
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name):
        if name not in self._cache:
            self._cache[name] = _read_member(self.path, self.members[name], self.what)
        return self._cache[name]

    def __iter__(self):
        return iter(self.members)

    def __len__(self):
        return len(self.members)

    def __contains__(self, name):  # Mapping's default would read the member
        return name in self.members

    def shape(self, name) -> tuple:
        return self.members[name].shape

    def dtype(self, name) -> np.dtype:
        return self.members[name].dtype

    def pop(self, name, *default):
        if name not in self.members:
            if default:
                return default[0]
            raise KeyError(name)
        value = self[name]
        del self.members[name]
        self._cache.pop(name, None)
        return value


class Prefixed(Mapping):
    """The members of an archive whose names start with `prefix`, by the rest of their names (lazy too)."""

    def __init__(self, archive: Archive, prefix: str):
        self.archive, self.prefix = archive, prefix

    def __getitem__(self, name):
        return self.archive[self.prefix + name]

    def __iter__(self):
        return (k[len(self.prefix):] for k in self.archive if k.startswith(self.prefix))

    def __len__(self):
        return sum(1 for _ in self)

    def __contains__(self, name):
        return self.prefix + name in self.archive

    def shape(self, name) -> tuple:
        return self.archive.shape(self.prefix + name)

    def dtype(self, name) -> np.dtype:
        return self.archive.dtype(self.prefix + name)


def declared_shape(arrays, name) -> tuple:
    """The shape of `arrays[name]`, from the headers when `arrays` is an archive (nothing read)."""
    if isinstance(arrays, (Archive, Prefixed)):
        return arrays.shape(name)
    return np.shape(arrays[name])


def _check_file(path: Path, what: str) -> None:
    regular_file(path, what)  # before is_zipfile opens it: a FIFO would block, /dev/zero never end
    if not zipfile.is_zipfile(path):  # np.load would otherwise suggest unpickling it
        raise ValueError(f"{what} {path} is not a numnet archive (not an NPZ file: corrupt, truncated or another format)")


def _scan(path: Path, what: str, max_bytes: int) -> dict[str, Member]:
    """Every member's declared dtype and shape, checked against the limits before any data is read."""
    _check_file(path, what)
    members: dict[str, Member] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ValueError(f"{what} {path} has {len(infos)} members (limit {MAX_MEMBERS}): not a numnet archive")
            for info in infos:
                if not info.filename.endswith(".npy") or not _NAME.fullmatch(info.filename[:-4]):
                    raise ValueError(f"{what} {path} holds an unexpected member {info.filename[:80]!r}: "
                                     "not a numnet archive")
                name = info.filename[:-4]
                if name in members:
                    raise ValueError(f"{what} {path} holds member {name!r} twice")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise ValueError(f"{what} {path}: member {name!r} uses an unsupported compression")
                if info.file_size > max_bytes + 2**16 or \
                        info.file_size > MAX_RATIO * max(info.compress_size, 2**16):
                    raise ValueError(f"{what} {path}: member {name!r} declares {info.file_size} bytes from "
                                     f"{info.compress_size} stored (limit {max_bytes} bytes, ratio {MAX_RATIO}): "
                                     "refusing to decompress it")
                with zf.open(info) as f:
                    version = npy_format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = npy_format.read_array_header_1_0(f)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = npy_format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                    offset = f.tell()
                if dtype.hasobject or dtype.kind not in "biuf" or dtype.subdtype is not None:
                    raise ValueError(f"{what} {path}: member {name!r} has dtype {_dtype_name(dtype)}; numnet reads "
                                     "only integer, floating-point and boolean arrays (never objects)")
                member = Member(info, name, dtype, tuple(int(d) for d in shape), fortran, offset)
                if any(d < 0 for d in member.shape) or member.nbytes + offset != info.file_size:
                    raise ValueError(f"{what} {path}: member {name!r} declares shape {member.shape} of {dtype} "
                                     f"({member.nbytes} bytes) but holds {info.file_size - offset}: corrupt")
                total += member.nbytes
                if total > max_bytes:
                    raise ValueError(f"{what} {path} declares more than {max_bytes} bytes of arrays "
                                     f"(member {name!r}: shape {member.shape} of {dtype}): refusing to read it")
                members[name] = member
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as e:
        raise ValueError(f"{what} {path} is not a valid numnet archive (corrupt or truncated): {e}") from None
    except ValueError as e:
        if str(e).startswith(f"{what} {path}"):
            raise
        raise ValueError(f"{what} {path} could not be read: {e}") from None
    return members


def _dtype_name(dtype: np.dtype) -> str:
    """A dtype in a message: its name, or 'structured'/'object' (a structured dtype's repr can be huge)."""
    if dtype.names is not None or dtype.subdtype is not None:
        return "structured (record)"
    return "object" if dtype.hasobject else str(dtype)[:40]


def _read_member(path: Path, m: Member, what: str) -> np.ndarray:
    """Read one member's data straight into its array (no second copy), exactly as many bytes as declared."""
    out = np.empty(m.shape, dtype=m.dtype, order="F" if m.fortran else "C")
    view = memoryview(out.reshape(-1, order="A")).cast("B")  # out's own buffer (it is contiguous)
    try:
        with zipfile.ZipFile(path) as zf, zf.open(m.info) as f:
            f.read(m.offset)
            filled = 0
            while filled < m.nbytes:
                n = f.readinto(view[filled:])
                if not n:
                    break
                filled += n
            extra = f.read(1)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{what} {path} is not a valid numnet archive (corrupt or truncated): {e}") from None
    if filled != m.nbytes or extra:
        raise ValueError(f"{what} {path}: member {m.name!r} does not hold the {m.nbytes} bytes it declares")
    return out


def read_npz(path, what="file", max_bytes=MAX_ARCHIVE_BYTES) -> Archive:
    """The arrays of an NPZ archive (an `Archive`: read on access, without pickle); clear errors for missing,
    corrupt or oversized files."""
    return Archive(path, what, max_bytes)


def pop_meta(arrays, path) -> dict:
    """Remove `__meta__` from `arrays` and decode it."""
    if META not in arrays:
        raise ValueError(f"{path}: not a numnet file (no {META!r} entry)")
    if isinstance(arrays, Archive):
        m = arrays.members[META]
        if m.dtype != np.uint8 or len(m.shape) != 1:
            raise ValueError(f"{path}: {META!r} must be UTF-8 JSON bytes")
        if m.nbytes > MAX_JSON_BYTES:
            raise ValueError(f"{path}: {META!r} is too large ({m.nbytes} bytes, limit {MAX_JSON_BYTES})")
    raw = arrays.pop(META)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{path}: {META!r} must be UTF-8 JSON bytes")
    meta = parse_json(raw.tobytes(), f"{path}: {META!r}")
    _check_layer_count(meta, path)
    return meta


def _check_layer_count(meta, path) -> None:
    """Refuse a model (or a checkpoint's model) describing more than MAX_LAYERS layers, before any is built."""
    for arch in (meta, meta.get("model")) if isinstance(meta, dict) else ():
        layers = arch.get("layers") if isinstance(arch, dict) else None
        if isinstance(layers, list) and len(layers) > MAX_LAYERS:
            raise ValueError(f"{path}: the model describes {len(layers)} layers, more than the {MAX_LAYERS} numnet "
                             "builds: not a numnet model")


def read_archive(path, what="file", max_bytes=MAX_ARCHIVE_BYTES) -> tuple[dict, Archive]:
    """(meta, arrays) of an archive written by `write_archive`."""
    arrays = read_npz(path, what, max_bytes)
    return pop_meta(arrays, path), arrays
