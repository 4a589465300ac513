"""Shared test helpers (import them with `from conftest import softmax, blobs`) and the `postgres` fixture."""
import os
import shutil
import socket
import subprocess
import tempfile

import numpy as np
import pytest


def softmax(z):
    """Row-wise softmax of a vector or a matrix, in float64, shifted by the max (the reference formula)."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def blobs(n=200, seed=0, sep=1.5):
    """Two gaussian blobs in 2-D centred at (−sep, −sep) and (sep, sep); labels alternate 0, 1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, 2)) + np.where(y[:, None] == 1, sep, -sep)
    return X.astype(np.float32), y


# ---------------------------------------------------------------------------------------------- PostgreSQL
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name):
    import glob

    for folder in (*sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True), "/usr/local/bin", "/usr/bin"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return shutil.which(name)


def _unavailable(reason):
    """Skip where PostgreSQL is missing, except under CI, where scripts/setup-tests.sh installed it: fail there."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on a free localhost port (as `nobody` when the tests run as root:
    initdb refuses root); yields an SQLAlchemy URL; stopped and deleted afterwards."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _unavailable("PostgreSQL (initdb, pg_ctl) is not installed (scripts/setup-tests.sh installs it)")
    if not os.environ.get("CI"):
        pytest.importorskip("psycopg")
    folder = tempfile.mkdtemp(prefix="numnet-pg-")
    data, port = os.path.join(folder, "data"), free_port()
    prefix = []
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("nobody")
        os.chmod(folder, 0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "nobody", "--"] if shutil.which("runuser") else ["su", "nobody", "-s", "/bin/sh",
                                                                                     "-c"]
    if prefix and prefix[0] == "su":
        def sh(cmd):
            return subprocess.run(prefix + [" ".join(cmd)], capture_output=True, text=True, timeout=60)
    else:
        def sh(cmd):
            return subprocess.run(prefix + cmd, capture_output=True, text=True, timeout=60)
    p = sh([initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
    if p.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"initdb failed: {p.stderr.strip()[:200]}")
    p = sh([pg_ctl, "-D", data, "-l", os.path.join(folder, "log"), "-w", "-t", "30", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    if p.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"pg_ctl start failed: {p.stderr.strip()[:200]}")
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE numnet")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/numnet"
    finally:
        sh([pg_ctl, "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- layers
def fwd(layer, x, training=False, rng=None):
    """(y, cache): a layer's forward pass on its own variables (the explicit-state API, as the network runs it)."""
    return layer.forward(layer.variables, x, training, rng)


def bwd(layer, cache, dy, need_dx=True):
    """(dx, grads): a layer's backward pass on its own variables, from `fwd`'s cache."""
    return layer.backward(layer.variables, cache, dy, need_dx)


# ---------------------------------------------------------------------------------------------- the CLI
def run_cli(capsys, *argv, seconds=None):
    """(exit status, stdout, stderr) of `numnet argv` run in-process; never a traceback. With `seconds`, an alarm
    turns a hang into a failed test instead of a blocked suite."""
    import signal

    from numnet.cli import main

    def hung(signum, frame):
        raise TimeoutError(f"numnet {' '.join(map(str, argv))} did not finish in {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung) if seconds else None
    if seconds:
        signal.alarm(seconds)
    try:
        rc = main([str(a) for a in argv])
    finally:
        if seconds:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def assert_user_error(rc, err, *words):
    """One `numnet: error:` line, exit status 2, naming each of `words`."""
    assert rc == 2, (rc, err)
    assert err.startswith("numnet: error: ") and err.count("\n") == 1, f"expected one error line, got {err!r}"
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"
