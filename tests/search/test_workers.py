"""Worker processes of `numnet search --workers K` (numnet.search.workers): bounded before any fork; SIGTERM
and Ctrl-C stop them cleanly in one line (their trials queued again); a worker SIGKILLed or stalled past its
heartbeats costs neither the report nor a crash."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from numnet.cli import main  # noqa: E402
from numnet.search.report import read_rows  # noqa: E402
from numnet.search.study import SearchError, fail_stale_trials, open_storage  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
#: 40 epochs of 1,000 images: a trial takes a second or more, so signals land mid-trial
SLOW = {"epochs": 40, "train_size": 1000, "validation_size": 200, "sizes": [784, 16, 10], "optimizer": "momentum",
        "search": {"lr": {"dist": "log", "low": 1e-3, "high": 0.3},
                   "batch_size": {"dist": "choice", "values": [32, 64]}}}


def _write_space(folder, d=SLOW) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in d.items() if k != "search"]
    for name, spec in d["search"].items():
        lines += [f"[search.{name}]"] + [f"{a} = {json.dumps(b)}" for a, b in spec.items()]
    path = Path(folder) / "space.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _env():
    return {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _start(tmp_path, *extra):
    """`numnet search --workers 2` in its own process group (as a terminal runs it)."""
    argv = [sys.executable, "-m", "numnet", "search", str(_write_space(tmp_path)), "--workers", "2", "--seed", "0",
            "--out", str(tmp_path / "o"), *map(str, extra)]
    p = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    return p, str(tmp_path / "o" / "journal.log")


def _trials(storage):
    return optuna.load_study(study_name="space", storage=open_storage(storage, read_only=True)).trials


def _wait_running(storage, n, p, timeout=90):
    """At least n trials running mid-training, each with its worker's pid."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert p.poll() is None, p.communicate()
        try:
            running = [t for t in _trials(storage) if t.state.name == "RUNNING" and "worker" in t.user_attrs
                       and len(t.intermediate_values) >= 2]
        except (KeyError, FileNotFoundError, SearchError):  # not created yet
            running = []
        if len(running) >= n:
            return running
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} trials running after {timeout} s")


