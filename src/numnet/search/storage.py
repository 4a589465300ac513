"""Where a search lives: a journal file (search.journal: many processes on one machine or an NFS share) or an
RDB URL (postgresql+psycopg://user@host/db: many machines), opened for a search or read-only for a viewer.
Every failure is a SearchError in one line, a URL's password never shown."""
from __future__ import annotations

import math
from pathlib import Path

from .errors import SearchError
from .journal import open_journal
from .optuna_compat import import_optuna, rdb_storage
from .workers import retry_stale

#: --heartbeat bounds (seconds): Optuna's RDB heartbeat counts whole seconds; a trial is declared dead after
#: three silent intervals, so an hour already means three hours before a dead worker's trial is retried
HEARTBEAT_MIN, HEARTBEAT_MAX = 1.0, 3600.0


def redact(url: str) -> str:
    """A URL without its password."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url
    return url


def is_url(storage) -> bool:
    return isinstance(storage, str) and "://" in storage


def first_line(e: BaseException) -> str:
    """An exception's first line (its type's name when it has no message): errors from libraries, shortened."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def check_heartbeat(heartbeat) -> float:
    """--heartbeat as a number of seconds in [HEARTBEAT_MIN, HEARTBEAT_MAX] (0, negative, inf, nan refused:
    they would declare live workers dead, or never declare a dead one)."""
    try:
        value = float(heartbeat)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(heartbeat, bool) or not HEARTBEAT_MIN <= value <= HEARTBEAT_MAX:
        raise SearchError(f"--heartbeat must be a number of seconds from {HEARTBEAT_MIN:g} to {HEARTBEAT_MAX:g}, "
                          f"got {heartbeat!r}")
    return value


def _cannot_open(url: str, e: Exception) -> SearchError:
    """The error for a database that cannot be opened: the library's first line, the URL's password hidden."""
    return SearchError(f"cannot open storage {redact(url)}: {first_line(e)}")


def _check_readable_database(url: str, engine: dict) -> None:
    """For a reader: the database exists (an SQLite file is not created by looking at it) and holds Optuna's
    tables; otherwise a SearchError that says so, instead of Optuna's failure on the missing tables."""
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                and not Path(parsed.database).is_file():
            raise SearchError(f"no database file {parsed.database}")
        db = sqlalchemy.create_engine(url, **engine)
        try:
            has_tables = sqlalchemy.inspect(db).has_table("studies")
        finally:
            db.dispose()
    except SearchError:
        raise
    except Exception as e:  # sqlalchemy: OperationalError, ArgumentError; a missing driver
        raise _cannot_open(url, e) from None
    if not has_tables:
        raise SearchError(f"no search in {redact(url)} yet (it has no Optuna tables)")


def open_storage(storage, heartbeat: float = 10.0, read_only: bool = False):
    """An Optuna storage: an RDB URL (with heartbeats and retries of dead workers' trials) or a journal file.

    read_only: for watching a search (the lab): an existing journal file whose write lock refuses (reading a
    journal takes no lock, so a running search is never blocked), or an RDB URL without table creation or
    heartbeats."""
    import_optuna()
    if not read_only:
        heartbeat = check_heartbeat(heartbeat)
    if is_url(storage):
        url = storage
        engine = {"connect_args": {"connect_timeout": 5}} if url.startswith("postgresql") else {}
        if read_only:
            _check_readable_database(url, engine)
        try:
            return rdb_storage(url, engine, heartbeat=heartbeat, on_stale=retry_stale, read_only=read_only)
        except Exception as e:  # sqlalchemy: OperationalError, ArgumentError; a missing driver
            raise _cannot_open(url, e) from None
    path = Path(storage)
    if path.is_dir():
        raise SearchError(f"--storage {path} is a directory; give a journal file or an RDB URL")
    if not path.parent.is_dir():
        raise SearchError(f"--storage {path}: directory {path.parent} does not exist")
    return open_journal(path, read_only=read_only)


def dashboard_command(storage) -> str:
    return f"optuna-dashboard {storage if is_url(storage) else str(storage)}"


__all__ = ["open_storage", "redact", "is_url", "first_line", "check_heartbeat", "dashboard_command",
           "HEARTBEAT_MIN", "HEARTBEAT_MAX", "SearchError"]
