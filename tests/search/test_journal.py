"""Search storages (numnet.search.storage, numnet.search.journal): a journal torn by a full disk is repaired, not
destroyed; a damaged journal or an unknown operation code is one line; a file that is not a journal is left
untouched; --heartbeat is validated; the journal lock respects the umask and excludes Optuna's own lock."""
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from numnet.cli import main  # noqa: E402
from numnet.data import load_mnist  # noqa: E402
from numnet.search import search  # noqa: E402
from numnet.search.study import FlockLock  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
TINY = {"epochs": 1, "train_size": 200, "validation_size": 500, "sizes": [784, 8, 10], "optimizer": "momentum"}
SPACE = {**TINY, "search": {"lr": {"dist": "log", "low": 1e-2, "high": 0.5}}}
SPACE_TOML = ('epochs = 1\ntrain_size = 200\nvalidation_size = 500\nsizes = [784, 8, 10]\noptimizer = "momentum"\n'
              '[search.lr]\ndist = "log"\nlow = 0.01\nhigh = 0.5\n')


@pytest.fixture(scope="module")
def tiny():
    (X, y), (Xv, yv), (Xt, yt) = load_mnist(validation_size=500)
    return (X[:200], y[:200]), (Xv, yv), (Xt[:200], yt[:200])


def _plain_optuna_study(path, name):
    """The study as Optuna alone reads it (what optuna-dashboard and the lab see)."""
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return optuna.load_study(study_name=name, storage=storage)


def _one_line_error(capsys, rc, *words):
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith("numnet: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    for w in words:
        assert w in err, err
    return err


# ---------------------------------------------------------------------------------------------- torn journals
@pytest.mark.parametrize("torn", [b'{"op_code":8,"worker_id":"x-1","trial_id":0,"user_attr":{"heartb',
                                  b'{"op_code":2,"worker_id":"x-1","study_id":0,"user_attr":{"note":1}}'])
def test_a_torn_journal_is_repaired_by_the_next_run(tmp_path, tiny, torn):
    """ENOSPC (or a kill) mid-append leaves a last line without its newline: the next run repairs it (a torn
    record is cut, a complete one gets its newline) instead of gluing its first record onto it."""
    search(SPACE, trials=2, data=tiny, out=tmp_path, study="s", seed=0, report=False)
    journal = tmp_path / "journal.log"
    with open(journal, "ab") as f:
        f.write(torn)
    with pytest.warns(UserWarning, match="journal.log"):
        r = search(SPACE, trials=3, data=tiny, out=tmp_path, study="s", seed=0)
    assert [t.state.name for t in r.study.trials] == ["COMPLETE"] * 3
    assert journal.read_bytes().endswith(b"\n")
    study = _plain_optuna_study(journal, "s")  # Optuna alone reads every line
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert study.user_attrs.get("note") == (1 if torn.endswith(b"}}") else None)  # a complete record is kept


def test_a_damaged_line_or_an_unknown_operation_is_one_line(tmp_path, tiny, capsys):
    search(SPACE, trials=1, data=tiny, out=tmp_path, study="s", seed=0, report=False)
    journal = tmp_path / "journal.log"
    good = journal.read_bytes()
    space = tmp_path / "space.toml"
    space.write_text(SPACE_TOML)
    journal.write_bytes(good + b'{"op_code":99,"worker_id":"x-1"}\n')
    rc = main(["search", str(space), "--study", "s", "--out", str(tmp_path), "--trials", "2"])
    _one_line_error(capsys, rc, "unknown operation code 99")
    lines = good.splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:2]) + b'{"op_code":4,"wor\n' + b"".join(lines[2:]))
    rc = main(["search", str(space), "--study", "s", "--out", str(tmp_path), "--trials", "2"])
    _one_line_error(capsys, rc, "line 3 is damaged")


