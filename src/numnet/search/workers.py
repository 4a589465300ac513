"""Worker processes of a search and dead-worker recovery.

`numnet search --workers K` starts K processes (`numnet search --worker`, each with cores/K BLAS threads) on
one study and relays their lines. They run in their own session, so a Ctrl-C in the terminal reaches only
the parent, which stops them with SIGTERM (as it does on its own SIGTERM; on Linux they also get SIGTERM if
the parent dies): a stopped worker fails its running trial, queues its settings again and exits without a
word, and the parent prints one line.

Workers record a heartbeat in their running trial; a trial whose worker died (a SIGKILL, a lost machine) is
marked failed and re-queued with the same settings (at most MAX_RETRY times). RDB storages use Optuna's own
heartbeat; a journal file uses a heartbeat user attribute and, on the same host, whether the worker's process
still exists.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import SearchError
from .optuna_compat import (fail_stale_by_heartbeat, fail_trial, heartbeat_enabled, import_optuna, is_journal,
                            requeue, stored_trial)

HOST = socket.gethostname()
MAX_RETRY = 3
#: why a trial whose worker died was failed (its user attribute failed_because)
DIED = "its worker died"
#: worker processes per core at most: each loads the data and trains; more only share the cores
WORKERS_PER_CORE = 2
#: seconds a worker has to stop after SIGTERM before it is killed
STOP_GRACE = 10.0


def max_workers(cores: int | None = None) -> int:
    return WORKERS_PER_CORE * (cores or os.cpu_count() or 1)


def check_workers(workers, cores: int | None = None) -> int:
    """--workers as a positive integer no larger than max_workers() (refused before any process starts)."""
    from ..utils.checks import is_int

    if not is_int(workers) or workers < 1:
        raise SearchError(f"--workers must be a positive integer, got {workers!r}")
    limit = max_workers(cores)
    if workers > limit:
        raise SearchError(f"--workers {workers} is more than this machine can use: at most {limit} "
                          f"({WORKERS_PER_CORE} per core, {limit // WORKERS_PER_CORE} cores); each worker is a "
                          f"process that loads the data and trains")
    return workers


# ---------------------------------------------------------------------------------------------- dead workers
def retry_stale(study, trial) -> None:
    """Re-queue a failed trial's settings (at most MAX_RETRY times), without its dead worker's attributes."""
    requeue(study, trial, MAX_RETRY)


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
    """Mark RUNNING trials whose worker died failed and re-queue them; the numbers failed. Journal storages:
    a worker is dead when its process is gone (same host) or its heartbeat is older than `grace` seconds;
    RDB storages: Optuna's heartbeat decides."""
    TrialState = import_optuna().trial.TrialState
    if not is_journal(study):
        if not heartbeat_enabled(study):
            return []
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        fail_stale_by_heartbeat(study)
        return sorted(before & {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))})
    failed = []
    now = time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w = t.user_attrs.get("worker") or {}
        mine = w.get("trial") == t.number
        beat = t.user_attrs.get("heartbeat") if mine else None
        beat = beat if beat is not None else t.datetime_start.timestamp()
        dead = (mine and w.get("host") == HOST and not _alive(int(w["pid"]))) or now - beat > grace
        if dead and fail_trial(study, t, DIED):
            retry_stale(study, stored_trial(study, t))
            failed.append(t.number)
    return failed


class Heartbeat:
    """Marks the trial as this worker's (host, pid) and, when `beat`, writes the time into its `heartbeat`
    attribute every `interval` seconds from a thread (RDB storages have Optuna's own heartbeat)."""

    def __init__(self, trial, interval, beat=True):
        self.trial, self.interval, self.beat = trial, interval, beat
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while not self.stop.wait(self.interval):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # noqa: BLE001 - the trial finished meanwhile (or was declared dead)
                return

    def __enter__(self):
        self.trial.set_user_attr("worker", {"host": HOST, "pid": os.getpid(), "trial": self.trial.number})
        if self.beat:
            self.trial.set_user_attr("heartbeat", time.time())
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


# ---------------------------------------------------------------------------------------------- processes
def worker_command(space_file, storage, study, trials, budget, sampler, pruner, seed, heartbeat):
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


def _die_with_parent():
    """A preexec_fn: on Linux, the worker gets SIGTERM when the parent dies (even by SIGKILL); elsewhere None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        return None
    return lambda: prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG; loaded before fork, nothing imported after


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def run_workers(k, command, log, on_line=None) -> list[str]:
    """K worker processes (`command(i)` gives worker i's argv) on one study; waits for them all and returns
    what went wrong with each that failed ("worker 1: killed by SIGKILL"). Ctrl-C or SIGTERM here (a
    KeyboardInterrupt) stops them with SIGTERM, killed after STOP_GRACE seconds, and propagates."""
    procs, threads = [], []
    lock = threading.Lock()  # one relayed line at a time: print() from two threads can interleave lines
    stopping = threading.Event()
    try:
        for i in range(k):
            procs.append(subprocess.Popen(command(i), env=blas_env(k), stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                          preexec_fn=_die_with_parent()))
        for i, p in enumerate(procs):
            threads.append(threading.Thread(target=_relay, args=(p, i, log, lock, stopping, on_line), daemon=True))
            threads[-1].start()
        codes = [p.wait() for p in procs]
        for t in threads:
            t.join()
    except BaseException:
        stopping.set()  # nothing more is relayed: the parent says in one line what happened
        raise
    finally:
        _stop(procs)
    return [f"worker {i}: {_describe(c)}" for i, c in enumerate(codes) if c != 0]


def _stop(procs) -> None:
    live = [p for p in procs if p.poll() is None]
    for p in live:
        p.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for p in live:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _relay(proc, i, log, lock, stopping, on_line):
    for line in proc.stdout:
        if stopping.is_set():
            continue
        with lock:
            log(f"[worker {i}] {line.rstrip()}")
            if on_line is not None:
                on_line(line)


__all__ = ["run_workers", "worker_command", "blas_env", "fail_stale_trials", "retry_stale", "Heartbeat",
           "check_workers", "max_workers", "HOST", "MAX_RETRY"]
