"""Atomic file writing: a file is written to a temporary sibling and renamed into place,
so a crash or Ctrl-C never leaves a half-written model, checkpoint or history behind. The temporary file is
always beside its target (`.NAME.XXXXXXXX.tmp`); one left by a killed process is removed by
`remove_stale_temporaries`, and one left beside the target by a process that died (kill -9) is removed by
the next write of that target. Files get the mode the umask gives new files (mkstemp alone would make them
0600), or keep the read/write bits of the file they replace (never its execute, setuid or setgid bits).

Reading: `regular_file` is the one check every file numnet reads passes first, so a FIFO (which would block
for ever), a device such as /dev/zero (which never ends) or a directory is refused in one clear line."""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import tempfile
import time
from pathlib import Path

TMP_SUFFIX = ".tmp"
#: a temporary younger than this (seconds) is never taken for a dead writer's, even when it is not locked
STALE_AGE = 2.0

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def regular_file(path, what: str = "file") -> Path:
    """`path` if it names an existing regular file (symbolic links followed), else one clear error beginning
    with `what`: FileNotFoundError when nothing is there, ValueError for a directory, a FIFO, a device or a
    socket (a FIFO would block the reader for ever, /dev/zero never ends). Nothing is opened."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except OSError as e:
        raise ValueError(f"{what} {path} cannot be read: {e.strerror or e}") from None
    except ValueError:  # an embedded NUL byte
        raise ValueError(f"{what} {str(path)[:200]!r} is not a valid path") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{what} {path} is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise ValueError(f"{what} {path} is {kind}, not a regular file (numnet reads only regular files)")
    return path


def read_bytes_bounded(path, what: str, max_bytes: int) -> bytes:
    """The content of the regular file `path` (see `regular_file`), refused before reading when it is larger
    than `max_bytes`; never more than `max_bytes` + 1 bytes are read, even if the file grows meanwhile."""
    path = regular_file(path, what)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{what} {path} is too large ({size} bytes, limit {max_bytes})")
    with open(path, "rb") as f:
        data = f.read(size + 1)  # not max_bytes + 1: a read allocates its whole length first
        if len(data) > size:  # the file grew meanwhile
            data += f.read(max_bytes + 1 - len(data))
    if len(data) > max_bytes:
        raise ValueError(f"{what} {path} is too large (more than {max_bytes} bytes)")
    return data


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _new_file_mode(path: Path) -> int:
    """The mode `path` should get: the replaced file's read/write bits, else 0666 less the process's umask.
    Execute, setuid, setgid and sticky bits never carry over: numnet writes data, not programs."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o666
    except OSError:
        pass
    return 0o666 & ~_umask()


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
    remove_dead_temporaries(directory, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held while writing: a temporary nobody holds is a dead writer's
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
    patterns = [_temp_pattern(name) for name in names]
    removed = []
    for p in directory.iterdir():
        if any(pat.fullmatch(p.name) for pat in patterns) and p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def _temp_pattern(name: str) -> re.Pattern:
    return re.compile(re.escape(f".{name}.") + r"[A-Za-z0-9_]{8}" + re.escape(TMP_SUFFIX))


def _is_dead(p: Path) -> bool:
    """Whether the temporary `p` belongs to no live writer: a regular file (not a link), older than
    STALE_AGE, whose lock (held by `atomic_write` while it writes) can be taken."""
    try:
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode) or time.time() - st.st_mtime < STALE_AGE:
            return False
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_dead_temporaries(directory, name: str) -> list[Path]:
    """Remove the temporaries of `name` in `directory` (`.NAME.XXXXXXXX.tmp`) that a killed writer left:
    only numnet's own pattern, only unlocked and older than STALE_AGE (see `_is_dead`). Returns them."""
    pattern, removed = _temp_pattern(name), []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if pattern.fullmatch(entry.name) and _is_dead(Path(entry.path)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
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
