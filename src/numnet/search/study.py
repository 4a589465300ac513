"""Hyperparameter search on Optuna: studies, storages, workers, pruning, dead-worker recovery.

Each trial is one in-process `numnet.runs.run(...)` on data loaded once per worker; a callback reports the
validation accuracy after every epoch (`trial.report`) and stops the run when the pruner says so. The
objective is the best validation accuracy of the run.

Storages: a journal file in the output folder by default (Optuna's JournalStorage, file-lock backend: many
processes on one machine or an NFS share), or any RDB URL (postgresql+psycopg://user@host/db) for many
machines. Workers record a heartbeat in their running trial; a trial whose worker died (a SIGKILL, a lost
machine) is marked failed and re-queued with the same settings (Optuna's RetryFailedTrialCallback). RDB
storages use Optuna's own heartbeat; the journal file uses a heartbeat user attribute and, on the same host,
whether the worker's process still exists.
"""
from __future__ import annotations

import json
import math
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: Optuna's lock file
    fcntl = None
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..runs.run import RunError, mnist_data, resolve_settings, run
from ..train.callbacks import Callback, TrainingDiverged
from ..utils.checks import is_int
from .space import Space, SpaceError, load_space, refine, space_from_dict

SAMPLERS = ("random", "grid", "tpe")
PRUNERS = ("none", "median", "hyperband")
JOURNAL_FILE = "journal.log"
STUDY_ATTR = "numnet"
HOST = socket.gethostname()
MAX_RETRY = 3


class SearchError(ValueError):
    """A search that cannot run as asked (reported in one line by the CLI)."""


def import_optuna():
    try:
        import optuna
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("search needs Optuna: pip install 'numnet[search]'") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


# ---------------------------------------------------------------------------------------------- storage
def redact(url: str) -> str:
    """A URL without its password."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url
    return url


def is_url(storage) -> bool:
    return isinstance(storage, str) and "://" in storage


def _first_line(e: Exception) -> str:
    """An exception's first line (its type's name when it has no message): errors from libraries, shortened."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _cannot_open(url: str, e: Exception) -> SearchError:
    """The error for a database that cannot be opened: the library's first line, the URL's password hidden."""
    return SearchError(f"cannot open storage {redact(url)}: {_first_line(e)}")


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
    optuna = import_optuna()
    if is_url(storage):
        url = storage
        engine = {}
        if url.startswith("postgresql"):
            engine = {"connect_args": {"connect_timeout": 5}}
        if read_only:
            _check_readable_database(url, engine)
            options = {"skip_table_creation": True}
        else:
            import inspect

            # Optuna 4.9 renamed failed_trial_callback to heartbeat_stale_trial_callback
            key = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback"
                   in inspect.signature(optuna.storages.RDBStorage).parameters else "failed_trial_callback")
            options = {"heartbeat_interval": max(1, int(heartbeat)), "grace_period": max(2, int(3 * heartbeat)),
                       key: _retry}
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, **options)
        except Exception as e:  # sqlalchemy: OperationalError, ArgumentError; a missing driver
            raise _cannot_open(url, e) from None
    path = Path(storage)
    if path.is_dir():
        raise SearchError(f"--storage {path} is a directory; give a journal file or an RDB URL")
    if not path.parent.is_dir():
        raise SearchError(f"--storage {path}: directory {path.parent} does not exist")
    if read_only and not path.is_file():
        raise SearchError(f"no journal file {path}")
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    try:
        if read_only:
            lock = ReadOnlyLock()
        else:
            lock = FlockLock(str(path)) if fcntl is not None else JournalFileOpenLock(str(path))
        backend = JournalFileBackend(str(path), lock_obj=lock)
        return optuna.storages.JournalStorage(backend)
    except OSError as e:
        raise SearchError(f"cannot open journal file {path}: {e}") from None


