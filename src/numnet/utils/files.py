"""Atomic file writing: a file is written to a temporary sibling and renamed into place,
so a crash or Ctrl-C never leaves a half-written model, checkpoint or history behind. The temporary file is
always beside its target (`.NAME.XXXXXXXX.tmp`); one left by a killed process is removed by
`remove_stale_temporaries`. Files get the mode the umask gives new files (mkstemp alone would make them 0600),
or keep the mode of the file they replace."""
from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path

TMP_SUFFIX = ".tmp"


def _new_file_mode(path: Path) -> int:
    """The mode `path` should get: the replaced file's, else 0666 less the process's umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file next to `path`; on success fsync it and rename it over `path`.

    >>> with atomic_write("model.npz") as f:
    ...     f.write(data)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file, not a directory (writing {path})")
    if not directory.is_dir():
        raise FileNotFoundError(f"directory does not exist: {directory}")
    file_mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=directory)
    try:
        os.chmod(tmp, file_mode)
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text_atomic(path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def remove_stale_temporaries(directory, names) -> list[Path]:
    """Remove the temporary files `atomic_write` leaves beside `names` in `directory` when its process is
    killed (`.checkpoint.npz.k3j2_x8q.tmp`); only numnet's own pattern, only for those names. Returns them."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    patterns = [re.compile(re.escape(f".{name}.") + r"[A-Za-z0-9_]{8}" + re.escape(TMP_SUFFIX)) for name in names]
    removed = []
    for p in directory.iterdir():
        if any(pat.fullmatch(p.name) for pat in patterns) and p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def check_output_dir(path, flag: str) -> Path:
    """Fail early, with a ValueError naming `flag`, when `path` cannot become a writable directory: it is a
    file, or its nearest existing ancestor is a file or not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file; give a directory")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"{flag} {path}: {existing} is a file, not a directory")
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {existing} is not writable")
    return path


def check_output_file(path, flag: str) -> Path:
    """Fail early, with a ValueError naming `flag`, when `path` cannot be written as a file: it is a
    directory, its folder does not exist or is a file, or the folder is not writable."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a directory")
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: directory {parent} is not writable")
    return path
