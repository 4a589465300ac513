"""The one place numnet touches Optuna's internals (private attributes, private modules, names that changed
between versions). Every other module calls these functions, so an Optuna upgrade is checked here.

Internals used: `study._storage`, `trial._trial_id`, `FrozenStudy._study_id`, `optuna.storages._heartbeat`,
the journal's operation codes (`optuna.storages.journal._storage.JournalOperation`), the journal file lock's
base class and lock-file suffix, the RDB heartbeat-callback keyword (renamed in Optuna 4.9) and the retry
callback's name (likewise).
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import warnings

#: the suffix of Optuna's own journal lock file (JournalFileSymlinkLock / JournalFileOpenLock): PATH.lock
OPTUNA_LOCK_SUFFIX = ".lock"


def import_optuna():
    """Optuna, quiet (warnings only) and without its ExperimentalWarning; an ImportError that says how to get
    it when it is not installed."""
    global _QUIETED
    try:
        import optuna
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("search needs Optuna: pip install 'numnet[search]'") from e
    if not _QUIETED:  # once: optuna_errors_only() lowers it further while trials run
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        _QUIETED = True
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # each time: a caller's
    return optuna                                                   # catch_warnings() may have dropped it


_QUIETED = False


@contextlib.contextmanager
def optuna_errors_only():
    """Optuna's log at ERROR level while trials run: a failed or interrupted trial is reported by numnet in one
    line, not by Optuna's warning with the exception's traceback."""
    optuna = import_optuna()
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


# ---------------------------------------------------------------------------------------------- objects
def study_storage(study):
    """The storage a study (optuna.Study) reads and writes."""
    return study._storage


def trial_id(trial) -> int:
    """A trial's id in its storage (a Trial or a FrozenTrial): what storage methods take."""
    return trial._trial_id


def study_id(frozen_study) -> int:
    """A FrozenStudy's id in its storage (storage.get_all_studies() gives FrozenStudy objects)."""
    return frozen_study._study_id


def stored_trial(study, trial):
    """The trial as its storage holds it now (a FrozenTrial), read again rather than from the study's cache."""
    return study._storage.get_trial(trial._trial_id)


def is_journal(storage) -> bool:
    """Whether a storage (or a study's storage) is a JournalStorage (no Optuna heartbeat: numnet beats)."""
    optuna = import_optuna()
    storage = getattr(storage, "_storage", storage)
    return isinstance(storage, optuna.storages.JournalStorage)


def update_finished_error():
    """The exception Optuna raises when a finished trial is written to (another worker declared it dead)."""
    return import_optuna().exceptions.UpdateFinishedTrialError


# ---------------------------------------------------------------------------------------------- RDB storages
def rdb_storage(url: str, engine: dict, *, heartbeat: float | None, on_stale=None, read_only: bool = False):
    """optuna.storages.RDBStorage for `url`: read_only skips table creation and heartbeats; otherwise Optuna's
    heartbeat every `heartbeat` seconds (whole, at least 1), stale after 3 beats, `on_stale(study, trial)` then
    called on each trial failed that way."""
    optuna = import_optuna()
    if read_only:
        options = {"skip_table_creation": True}
    else:
        # Optuna 4.9 renamed failed_trial_callback to heartbeat_stale_trial_callback
        key = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback"
               in inspect.signature(optuna.storages.RDBStorage).parameters else "failed_trial_callback")
        options = {"heartbeat_interval": max(1, int(heartbeat)), "grace_period": max(2, int(3 * heartbeat)),
                   key: on_stale}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, **options)


def heartbeat_enabled(storage) -> bool:
    """Whether Optuna's own heartbeat runs for this storage (an RDB storage opened with one)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled  # sees through Optuna's cache wrapper

    return is_heartbeat_enabled(getattr(storage, "_storage", storage))


def fail_stale_by_heartbeat(study) -> None:
    """Optuna's own stale-trial check (RDB heartbeats); its stale-trial callback re-queues what it fails."""
    optuna = import_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


# ---------------------------------------------------------------------------------------------- trials
def fail_trial(study, trial, reason: str) -> bool:
    """Mark a RUNNING trial failed with user attribute failed_because = reason; False when another process
    finished or failed it first."""
    TrialState = import_optuna().trial.TrialState
    try:
        study._storage.set_trial_user_attr(trial._trial_id, "failed_because", reason)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except Exception:  # noqa: BLE001 - another worker got there first (UpdateFinishedTrialError, a race)
        return False
    return True


def requeue(study, trial, max_retry: int) -> None:
    """Re-queue a failed trial's settings (at most `max_retry` times over its chain of retries), without the
    failed run's user attributes and intermediate values (Optuna's retry callback copies both)."""
    optuna = import_optuna()
    clean = optuna.trial.FrozenTrial(
        number=trial.number, state=trial.state, value=None, datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete, params=trial.params, distributions=trial.distributions,
        user_attrs={}, system_attrs=trial.system_attrs, intermediate_values={}, trial_id=trial._trial_id)
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)  # Optuna >= 4.9
    retry = retry or optuna.storages.RetryFailedTrialCallback
    retry(max_retry=max_retry)(study, clean)


def queued_params(trial) -> dict:
    """The parameters a queued (WAITING) trial will run with (enqueue_trial, a retry): its fixed params."""
    return dict(trial.system_attrs.get("fixed_params") or {})


def retried_from(trial):
    """The number of the failed trial this one re-runs (None for a fresh trial)."""
    return trial.system_attrs.get("failed_trial")


# ---------------------------------------------------------------------------------------------- journal files
def journal_operations() -> frozenset:
    """The operation codes a journal record may carry (what this Optuna can replay)."""
    try:
        from optuna.storages.journal._storage import JournalOperation

        return frozenset(int(op) for op in JournalOperation)
    except ImportError:  # pragma: no cover - a future Optuna that moved it: the codes of Optuna 3.1-5.1
        return frozenset(range(11))


def journal_lock_base():
    """The base class a journal file lock derives from (acquire() -> bool, release())."""
    from optuna.storages.journal._file import BaseJournalFileLock

    return BaseJournalFileLock


def journal_file_backend_class():
    """optuna.storages.journal.JournalFileBackend (JournalFileStorage before Optuna 4)."""
    journal = import_optuna().storages.journal
    return getattr(journal, "JournalFileBackend", None) or journal.JournalFileStorage


def journal_storage(backend):
    """A JournalStorage over a backend."""
    return import_optuna().storages.JournalStorage(backend)


__all__ = ["import_optuna", "optuna_errors_only", "study_storage", "trial_id", "study_id", "stored_trial",
           "is_journal", "update_finished_error", "rdb_storage", "heartbeat_enabled", "fail_stale_by_heartbeat",
           "fail_trial", "requeue", "retried_from", "queued_params", "journal_operations", "journal_lock_base",
           "journal_file_backend_class", "journal_storage", "OPTUNA_LOCK_SUFFIX"]
