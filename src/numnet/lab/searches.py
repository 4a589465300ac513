"""The Search panel's side: the Optuna journal files in the lab's folder (numnet search's DIR/journal.log,
or any --storage file) and the storage given with `numnet lab --storage`, each opened read-only and reopened
when its file is replaced; their studies and trials, read while a search runs. Optuna is imported only here,
on first use."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from .base import LabError, NotFound, Unavailable, first_line

JOURNAL_MAGIC = b'{"op_code":'  # how every Optuna journal file starts
SEARCH_DEPTH = 2  # journal files are looked for in the working directory and two levels of folders below
SEARCH_SCAN = 5000  # at most this many directory entries are looked at per listing
STORAGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,199}$")
GIVEN_STORAGE = ":storage"  # the id of the storage given with `numnet lab --storage`
NO_OPTUNA = 'the Search panel needs Optuna: pip install "numnet[search]"'


class Searches:
    def __init__(self, workdir: Path, storage=None):
        self.workdir = workdir
        self.storage = None if storage is None else str(storage)  # `numnet lab --storage`: a URL or journal file
        self._storages: dict[str, tuple] = {}  # id -> (file identity, read-only Optuna storage)
        self._lock = threading.Lock()

    def files(self) -> list[str]:
        """The Optuna journal files (numnet search's DIR/journal.log, or any --storage file) in the working
        directory and its folders down to SEARCH_DEPTH, as relative paths; hidden folders and links skipped."""
        found, seen = [], 0
        for root, dirs, files in os.walk(self.workdir):
            depth = len(Path(root).relative_to(self.workdir).parts)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < SEARCH_DEPTH
                             and not os.path.islink(os.path.join(root, d)))
            for name in sorted(files):
                seen += 1
                path = Path(root, name)
                if (name.endswith(".log") or "journal" in name) and not path.is_symlink() and _is_journal(path):
                    found.append(path.relative_to(self.workdir).as_posix())
            if seen > SEARCH_SCAN:
                break
        return found

    def _search_storage(self, storage_id, listed=None):
        """The read-only Optuna storage of a listed search (reopened when its file was replaced); `listed`:
        the journal files just found, when the caller has them."""
        from ..search.study import SearchError, open_storage

        if not isinstance(storage_id, str) or not (storage_id == GIVEN_STORAGE or STORAGE_RE.match(storage_id)) \
                or ".." in storage_id.split("/"):
            raise LabError(f"bad search storage {storage_id!r}: a journal file listed by the Search panel")
        if storage_id == GIVEN_STORAGE:
            if self.storage is None:
                raise NotFound("no --storage was given to numnet lab")
            target = self.storage
        else:
            if storage_id not in (self.files() if listed is None else listed):
                raise NotFound(f"no search journal {storage_id!r} in the lab's folder")
            target = str(self.workdir / storage_id)
        key = None
        if "://" not in target:
            try:
                st = os.stat(target)
            except OSError:
                raise NotFound(f"no search journal {target}") from None
            key = (st.st_dev, st.st_ino)
        with self._lock:
            cached = self._storages.get(storage_id)
            if cached is None or cached[0] != key:
                try:
                    cached = (key, open_storage(target, read_only=True))
                except SearchError as e:
                    raise LabError(str(e)) from None
                except Exception as e:  # noqa: BLE001 - Optuna refusing a damaged journal
                    raise LabError(f"cannot read this journal (damaged?): {first_line(e)}") from None
                self._storages[storage_id] = cached
            return cached[1]

    def listing(self) -> dict:
        """The searches the lab can show: each storage (journal files here, the --storage given) with its
        studies; {"available": False, "message"} when Optuna is not installed."""
        try:
            from ..search.live import list_studies
            from ..search.study import import_optuna, redact

            import_optuna()
        except ImportError:
            return {"available": False, "message": NO_OPTUNA}
        found = self.files()
        out = []
        for storage_id in ([GIVEN_STORAGE] if self.storage is not None else []) + found:
            label = redact(self.storage) if storage_id == GIVEN_STORAGE else storage_id
            try:
                studies = list_studies(self._search_storage(storage_id, found))
            except Exception as e:  # noqa: BLE001 - a damaged or unreachable storage is listed with its error
                out.append({"id": storage_id, "label": label, "studies": [], "error": first_line(e)})
                continue
            out.append({"id": storage_id, "label": label, "studies": studies})
        return {"available": True, "storages": out}

    def trials(self, storage_id, study) -> dict:
        """A study's trials, settings and best trial, read from its storage (see search.live.study_trials)."""
        try:
            from ..search.live import StudyNotFound, study_trials
            from ..search.study import import_optuna

            import_optuna()
        except ImportError:
            raise Unavailable(NO_OPTUNA) from None
        if not isinstance(study, str) or not 0 < len(study) <= 200 or not study.isprintable():
            raise LabError("study must be a study name")
        storage = self._search_storage(storage_id)
        try:
            return {"storage": storage_id, **study_trials(storage, study)}
        except StudyNotFound as e:
            raise NotFound(str(e)) from None
        except ValueError as e:  # SearchError (not a numnet search), a journal damaged since it was opened
            raise LabError(first_line(e)) from None


def _is_journal(path: Path) -> bool:
    try:
        if not path.is_file():  # a FIFO or a device is never opened
            return False
        with open(path, "rb") as f:
            return f.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC
    except OSError:
        return False