class ReadOnlyLock:
    """The write lock of a journal opened for reading: taking it (to write) is an error, so a reader can
    never append to a search's journal nor hold its lock."""

    def acquire(self) -> bool:
        raise SearchError("this journal is open read-only")

    def release(self) -> None:
        pass


def _flock_lock_class():
    from optuna.storages.journal._file import BaseJournalFileLock

    class FlockLock(BaseJournalFileLock):
        """The journal's write lock as an flock(2) on PATH.lock: the kernel releases it when its holder dies,
        so a SIGKILLed worker never blocks the others (Optuna's lock file would, for its 30 s grace period).
        Linux emulates flock over NFS with byte-range locks."""

        def __init__(self, filepath: str):
            self._path = filepath + ".flock"
            self._fd = None

        def acquire(self) -> bool:
            fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return True

        def release(self) -> None:
            fd, self._fd = self._fd, None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    return FlockLock


def FlockLock(filepath: str):  # noqa: N802 - a class built on first use (Optuna imported lazily)
    global _FLOCK
    if _FLOCK is None:
        _FLOCK = _flock_lock_class()
    return _FLOCK(filepath)


_FLOCK = None


def dashboard_command(storage) -> str:
    return f"optuna-dashboard {storage if is_url(storage) else str(storage)}"


def _retry(study, trial) -> None:
    """Re-queue a failed trial's settings (at most MAX_RETRY times), without its dead worker's attributes."""
    optuna = import_optuna()
    clean = optuna.trial.FrozenTrial(
        number=trial.number, state=trial.state, value=None, datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete, params=trial.params, distributions=trial.distributions,
        user_attrs={}, system_attrs=trial.system_attrs, intermediate_values={}, trial_id=trial._trial_id)
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)  # Optuna >= 4.9
    retry = retry or optuna.storages.RetryFailedTrialCallback
    retry(max_retry=MAX_RETRY)(study, clean)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: dead for us
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def fail_stale_trials(study, grace: float) -> list[int]:
    """Journal storages: mark RUNNING trials whose worker died failed and re-queue them; the numbers failed.
    A worker is dead when its process is gone (same host) or its heartbeat is older than `grace` seconds."""
    optuna = import_optuna()
    TrialState = optuna.trial.TrialState
    if not isinstance(study._storage, optuna.storages.JournalStorage):
        from optuna.storages._heartbeat import (
            is_heartbeat_enabled,  # sees through Optuna's cache wrapper
        )

        if not is_heartbeat_enabled(study._storage):
            return []
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)  # Optuna's heartbeat; its stale-trial callback re-queues
        return sorted(before & {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))})
    failed = []
    now = time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w = t.user_attrs.get("worker") or {}
        mine = w.get("trial") == t.number
        beat = t.user_attrs.get("heartbeat") if mine else None
        beat = beat if beat is not None else t.datetime_start.timestamp()
        dead = (mine and w.get("host") == HOST and not _alive(int(w["pid"]))) or now - beat > grace
        if not dead:
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, "failed_because", "its worker died")
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except Exception:  # another worker got there first
            continue
        _retry(study, study._storage.get_trial(t._trial_id))
        failed.append(t.number)
    return failed


# ---------------------------------------------------------------------------------------------- study
def make_sampler(sampler, space: Space, seed):
    optuna = import_optuna()
    if not isinstance(sampler, str):
        return sampler
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if sampler == "grid":
        try:
            grid = space.grid()
        except SpaceError as e:
            raise SearchError(str(e)) from None
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise SearchError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")


def make_pruner(pruner, epochs: int):
    optuna = import_optuna()
    if not isinstance(pruner, str):
        return pruner
    if pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs), reduction_factor=3)
    raise SearchError(f"--pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")


def grid_size(space: Space) -> int:
    return math.prod(len(v) for v in space.grid().values())


