"""The one file format numnet writes for models and checkpoints: an NPZ archive of named arrays plus
`__meta__`, a UTF-8 JSON document stored as uint8 bytes. Never pickle: arrays are read with
allow_pickle=False and the JSON names parts only through registries."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .files import atomic_write

META = "__meta__"


def write_archive(path, meta: dict, arrays: dict) -> Path:
    """Write `arrays` and `meta` (JSON) to `path` atomically."""
    path = Path(path)
    encoded = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path, "wb") as f:
        np.savez(f, **{META: encoded}, **arrays)
    return path


def read_npz(path, what="file") -> dict[str, np.ndarray]:
    """All arrays of an NPZ archive, loaded without pickle; clear errors for missing or corrupt files."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory, not a file")
    if not zipfile.is_zipfile(path):  # np.load would otherwise suggest unpickling it
        raise ValueError(f"{what} {path} is not a numnet archive (not an NPZ file: corrupt, truncated or another format)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{what} {path} is not a valid numnet archive (corrupt or truncated): {e}") from None
    except ValueError as e:
        raise ValueError(f"{what} {path} could not be read: {e}") from None


def pop_meta(arrays: dict, path) -> dict:
    """Remove `__meta__` from `arrays` and decode it."""
    if META not in arrays:
        raise ValueError(f"{path}: not a numnet file (no {META!r} entry)")
    raw = arrays.pop(META)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{path}: {META!r} must be UTF-8 JSON bytes")
    try:
        return json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: {META!r} is not valid JSON: {e}") from None


def read_archive(path, what="file") -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of an archive written by `write_archive`."""
    arrays = read_npz(path, what)
    return pop_meta(arrays, path), arrays
