"""Exclusive locks on output paths, so two numnet processes never write the same model file or checkpoint
folder at once: `hold(path)` takes an advisory lock (fcntl.flock) on a small file beside `path`
(`.NAME.lock`), refused at once, not waited for, when another process holds it. The kernel releases the
lock when its holder dies (even by kill -9), so a lock file left behind never blocks anyone; a clean release
removes it. The lock file is created with 0666 less the umask, so a group-shared folder stays shareable."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

LOCK_SUFFIX = ".lock"


class Busy(ValueError):
    """Another process holds the lock (a ValueError: one line, exit status 2)."""


def lock_path(path) -> Path:
    """Where the lock of `path` lives: `.NAME.lock` beside the (resolved) path."""
    path = Path(path).resolve()
    return path.parent / f".{path.name}{LOCK_SUFFIX}"


def _holder(fd: int) -> str:
    """" (process N)" from the lock file's content, or "" when it cannot be read."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""


def _acquire(lock: Path, what: str) -> int | None:
    """An open descriptor holding the lock of `lock`, or Busy; None when no lock file can be made (a
    read-only or missing folder: whatever is written there fails later with its own message)."""
    for _ in range(10):  # a holder may remove the file between our open and our flock: retry then
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise Busy(f"{what} is in use by another numnet run{holder}; wait for it to finish or choose "
                       "another path") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)
    raise Busy(f"{what}: could not take its lock ({lock}); another numnet run keeps replacing it")


@contextlib.contextmanager
def hold(path, what: str):
    """Hold the exclusive lock of `path` (see module docstring) for the duration of the block; `what` names
    the path in the error ("--checkpoint-dir run1")."""
    lock = lock_path(path)
    fd = _acquire(lock, what)
    try:
        yield lock
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock)
            os.close(fd)