def open_study(storage, name, meta=None, sampler=None, pruner=None, heartbeat=10.0):
    """Create or load study `name`; `meta` (space and per-trial options) must equal the stored one."""
    optuna = import_optuna()
    st = open_storage(storage, heartbeat) if isinstance(storage, (str, Path)) else storage
    try:
        study = optuna.create_study(storage=st, study_name=name, direction="maximize", load_if_exists=True,
                                    sampler=sampler, pruner=pruner)
    except Exception as e:
        if isinstance(e, (SearchError, KeyboardInterrupt)):
            raise
        msg = _first_line(e)
        raise SearchError(f"cannot open study {name!r} in {redact(str(storage))}: {msg}") from None
    stored = study.user_attrs.get(STUDY_ATTR)
    if meta is None:
        if stored is None:
            raise SearchError(f"study {name!r} in {redact(str(storage))} is not a numnet search")
    elif stored is None:
        if study.trials:
            raise SearchError(f"study {name!r} in {redact(str(storage))} already has trials but is not a numnet "
                              f"search; choose another --study")
        study.set_user_attr(STUDY_ATTR, meta)
    elif json.dumps(stored, sort_keys=True) != json.dumps(meta, sort_keys=True):
        diff = sorted(k for k in set(stored) | set(meta) if stored.get(k) != meta.get(k))
        raise SearchError(f"study {name!r} in {redact(str(storage))} was created with a different search "
                          f"({', '.join(diff)} differ); rerun with its space and options, or choose another --study")
    return study


def _more(study, trials) -> bool:
    """Whether to start another trial: one is queued (a retry, an enqueued point), or fewer than `trials`
    count (finished: complete or pruned; running; queued; failed ones do not count)."""
    TS = import_optuna().trial.TrialState
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return TS.WAITING in states or sum(s != TS.FAIL for s in states) < trials


