"""Journal files (Optuna's JournalStorage on a file): checked before use, repaired after a torn write, read
strictly, and locked so that numnet workers and Optuna's own tools exclude each other.

- A file given as a journal must be one: empty, or starting with an Optuna journal record. Anything else (a
  notes.txt given by mistake) is refused before a byte is written or a lock file is created.
- A write cut short (a full disk, a kill during the append) leaves a last line without its newline. Optuna
  skips it, but the next append would glue a record onto it and make the journal unreadable from then on.
  Opening for writing repairs it under the lock: a complete record gets its newline, a torn one is cut off
  (it was never applied by anyone).
- Reading: a damaged line or an unknown operation code is a SearchError naming the line, not Optuna's
  AssertionError.
- The write lock: an flock(2) on PATH.flock (the kernel releases it when its holder dies, so a SIGKILLed worker
  never blocks the others), and inside it Optuna's own lock, PATH.lock (a symbolic link, as Optuna's
  JournalFileSymlinkLock makes it), so that optuna-dashboard or any Optuna process writing the same journal
  waits for numnet and numnet for it. PATH.flock records the holder while it holds PATH.lock: a PATH.lock
  left by a numnet process that died holding it is removed at once by the next one (the flock proves the
  holder is gone); one left by another program is forced after Optuna's grace period (30 s).
"""
from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: Optuna's lock alone
    fcntl = None

from .optuna_compat import (OPTUNA_LOCK_SUFFIX, journal_file_backend_class, journal_lock_base, journal_operations,
                            journal_storage)
from .errors import SearchError
from .interrupts import enter_critical, leave_critical

FLOCK_SUFFIX = ".flock"
#: a journal's first record (Optuna's CREATE_STUDY) is far shorter; a first line longer than this is not one
FIRST_LINE_MAX = 1 << 16
#: seconds a PATH.lock from another program may stay unchanged before it is forced (Optuna's default)
GRACE_PERIOD = 30.0


def _first_record(path: Path) -> dict | None:
    """The first line of a file parsed as a JSON object (None when it is not one)."""
    with open(path, "rb") as f:
        head = f.read(FIRST_LINE_MAX)
    line = head.split(b"\n", 1)[0]
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def is_journal_file(path) -> bool:
    """Whether `path` is a regular file holding an Optuna journal (its first line a record with an op_code)."""
    path = Path(path)
    try:
        if not path.is_file():
            return False
        record = _first_record(path)
    except OSError:
        return False
    return record is not None and isinstance(record.get("op_code"), int)


def check_journal_file(path: Path, must_exist: bool = False) -> None:
    """A SearchError unless `path` can be used as a journal: missing (unless must_exist), or a regular file that
    is empty or starts with an Optuna journal record. Nothing is created or written."""
    if not path.exists() and not path.is_symlink():
        if must_exist:
            raise SearchError(f"no journal file {path}")
        return
    if not path.is_file():
        raise SearchError(f"--storage {path} is not a regular file; give a journal file or an RDB URL")
    try:
        empty = path.stat().st_size == 0
        if not empty and not is_journal_file(path):
            raise SearchError(f"--storage {path} is not an Optuna journal file (its first line is not a journal "
                              f"record); give a new file name, an existing journal or an RDB URL")
    except OSError as e:
        raise SearchError(f"cannot open journal file {path}: {e.strerror or e}") from None


def repair_tail(path: Path) -> str | None:
    """Call with the write lock held. When the file does not end with a newline (a write cut short), give a
    complete last record its newline or cut a torn one off; what was done (None when nothing was needed)."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return None
        start = max(0, size - FIRST_LINE_MAX * 16)
        f.seek(start)
        chunk = f.read()
        cut = chunk.rfind(b"\n")
        if cut < 0 and start > 0:
            raise SearchError(f"{path}: its last line is torn and too long to repair")
        keep = start + cut + 1  # 0 when the only line is torn
        tail = chunk[cut + 1:]
        try:
            record = json.loads(tail)
            complete = isinstance(record, dict) and record.get("op_code") in journal_operations()
        except (ValueError, UnicodeDecodeError):
            complete = False
        if complete:
            f.write(b"\n")
            done = f"{path}: its last record had no line end (a write cut short); added it"
        else:
            f.truncate(keep)
            done = f"{path}: removed a torn last record ({size - keep} bytes, a write cut short by a full disk or " \
                   f"a kill); the trial it belonged to is retried"
        f.flush()
        os.fsync(f.fileno())
    return done


# ---------------------------------------------------------------------------------------------- reading
def _checked_backend_class():
    base = journal_file_backend_class()
    known = journal_operations()

    class CheckedJournalBackend(base):
        """Optuna's journal file backend whose reads name a damaged line or an unknown operation code in a
        SearchError (Optuna: an AssertionError, or a bare "Invalid log format")."""

        def __init__(self, file_path: str, lock_obj=None):
            super().__init__(file_path, lock_obj=lock_obj)
            self.path = file_path

        def read_logs(self, log_number_from: int):
            n = log_number_from
            try:
                for record in super().read_logs(log_number_from):
                    n += 1
                    if not isinstance(record, dict) or record.get("op_code") not in known:
                        op = record.get("op_code") if isinstance(record, dict) else None
                        raise SearchError(f"{self.path}: record {n} has an unknown operation code {op!r} "
                                          f"(damaged, or written by a newer Optuna); numnet stops here rather "
                                          f"than misread the search")
                    yield record
            except ValueError as e:  # json.JSONDecodeError, Optuna's "Invalid log format."
                if isinstance(e, SearchError):
                    raise
                raise SearchError(f"{self.path}: line {n + 1} is damaged ({e}); the journal cannot be read "
                                  f"past it") from None

    return CheckedJournalBackend


_BACKEND = None


def journal_file_storage(path: Path, lock):
    """A JournalStorage on the file, read strictly, written under `lock`."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _checked_backend_class()
    return journal_storage(_BACKEND(str(path), lock_obj=lock))


