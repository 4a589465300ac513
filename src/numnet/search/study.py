"""Hyperparameter search on Optuna: create or continue a study, run its trials (here or in worker processes),
hand the trials to the report.

The jobs live in their own modules: storage (journal file or RDB URL: search.storage, search.journal),
worker processes, heartbeats and dead-worker recovery (search.workers), one trial (search.objective),
samplers, pruners and the grid (search.samplers), coarse-to-fine stages (search.stages), Optuna's internals
(search.optuna_compat). This module keeps the public names of all of them (numnet.search.study.open_storage,
import_optuna, redact, ... still work).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..runs.run import RunError, RunInterrupted
from ..utils.checks import is_int
from .errors import SearchError
from .objective import NothingQueued, Objective, TrialReporter, load_data
from .optuna_compat import import_optuna, optuna_errors_only, study_storage
from .progress import TrialBar
from .samplers import (PRUNERS, SAMPLERS, enqueue_grid, grid_size, make_pruner, make_sampler,  # noqa: F401
                       optuna_params)
from .space import Space, load_space, space_from_dict
from .stages import STAGES_FILE, record_stage, refined  # noqa: F401
from .storage import (check_heartbeat, dashboard_command, first_line, is_url, open_storage,  # noqa: F401
                      redact)
from .journal import FlockLock, JournalLock, ReadOnlyLock  # noqa: F401
from .workers import (HOST, MAX_RETRY, blas_env, check_workers, fail_stale_trials, run_workers,  # noqa: F401
                      worker_command)

JOURNAL_FILE = "journal.log"
STUDY_ATTR = "numnet"


def open_study(storage, name, meta=None, sampler=None, pruner=None, heartbeat=10.0):
    """Create or load study `name`; `meta` (space and per-trial options) must equal the stored one."""
    optuna = import_optuna()
    where = redact(str(storage)) if isinstance(storage, (str, Path)) else "its storage"
    st = open_storage(storage, heartbeat) if isinstance(storage, (str, Path)) else storage
    try:
        study = optuna.create_study(storage=st, study_name=name, direction="maximize", load_if_exists=True,
                                    sampler=sampler, pruner=pruner)
    except Exception as e:
        if isinstance(e, (SearchError, KeyboardInterrupt)):
            raise
        raise SearchError(f"cannot open study {name!r} in {where}: {first_line(e)}") from None
    stored = study.user_attrs.get(STUDY_ATTR)
    if meta is None:
        if stored is None:
            raise SearchError(f"study {name!r} in {where} is not a numnet search")
    elif stored is None:
        if study.trials:
            raise SearchError(f"study {name!r} in {where} already has trials but is not a numnet "
                              f"search; choose another --study")
        study.set_user_attr(STUDY_ATTR, meta)
    elif json.dumps(stored, sort_keys=True) != json.dumps(meta, sort_keys=True):
        diff = sorted(k for k in set(stored) | set(meta) if stored.get(k) != meta.get(k))
        raise SearchError(f"study {name!r} in {where} was created with a different search "
                          f"({', '.join(diff)} differ); rerun with its space and options, or choose another --study")
    return study


def counted(study) -> int:
    """Trials that count toward --trials: all but the failed ones (complete, pruned, running, queued)."""
    TS = import_optuna().trial.TrialState
    return sum(t.state != TS.FAIL for t in study.get_trials(deepcopy=False))


def _more(study, trials, queued_only=False) -> bool:
    """Whether to start another trial: one is queued (a retry, an enqueued or grid point), or (unless
    queued_only) fewer than `trials` count."""
    TS = import_optuna().trial.TrialState
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return TS.WAITING in states or (not queued_only and sum(s != TS.FAIL for s in states) < trials)


def progress_of(study) -> tuple[int, float | None]:
    """(finished counted trials, best value so far) for the progress bar."""
    TS = import_optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False, states=(TS.COMPLETE, TS.PRUNED))
    values = [t.value for t in trials if t.state == TS.COMPLETE and t.value is not None]
    return len(trials), (max(values) if values else None)


def work(storage, study_name, trials, *, budget=None, sampler="random", pruner="none", seed=None, data=None,
         heartbeat=10.0, enqueue=(), log=None, queue_grid=True, on_trial=None) -> int:
    """Run trials of an existing study in this process until it has `trials` counted trials or `budget`
    seconds have passed; the number of trials this worker ran. The grid sampler runs queued points only
    (queue_grid: queue them here; worker processes leave that to their parent). Ctrl-C or SIGTERM: the
    running trial is failed and queued again, and KeyboardInterrupt propagates."""
    import_optuna()  # a clear error before any work when Optuna is not installed
    heartbeat = check_heartbeat(heartbeat)
    say = log or (lambda msg: None)
    probe = open_study(storage, study_name, heartbeat=heartbeat)
    meta = probe.user_attrs[STUDY_ATTR]
    space = space_from_dict(meta["space"])
    study = open_study(study_storage(probe), study_name, meta, make_sampler(sampler, space, seed),
                       make_pruner(pruner, meta.get("epochs") or space.base_settings()["epochs"]))
    grid = isinstance(sampler, str) and sampler == "grid"
    if grid:
        trials = min(trials, grid_size(space))
    for values in enqueue:
        study.enqueue_trial(optuna_params(space, values))
    if grid and queue_grid:
        enqueue_grid(study, space, trials, seed)
    objective = None
    t0, done = time.time(), 0
    with optuna_errors_only():
        while True:
            for n in fail_stale_trials(study, grace=3 * heartbeat):
                say(f"trial {n}: its worker died; marked failed and queued again")
            if not _more(study, trials, queued_only=grid) or (budget is not None and time.time() - t0 >= budget):
                break
            if objective is None:  # data loaded once, and only when there is a trial to run
                objective = Objective(space, meta, load_data(space, meta) if data is None else data, seed,
                                      heartbeat, say, queued_only=grid)
            done += _run_one(study, objective, say)
            if on_trial is not None:
                on_trial(study)
    return done


def _run_one(study, objective, say) -> bool:
    """One trial through Optuna (its pruner, its bookkeeping); an interrupt requeues it, a trial declared dead
    while this worker was stalled is dropped with a line; whether a trial ran."""
    objective.trial = None
    try:
        study.optimize(objective, n_trials=1, catch=())
    except (KeyboardInterrupt, RunInterrupted):
        objective.requeue_interrupted(study)
        raise KeyboardInterrupt from None
    except NothingQueued:
        return False
    except Exception as e:
        if not objective.was_lost(study):
            raise _cause(e) from None
        say(f"trial {objective.trial.number}: declared dead while this worker was stalled (past its heartbeats); "
            f"its queued copy runs in its place, this result is dropped")
    return True


def _cause(e: Exception) -> Exception:
    """The error to report: when recording a trial's end failed (a full disk), Optuna raises an AssertionError
    ("Should not reach.") over the OSError that caused it; that OSError."""
    seen = e
    while isinstance(seen, AssertionError) and seen.__context__ is not None:
        seen = seen.__context__
    return seen if isinstance(seen, OSError) else e


# ---------------------------------------------------------------------------------------------- search
@dataclass
class SearchResult:
    """What a search produced: the study, every trial's row (all stages), the best trial, files, and what went
    wrong with worker processes (the report is written regardless)."""

    study: object
    rows: list
    best: dict | None
    stage: int
    storage: str
    paths: dict = field(default_factory=dict)
    table: str = ""
    failures: list = field(default_factory=list)
    complete: bool = True

    @property
    def dashboard(self) -> str:
        return dashboard_command(self.storage)


def _check_options(trials, workers, top, epochs, train_size, budget, sampler, pruner, heartbeat, data) -> None:
    for name, v in (("trials", trials), ("top", top)):
        if not is_int(v) or v < 1:
            raise SearchError(f"--{name} must be a positive integer, got {v!r}")
    check_workers(workers)
    for name, v in (("epochs", epochs), ("train_size", train_size)):
        if v is not None and (not is_int(v) or v < 1):
            raise SearchError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")
    if budget is not None and not budget > 0:
        raise SearchError(f"--budget must be a positive number of seconds, got {budget!r}")
    if isinstance(sampler, str) and sampler not in SAMPLERS:
        raise SearchError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if isinstance(pruner, str) and pruner not in PRUNERS:
        raise SearchError(f"--pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    check_heartbeat(heartbeat)
    if workers > 1 and data is not None:
        raise SearchError("data= runs in this process: use workers=1 (worker processes load MNIST themselves)")
    if workers > 1 and (not isinstance(sampler, str) or not isinstance(pruner, str)):
        raise SearchError("worker processes take sampler and pruner names, not objects")


def search(space, trials=20, *, budget=None, epochs=None, train_size=None, sampler="random", pruner="none",
           workers=1, storage=None, study=None, seed=None, out="search", refine_from=None, top=5, data=None,
           heartbeat=10.0, enqueue=(), report=True, log=None, keep_train_size=False, progress=None) -> SearchResult:
    """Search the space (a SPACE.toml path, its dict, or a Space) and write the report into `out`.

    trials: the study's total of counted trials (a rerun continues up to it); budget: seconds per worker;
    epochs / train_size: per trial; sampler: random, grid, tpe (or an Optuna sampler); pruner: none, median,
    hyperband (or an Optuna pruner); workers: processes (each with cores/workers BLAS threads, at most 2 per
    core); storage: a journal file (default out/journal.log) or an RDB URL; study: its name (default: the space
    file's stem, with -stageN when refining); refine_from: a previous search's folder: narrow each range to its
    top `top` trials and search again; data: ((X, y), (X_val, y_val), (X_test, y_test)) instead of MNIST (one
    worker); keep_train_size: best.toml keeps the trials' train_size (left out by default: the best
    configuration trains on the whole set); progress: a bar over the trials on stderr (None: when it is a
    terminal and `log` is given).
    """
    _check_options(trials, workers, top, epochs, train_size, budget, sampler, pruner, heartbeat, data)
    say = log or (lambda msg: None)
    space_file = space if isinstance(space, (str, Path)) else None
    sp = load_space(space)
    out = Path(out)
    stage, previous, source = 1, [], None
    if refine_from is not None:
        sp, stage, previous, source = refined(sp, Path(refine_from), top, out, say)
    if sampler == "grid":
        make_sampler("grid", sp, seed)
        trials = min(trials, grid_size(sp))
    out.mkdir(parents=True, exist_ok=True)
    storage = str(storage) if storage is not None else str(out / JOURNAL_FILE)
    name = study or ((Path(space_file).stem if space_file else "numnet-search")
                     + (f"-stage{stage}" if stage > 1 else ""))
    meta = {"space": sp.as_dict(), "epochs": epochs, "train_size": train_size, "stage": stage}
    st = open_study(storage, name, meta, heartbeat=heartbeat)
    record_stage(out, stage, {"study": name, "storage": redact(storage), "source": source, **meta})
    say(f"study {name!r} ({redact(storage)}): {len(st.trials)} trials so far; target {trials}, "
        f"sampler {sampler}, pruner {pruner}, {workers} worker{'s' if workers > 1 else ''}")
    with TrialBar(trials, progress_of(st)[0], enabled=progress if progress is not None else None if log else False,
                  log=say) as bar:
        failures = _dispatch(st, sp, name, storage, space_file or out / STAGES_FILE, trials, workers, bar,
                             dict(budget=budget, sampler=sampler, pruner=pruner, seed=seed, heartbeat=heartbeat),
                             data, enqueue)
    st = open_study(study_storage(st), name, meta)
    result = SearchResult(st, [], None, stage, storage, failures=failures,
                          complete=not _more(st, trials, queued_only=sampler == "grid"))
    if report:
        from .report import write_report

        write_report(result, sp, out, previous, keep_train_size=keep_train_size)
    return result


def _dispatch(st, sp, name, storage, space_file, trials, workers, bar, opts, data, enqueue) -> list[str]:
    """Run the trials here (one worker) or in worker processes; what went wrong with the workers."""
    def update(study):
        bar.update(*progress_of(study))

    if workers == 1:
        work(study_storage(st), name, trials, data=data, enqueue=enqueue, log=bar.write, on_trial=update, **opts)
        return []
    for values in enqueue:
        st.enqueue_trial(optuna_params(sp, values))
    if opts["sampler"] == "grid":
        enqueue_grid(st, sp, trials, opts["seed"])

    def command(i):
        return worker_command(space_file, storage, name, trials, opts["budget"], opts["sampler"], opts["pruner"],
                              opts["seed"], opts["heartbeat"])

    def on_line(line):
        if line.startswith("trial "):
            update(st)

    return run_workers(workers, command, bar.write, on_line if bar.enabled else None)


__all__ = ["search", "work", "SearchResult", "SearchError", "TrialReporter", "open_study", "open_storage",
           "fail_stale_trials", "blas_env", "RunError", "import_optuna", "redact", "is_url", "Space"]