# ---------------------------------------------------------------------------------------------- one trial
class TrialReporter(Callback):
    """Reports the validation accuracy to the Optuna trial after every epoch; stops the run when the pruner
    says so (the objective then raises TrialPruned)."""

    def __init__(self, trial):
        self.trial = trial
        self.pruned_at = None

    def on_epoch_end(self, trainer, epoch, logs):
        acc = logs.get("val_accuracy")
        if acc is None:
            return False
        self.trial.report(float(acc), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            trainer.stop_reason = f"pruned after epoch {epoch}"
            return True
        return False


class _Heartbeat:
    """A thread writing the time into the trial's `heartbeat` attribute every `interval` seconds."""

    def __init__(self, trial, interval, beat=True):
        self.trial, self.interval, self.beat = trial, interval, beat
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while not self.stop.wait(self.interval):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # the trial finished meanwhile
                return

    def __enter__(self):
        self.trial.set_user_attr("worker", {"host": HOST, "pid": os.getpid(), "trial": self.trial.number})
        if self.beat:  # RDB storages have Optuna's own heartbeat
            self.trial.set_user_attr("heartbeat", time.time())
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def make_objective(space: Space, meta: dict, data, seed, heartbeat, log):
    optuna = import_optuna()

    def objective(trial):
        values, overrides = space.suggest(trial)
        overrides = {**space.fixed, **overrides}
        if meta.get("epochs"):
            overrides["epochs"] = meta["epochs"]
        if meta.get("train_size"):
            overrides["train_size"] = meta["train_size"]
        if "seed" not in space.fixed and not (space.config or {}).get("seed"):
            overrides["seed"] = (seed or 0) + trial.number
        reporter = TrialReporter(trial)
        t0 = time.perf_counter()
        with _Heartbeat(trial, heartbeat, beat=isinstance(trial.study._storage, optuna.storages.JournalStorage)):
            try:
                r = run(space.recipe, space.config, overrides, out=None, data=data, verbose=0,
                        callbacks=[reporter])
            except TrainingDiverged:
                trial.set_user_attr("diverged", True)
                trial.set_user_attr("seconds", time.perf_counter() - t0)
                log(f"trial {trial.number}: diverged {_fmt_values(values)}")
                return 0.0
        accs = [a for a in r.history.val_accuracy if a is not None]
        if not accs:
            raise SearchError("the search needs a validation set (validation_size > 0)")
        best = max(accs)
        trial.set_user_attr("config", r.settings)
        trial.set_user_attr("best_epoch", r.best_epoch)
        trial.set_user_attr("epochs_run", len(r.history))
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        trial.set_user_attr("best_so_far", best)
        if reporter.pruned_at is not None:
            log(f"trial {trial.number}: pruned after epoch {reporter.pruned_at} "
                f"(val {100 * accs[-1]:.2f}%) {_fmt_values(values)}")
            raise optuna.TrialPruned(f"pruned after epoch {reporter.pruned_at}")
        log(f"trial {trial.number}: val {100 * best:.2f}% (epoch {r.best_epoch}) {_fmt_values(values)}")
        return best

    return objective


def _fmt_values(values: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def load_data(space: Space, meta: dict):
    """The worker's data, loaded once: MNIST with the base run's train/validation sizes."""
    overrides = dict(space.fixed)
    if meta.get("train_size"):
        overrides["train_size"] = meta["train_size"]
    cfg = resolve_settings(space.recipe, space.config, overrides)
    if cfg["validation_size"] == 0:
        raise SearchError("the search needs a validation set (validation_size > 0)")
    return mnist_data(cfg)


def work(storage, study_name, trials, *, budget=None, sampler="random", pruner="none", seed=None, data=None,
         heartbeat=10.0, enqueue=(), log=None) -> int:
    """Run trials of an existing study in this process until it has `trials` counted trials or `budget`
    seconds have passed; the number of trials this worker ran."""
    import_optuna()  # a clear error before any work when Optuna is not installed
    say = log or (lambda msg: None)
    probe = open_study(storage, study_name, heartbeat=heartbeat)
    meta = probe.user_attrs[STUDY_ATTR]
    space = space_from_dict(meta["space"])
    study = open_study(probe._storage, study_name, meta, make_sampler(sampler, space, seed),
                       make_pruner(pruner, meta.get("epochs") or space.base_settings()["epochs"]))
    if isinstance(sampler, str) and sampler == "grid":
        trials = min(trials, grid_size(space))
    for values in enqueue:
        study.enqueue_trial(_optuna_params(space, values))
    objective = None
    t0, done = time.time(), 0
    while True:
        for n in fail_stale_trials(study, grace=3 * heartbeat):
            say(f"trial {n}: its worker died; marked failed and queued again")
        if not _more(study, trials) or (budget is not None and time.time() - t0 >= budget):
            break
        if objective is None:  # data loaded once, and only when there is a trial to run
            objective = make_objective(space, meta, load_data(space, meta) if data is None else data, seed,
                                       heartbeat, say)
        study.optimize(objective, n_trials=1, catch=())
        done += 1
    return done


def _optuna_params(space: Space, values: dict) -> dict:
    out = {}
    for k, v in values.items():
        p = space.params.get(k)
        if p is None:
            raise SearchError(f"enqueue: {k} is not a searched setting")
        out[p.optuna_name] = 1 - v if p.dist == "one-minus-log" else v
    return out


# ---------------------------------------------------------------------------------------------- search
@dataclass
class SearchResult:
    """What a search produced: the study, every trial's row (all stages), the best trial, files."""

    study: object
    rows: list
    best: dict | None
    stage: int
    storage: str
    paths: dict = field(default_factory=dict)
    table: str = ""

    @property
    def dashboard(self) -> str:
        return dashboard_command(self.storage)


def _worker_command(space_file, storage, study, trials, budget, sampler, pruner, seed, heartbeat):
    cmd = [sys.executable, "-m", "numnet", "search", str(space_file), "--worker", "--storage", str(storage),
           "--study", study, "--trials", str(trials), "--sampler", sampler, "--pruner", pruner,
           "--heartbeat", str(heartbeat)]
    if budget is not None:
        cmd += ["--budget", str(budget)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return cmd


def blas_env(workers: int, cores: int | None = None) -> dict:
    """The environment of a worker process: BLAS threads = cores / workers (at least 1)."""
    cores = cores or os.cpu_count() or 1
    n = str(max(1, cores // max(1, workers)))
    env = dict(os.environ)
    for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = n
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_workers(k, space_file, storage, study, trials, budget, sampler, pruner, seed, heartbeat, log) -> None:
    """K worker processes (`numnet search --worker`) on one study; waits for them all."""
    procs = []
    try:
        for i in range(k):
            cmd = _worker_command(space_file, storage, study, trials, budget, sampler, pruner,
                                  None if seed is None else seed + i, heartbeat)
            procs.append(subprocess.Popen(cmd, env=blas_env(k), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True))
        lock = threading.Lock()  # one relayed line at a time: print() from two threads can interleave lines
        threads = [threading.Thread(target=_relay, args=(p, i, log, lock), daemon=True) for i, p in enumerate(procs)]
        for t in threads:
            t.start()
        codes = [p.wait() for p in procs]
        for t in threads:
            t.join()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
    bad = [c for c in codes if c != 0]
    if bad:
        raise SearchError(f"{len(bad)} of {k} workers failed (exit status {', '.join(map(str, bad))})")


def _relay(proc, i, log, lock):
    for line in proc.stdout:
        with lock:
            log(f"[worker {i}] {line.rstrip()}")


def search(space, trials=20, *, budget=None, epochs=None, train_size=None, sampler="random", pruner="none",
           workers=1, storage=None, study=None, seed=None, out="search", refine_from=None, top=5, data=None,
           heartbeat=10.0, enqueue=(), report=True, log=None) -> SearchResult:
    """Search the space (a SPACE.toml path, its dict, or a Space) and write the report into `out`.

    trials: the study's total of counted trials (a rerun continues up to it); budget: seconds per worker;
    epochs / train_size: per trial; sampler: random, grid, tpe (or an Optuna sampler); pruner: none, median,
    hyperband (or an Optuna pruner); workers: processes (each with cores/workers BLAS threads); storage: a
    journal file (default out/journal.log) or an RDB URL; study: its name (default: the space file's stem,
    with -stageN when refining); refine_from: a previous search's folder: narrow each range to its top `top`
    trials and search again; data: ((X, y), (X_val, y_val), (X_test, y_test)) instead of MNIST (one worker).
    """
    say = log or (lambda msg: None)
    for name, v, lo in (("trials", trials, 1), ("workers", workers, 1), ("top", top, 1)):
        if not is_int(v) or v < lo:
            raise SearchError(f"--{name} must be a positive integer, got {v!r}")
    for name, v in (("epochs", epochs), ("train_size", train_size)):
        if v is not None and (not is_int(v) or v < 1):
            raise SearchError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")
    if budget is not None and not budget > 0:
        raise SearchError(f"--budget must be a positive number of seconds, got {budget!r}")
    if isinstance(sampler, str) and sampler not in SAMPLERS:
        raise SearchError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if isinstance(pruner, str) and pruner not in PRUNERS:
        raise SearchError(f"--pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    if workers > 1 and data is not None:
        raise SearchError("data= runs in this process: use workers=1 (worker processes load MNIST themselves)")
    space_file = space if isinstance(space, (str, Path)) else None
    sp = load_space(space)
    out = Path(out)
    stage, previous, source = 1, [], None
    if refine_from is not None:
        sp, stage, previous, source = _refined(sp, Path(refine_from), top, out, say)
    if sampler == "grid":
        make_sampler("grid", sp, seed)
    out.mkdir(parents=True, exist_ok=True)
    storage = str(storage) if storage is not None else str(out / JOURNAL_FILE)
    name = study or ((Path(space_file).stem if space_file else "numnet-search")
                     + (f"-stage{stage}" if stage > 1 else ""))
    meta = {"space": sp.as_dict(), "epochs": epochs, "train_size": train_size, "stage": stage}
    st = open_study(storage, name, meta, heartbeat=heartbeat)
    _record_stage(out, stage, {"study": name, "storage": redact(storage), "source": source, **meta})
    say(f"study {name!r} ({redact(storage)}): {len(st.trials)} trials so far; target {trials}, "
        f"sampler {sampler}, pruner {pruner}, {workers} worker{'s' if workers > 1 else ''}")
    if workers == 1:
        work(st._storage, name, trials, budget=budget, sampler=sampler, pruner=pruner, seed=seed, data=data,
             heartbeat=heartbeat, enqueue=enqueue, log=say)
    else:
        if enqueue:
            for values in enqueue:
                st.enqueue_trial(_optuna_params(sp, values))
        if not isinstance(sampler, str) or not isinstance(pruner, str):
            raise SearchError("worker processes take sampler and pruner names, not objects")
        if space_file is None:
            space_file = out / "space.json"
        run_workers(workers, space_file, storage, name, trials, budget, sampler, pruner, seed, heartbeat, say)
    st = open_study(st._storage, name, meta)
    result = SearchResult(st, [], None, stage, storage)
    if report:
        from .report import write_report

        write_report(result, sp, out, previous)
    return result


STAGES_FILE = "space.json"


def _stages(folder: Path) -> dict:
    """folder/space.json: {"stages": {"1": {study, storage, space, source, ...}, ...}} (empty if none)."""
    path = Path(folder) / STAGES_FILE
    if not path.is_file():
        return {}
    try:
        return {int(k): v for k, v in json.loads(path.read_text())["stages"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SearchError(f"{path} is damaged: {e}") from None


def _record_stage(out: Path, stage: int, info: dict) -> None:
    from ..utils.files import write_text_atomic

    stages = _stages(out)
    stages[stage] = info
    write_text_atomic(out / STAGES_FILE, json.dumps({"stages": {str(k): v for k, v in sorted(stages.items())}},
                                                    indent=1))


def _refined(space: Space, folder: Path, top: int, out: Path, say):
    """Coarse to fine from the search in `folder`: (refined space, its stage, the earlier stages' rows, source).
    The source stage is the folder's latest, unless `out` already holds a stage refined from this folder
    with the same --top: then that stage is continued (rerunning a command continues it)."""
    from .report import read_rows

    stages, rows_file = _stages(folder), folder / "trials.csv"
    if not stages or not rows_file.is_file():
        raise SearchError(f"--refine-from {folder}: no finished search there ({STAGES_FILE} and trials.csv)")
    src = max(stages)
    for info in _stages(out).values():
        s = info.get("source") or {}
        if s.get("dir") == str(folder.resolve()) and s.get("top") == top and s.get("stage") in stages:
            src = s["stage"]
    prev_space = space_from_dict(stages[src]["space"])
    if set(prev_space.params) != set(space.params):
        raise SearchError(f"--refine-from {folder}: that search had settings {', '.join(sorted(prev_space.params))}, "
                          f"this space {', '.join(sorted(space.params))}")
    rows = read_rows(rows_file)
    last = [r for r in rows if int(r["stage"]) == src and r["state"] == "COMPLETE" and r["val_accuracy"]]
    last.sort(key=lambda r: -float(r["val_accuracy"]))
    if not last:
        raise SearchError(f"--refine-from {folder}: no completed trials to refine from")
    new = refine(prev_space, last[:top])
    for name, p in new.params.items():
        say(f"stage {src + 1}: {name} " + (f"in {p.values}" if p.dist == "choice"
                                           else f"in [{p.low:.4g}, {p.high:.4g}] ({p.dist})"))
    source = {"dir": str(folder.resolve()), "stage": src, "top": top}
    return new, src + 1, [r for r in rows if int(r["stage"]) <= src], source


__all__ = ["search", "work", "SearchResult", "SearchError", "TrialReporter", "open_study", "open_storage",
           "fail_stale_trials", "blas_env", "RunError"]