# ---------------------------------------------------------------------------------------------- not a journal
def test_a_file_that_is_not_a_journal_is_left_untouched(tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text(SPACE_TOML)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    rc = main(["search", str(space), "--storage", str(notes), "--out", str(tmp_path / "o")])
    _one_line_error(capsys, rc, "not an Optuna journal file")
    assert notes.read_text() == "my notes\n"
    assert {p.name for p in tmp_path.iterdir()} <= {"space.toml", "notes.txt", "o"}
    assert not (tmp_path / "notes.txt.flock").exists() and not (tmp_path / "notes.txt.lock").exists()


def test_a_fifo_as_storage_is_refused_without_hanging(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(SPACE_TOML)
    fifo = tmp_path / "journal.log"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": SRC}
    p = subprocess.run([sys.executable, "-m", "numnet", "search", str(space), "--storage", str(fifo), "--out",
                        str(tmp_path / "o")], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "not a regular file" in p.stderr and p.stderr.count("\n") == 1, p.stderr


# ---------------------------------------------------------------------------------------------- --heartbeat
@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "0.5", "1e9"])
def test_heartbeat_is_validated(tmp_path, capsys, value):
    space = tmp_path / "space.toml"
    space.write_text(SPACE_TOML)
    rc = main(["search", str(space), "--heartbeat", value, "--out", str(tmp_path / "o")])
    _one_line_error(capsys, rc, "--heartbeat must be")
    assert not (tmp_path / "o" / "journal.log").exists()


# ---------------------------------------------------------------------------------------------- locks
def test_the_journal_lock_file_respects_the_umask(tmp_path):
    journal = tmp_path / "journal.log"
    old = os.umask(0o002)  # a group-shared folder: the group may join the search
    try:
        lock = FlockLock(str(journal))
        lock.acquire()
        lock.release()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "journal.log.flock").stat().st_mode) == 0o664


def _acquire_in_thread(lock):
    done = threading.Event()
    t = threading.Thread(target=lambda: (lock.acquire(), done.set()), daemon=True)
    t.start()
    return done


def test_numnet_and_optuna_journal_locks_exclude_each_other(tmp_path):
    from optuna.storages.journal import JournalFileOpenLock, JournalFileSymlinkLock

    journal = str(tmp_path / "journal.log")
    for theirs in (JournalFileSymlinkLock(journal), JournalFileOpenLock(journal)):
        theirs.acquire()  # optuna-dashboard, or any Optuna process, writing the journal
        ours = FlockLock(journal)
        got = _acquire_in_thread(ours)
        assert not got.wait(0.5), "numnet wrote while Optuna held journal.log.lock"
        theirs.release()
        assert got.wait(5)
        theirs = JournalFileSymlinkLock(journal, grace_period=None)
        got = _acquire_in_thread(theirs)
        assert not got.wait(0.5), "Optuna wrote while numnet held the journal lock"
        ours.release()
        assert got.wait(5)
        theirs.release()
    assert not os.path.lexists(journal + ".lock")


def test_a_lock_holder_killed_does_not_block_the_next(tmp_path):
    """A numnet process SIGKILLed while it holds the lock (mid-append) leaves journal.log.lock behind; the
    next one removes it at once (the flock proves its holder is gone) instead of waiting Optuna's 30 s."""
    journal = str(tmp_path / "journal.log")
    code = ("import sys, time; from numnet.search.study import FlockLock; l = FlockLock(sys.argv[1]); "
            "l.acquire(); print('held', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, journal], env={**os.environ, "PYTHONPATH": SRC},
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        assert os.path.lexists(journal + ".lock")
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    t0 = time.monotonic()
    lock = FlockLock(journal)
    lock.acquire()
    lock.release()
    assert time.monotonic() - t0 < 5
    assert not os.path.lexists(journal + ".lock")


def test_a_full_disk_mid_search_is_one_line_and_the_rerun_repairs_the_journal(tmp_path, capsys, monkeypatch):
    """ENOSPC while a trial reports: the first write is cut halfway, every later one fails. The search stops
    with one line (no Optuna traceback); the next run cuts the torn record, retries the trial and finishes."""
    import errno

    from optuna.storages.journal import JournalFileBackend

    space = tmp_path / "space.toml"
    space.write_text(SPACE_TOML.replace("epochs = 1", "epochs = 3"))
    real, calls = JournalFileBackend.append_logs, []

    def disk_full(self, logs):
        calls.append(len(logs))
        if len(calls) < 12:
            return real(self, logs)
        if len(calls) == 12:  # the write the disk filled up during
            data = "\n".join(json.dumps(r, separators=(",", ":")) for r in logs).encode() + b"\n"
            with open(tmp_path / "o" / "journal.log", "ab") as f:
                f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o" / "journal.log"))

    monkeypatch.setattr(JournalFileBackend, "append_logs", disk_full)
    argv = ["search", str(space), "--trials", "3", "--seed", "0", "--heartbeat", "1", "--out", str(tmp_path / "o")]
    rc = main(argv)
    _one_line_error(capsys, rc, "No space left on device")
    assert not (tmp_path / "o" / "journal.log").read_bytes().endswith(b"\n")  # torn
    monkeypatch.setattr(JournalFileBackend, "append_logs", real)
    time.sleep(3.2)  # its heartbeat goes stale (the trial's worker, this process, is still alive)
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0 and "Traceback" not in out + err, err
    assert err.startswith("numnet: warning:") and "removed a torn last record" in err, err
    study = _plain_optuna_study(tmp_path / "o" / "journal.log", "space")
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 3