# ---------------------------------------------------------------------------------------------- locks
class ReadOnlyLock:
    """The write lock of a journal opened for reading: taking it (to write) is an error, so a reader can
    never append to a search's journal nor hold its lock."""

    def acquire(self) -> bool:
        raise SearchError("this journal is open read-only")

    def release(self) -> None:
        pass


class _JournalLockMethods:
    """numnet's journal write lock (see the module's docstring): flock on PATH.flock, then Optuna's
    PATH.lock symbolic link."""

    def __init__(self, filepath: str):
        self._target = filepath
        self._flock = filepath + FLOCK_SUFFIX
        self._lock = filepath + OPTUNA_LOCK_SUFFIX
        self._fd = None

    def acquire(self) -> bool:
        enter_critical()  # Ctrl-C / SIGTERM wait until the lock is released (search.interrupts)
        self._made = False
        try:
            fd = os.open(self._flock, os.O_CREAT | os.O_RDWR, 0o666)  # the umask decides who may join
        except BaseException:
            leave_critical()
            raise
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_size:  # its last holder died holding PATH.lock: that lock is stale
                    _unlink(self._lock)
            self._take_optuna_lock()
            if fcntl is not None:
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            if self._made:  # interrupted (outside a search's signal handling) after taking Optuna's lock
                _unlink(self._lock)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            leave_critical()
            raise
        self._fd = fd
        return True

    def _take_optuna_lock(self) -> None:
        """Create PATH.lock as Optuna does; wait while another program holds it (forced after the grace
        period when it does not change, as Optuna forces it)."""
        delay, seen, since = 0.001, None, time.monotonic()
        while True:
            try:
                self._made = os.symlink(self._target, self._lock) is None
                return
            except FileExistsError:
                try:
                    st = os.lstat(self._lock)
                    stamp = (st.st_ino, st.st_mtime_ns)
                except FileNotFoundError:
                    continue
                if stamp != seen:
                    seen, since = stamp, time.monotonic()
                elif time.monotonic() - since > GRACE_PERIOD:
                    warnings.warn(f"{self._lock} was not released for {GRACE_PERIOD:.0f} s; removed it")
                    _unlink(self._lock)
                    continue
                time.sleep(delay)
                delay = min(2 * delay, 0.1)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if fcntl is not None:
                os.ftruncate(fd, 0)
            _unlink(self._lock)
        finally:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            leave_critical()  # raises the interrupt that arrived meanwhile, now that all is clean


def _lock_class():
    """numnet's journal lock on Optuna's lock base class (imported only when a journal is opened)."""
    return type("JournalLock", (_JournalLockMethods, journal_lock_base()), {"__doc__": _JournalLockMethods.__doc__})


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_LOCK = None


def JournalLock(filepath: str):  # noqa: N802 - a class built on first use (Optuna imported lazily)
    global _LOCK
    if _LOCK is None:
        _LOCK = _lock_class()
    return _LOCK(filepath)


#: the name this lock had before it also took Optuna's lock
FlockLock = JournalLock


def open_journal(path: Path, read_only: bool = False):
    """A JournalStorage on the journal file `path`, checked first (see check_journal_file); for writing, a torn
    last record left by an interrupted write is repaired (a warning says what was done)."""
    check_journal_file(path, must_exist=read_only)
    if read_only:
        return journal_file_storage(path, ReadOnlyLock())
    lock = JournalLock(str(path))
    try:
        if path.exists():
            lock.acquire()
            try:
                done = repair_tail(path)
            finally:
                lock.release()
            if done:
                warnings.warn(done)
        return journal_file_storage(path, lock)
    except OSError as e:
        raise SearchError(f"cannot open journal file {path}: {e.strerror or e}") from None


__all__ = ["open_journal", "check_journal_file", "is_journal_file", "repair_tail", "JournalLock", "FlockLock",
           "ReadOnlyLock", "FLOCK_SUFFIX"]