def _state(pid) -> str:
    """The process's state letter (R, S, T, Z, ...; "" when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def _alive(pid) -> bool:
    return _state(pid) not in ("", "Z")


def _stop_all(p, pids=()):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()


# ---------------------------------------------------------------------------------------------- bounds
def test_workers_are_bounded_before_anything_forks(tmp_path, capsys, monkeypatch):
    def no_fork(*a, **k):
        raise AssertionError("a worker process was started")

    monkeypatch.setattr(subprocess, "Popen", no_fork)
    space = _write_space(tmp_path)
    limit = 2 * (os.cpu_count() or 1)
    for n in (limit + 1, 10 ** 20):
        rc = main(["search", str(space), "--workers", str(n), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("numnet: error: --workers") and err.count("\n") == 1, err
        assert f"at most {limit}" in err
    assert not (tmp_path / "o" / "journal.log").exists()


# ---------------------------------------------------------------------------------------------- signals
@pytest.mark.parametrize("how", ["SIGTERM to numnet search", "Ctrl-C in its terminal"])
def test_stopping_a_search_stops_its_workers_in_one_line(tmp_path, how):
    p, storage = _start(tmp_path, "--trials", "6")
    pids = []
    try:
        running = _wait_running(storage, 2, p)
        pids = [t.user_attrs["worker"]["pid"] for t in running]
        if how.startswith("SIGTERM"):
            os.kill(p.pid, signal.SIGTERM)
        else:
            os.killpg(p.pid, signal.SIGINT)  # the terminal signals the foreground process group
        out, err = p.communicate(timeout=60)
    finally:
        _stop_all(p, pids)
    assert p.returncode == (128 + signal.SIGTERM if how.startswith("SIGTERM") else 130), err
    assert "Traceback" not in out + err and err.count("\n") == 1 and err.startswith("numnet: interrupted"), err
    assert not any(_alive(pid) for pid in pids), "a worker outlived numnet search"
    trials = _trials(storage)
    assert not [t.number for t in trials if t.state.name == "RUNNING"]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed, "no trial was interrupted"  # the workers were mid-trial (one may have just finished)
    for t in failed:  # each interrupted trial failed and queued again with the same settings
        again = [u for u in trials if u.system_attrs.get("failed_trial") == t.number]
        assert len(again) == 1 and again[0].state.name == "WAITING" and again[0].params == t.params


def _stop_outside_the_lock(pid, journal):
    """SIGSTOP a worker while it does not hold the journal's write lock (a worker stopped while it appends
    blocks every writer until it continues: the kernel's flock cannot be taken from a live process): stopped
    once the lock is free (tried here without waiting)."""
    import fcntl

    for _ in range(400):
        os.kill(pid, signal.SIGSTOP)
        while _state(pid) not in ("T", "t"):  # the signal takes effect a moment after kill() returns
            time.sleep(0.001)
        with open(journal + ".flock", "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # the stopped worker (or the other one) holds it
                pass
            else:
                fcntl.flock(f, fcntl.LOCK_UN)
                return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("the worker always held the journal lock")


# ---------------------------------------------------------------------------------------------- lost workers
def test_a_sigkilled_worker_does_not_cost_the_report(tmp_path):
    p, storage = _start(tmp_path, "--trials", "4")
    victim = None
    try:
        victim = _wait_running(storage, 1, p)[0].user_attrs["worker"]["pid"]
        os.kill(victim, signal.SIGKILL)
        out, err = p.communicate(timeout=240)
    finally:
        _stop_all(p)
    assert p.returncode == 0, err
    assert "killed by SIGKILL" in err and err.startswith("numnet: warning:") and "Traceback" not in out + err, err
    rows = read_rows(tmp_path / "o" / "trials.csv")
    assert sum(r["state"] == "COMPLETE" for r in rows) == 4 and (tmp_path / "o" / "best.toml").is_file()


def test_a_worker_stalled_past_its_heartbeats_does_not_crash(tmp_path):
    """SIGSTOP one worker mid-trial: its trial is declared dead after 3 heartbeats and queued again; on SIGCONT
    the stalled worker drops its result instead of crashing on UpdateFinishedTrialError, the queued copy runs,
    and the parent writes the report."""
    p, storage = _start(tmp_path, "--trials", "6", "--heartbeat", "1")
    stalled = None
    try:
        victim = None
        while victim is None:  # stopped mid-trial (a short trial may end before the stop lands: try again)
            stalled = _wait_running(storage, 2, p)[0].user_attrs["worker"]["pid"]
            _stop_outside_the_lock(stalled, storage)
            victim = next((t for t in _trials(storage) if t.state.name == "RUNNING"
                           and t.user_attrs.get("worker", {}).get("pid") == stalled), None)
            if victim is None:
                os.kill(stalled, signal.SIGCONT)
        time.sleep(3.5)  # three heartbeats: any worker's next check declares the trial dead; do it here, as
        study = optuna.load_study(study_name="space", storage=open_storage(storage))  # the other may be done
        fail_stale_trials(study, grace=3.0)
        assert _trials(storage)[victim.number].state.name == "FAIL"
        os.kill(stalled, signal.SIGCONT)
        out, err = p.communicate(timeout=240)
    finally:
        if stalled is not None:
            os.kill(stalled, signal.SIGCONT) if _alive(stalled) else None
        _stop_all(p)
    assert p.returncode == 0, err + out
    assert "Traceback" not in out + err and "UpdateFinishedTrialError" not in out + err
    assert f"trial {victim.number}: declared dead while this worker was stalled" in out, out
    rows = read_rows(tmp_path / "o" / "trials.csv")
    assert sum(r["state"] == "COMPLETE" for r in rows) == 6
    assert any(r["retry_of"] == str(victim.number) and r["state"] == "COMPLETE" for r in rows)
