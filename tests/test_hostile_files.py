"""Issue #23, reliability round two, the file side: every path numnet reads must be a regular file (a FIFO
must not hang, /dev/zero must not be read for ever), `--data` files bounded from their headers, stale
temporaries of killed writers removed, saved files without setuid bits, the checkpoint folder locked,
training refused before allocating a network that does not fit, and the messages of bad input. Each case
ends in one line `numnet: error: ...` (exit 2), fast. Test names carry the issue's item numbers."""
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, run_cli

import numnet

TRAIN = ["--train-size", "300", "--validation-size", "100", "--epochs", "1", "--sizes", "784,16,10", "--quiet"]


def run(capsys, *argv, seconds=60):
    """`numnet argv` with an alarm: a hang fails the test instead of blocking the suite."""
    return run_cli(capsys, *argv, seconds=seconds)


@pytest.fixture
def model(tmp_path):
    return numnet.Network.from_sizes([784, 16, 10], seed=0).save(tmp_path / "m.npz")


def fifo(path) -> Path:
    os.mkfifo(path)
    return Path(path)


# ------------------------------------------------------------------------------ 4. FIFOs and devices
def _fifo_cases(tmp_path, model):
    """(argv, the flag or word the error must name) for every kind of path numnet reads."""
    f = fifo(tmp_path / "pipe.npz")
    ck = tmp_path / "ck"
    ck.mkdir()
    fifo(ck / "checkpoint.npz")
    return [
        (["evaluate", f], str(f)),
        (["evaluate", "/dev/zero"], "/dev/zero"),
        (["predict", model, f], str(f)),
        (["predict", model, "/dev/zero"], "/dev/zero"),
        (["gradcheck", "--model", f], str(f)),
        (["train", *TRAIN[:-3], "--init-from", f, "--out", tmp_path / "o.npz"], str(f)),
        (["train", "--resume", ck, "--out", tmp_path / "o.npz"], "checkpoint.npz"),
        (["train", "--config", f], str(f)),
        (["train", "--config", "/dev/zero"], "/dev/zero"),
        (["evaluate", model, "--data", f], str(f)),
        (["evaluate", model, "--data", f"{f},{f}"], str(f)),
        (["evaluate", model, "--data", "/dev/zero"], "/dev/zero"),
        (["errors", "--tags", f], str(f)),
        (["plot", f, "--out", tmp_path], str(f)),
    ]


def test_4_fifos_and_devices_are_refused_not_read(capsys, tmp_path, model):
    for argv, word in _fifo_cases(tmp_path, model):
        t0 = time.monotonic()
        rc, out, err = run(capsys, *argv, seconds=20)
        assert_user_error(rc, err, word, "not a regular file")
        assert "not found" not in err
        assert time.monotonic() - t0 < 10, argv


def test_4_run_json_fifo_on_resume(capsys, tmp_path):
    rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", tmp_path / "ck", "--out", tmp_path / "m.npz")
    assert rc == 0, err
    (tmp_path / "ck" / "run.json").unlink()
    fifo(tmp_path / "ck" / "run.json")
    rc, out, err = run(capsys, "train", "--resume", tmp_path / "ck", "--out", tmp_path / "m.npz", seconds=20)
    assert_user_error(rc, err, "run.json", "not a regular file")


def test_4_one_helper_names_each_kind(tmp_path):
    from numnet.utils.files import regular_file

    with pytest.raises(FileNotFoundError, match="model file not found"):
        regular_file(tmp_path / "none", "model file")
    with pytest.raises(ValueError, match="is a directory"):
        regular_file(tmp_path, "model file")
    with pytest.raises(ValueError, match="a FIFO, not a regular file"):
        regular_file(fifo(tmp_path / "p"), "model file")
    with pytest.raises(ValueError, match="a character device, not a regular file"):
        regular_file("/dev/null", "image file")
    (tmp_path / "link").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        regular_file(tmp_path / "link", "image file")
    (tmp_path / "ok").write_text("x")
    assert regular_file(tmp_path / "ok") == tmp_path / "ok"


# ------------------------------------------------------------------------------ 13. dead writers' temporaries
def _killed_writer(target: Path) -> Path:
    """Start a process writing `target` through atomic_write, kill -9 it mid-write; its temporary stays."""
    code = ("import sys, time\nfrom numnet.utils.files import atomic_write\n"
            "with atomic_write(sys.argv[1]) as f:\n    f.write(b'half'); f.flush(); print('writing', flush=True)\n"
            "    time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, env=os.environ)
    assert p.stdout.readline().strip() == b"writing"
    p.kill()
    p.wait()
    (left,) = [q for q in target.parent.iterdir() if q.name.startswith(f".{target.name}.") and q.name.endswith(".tmp")]
    return left


def test_13_kill_9_while_writing_out_leaves_no_temporary_after_the_next_write(capsys, tmp_path):
    out = tmp_path / "m.npz"
    left = _killed_writer(out)
    old = time.time() - 60
    os.utime(left, (old, old))
    rc, _, err = run(capsys, "train", *TRAIN, "--out", out, "--history", tmp_path / "h.json")
    assert rc == 0, err
    assert not left.exists() and out.exists()


def test_13_only_dead_and_own_temporaries_are_removed(tmp_path):
    from numnet.utils import files

    target = tmp_path / "h.json"
    old = time.time() - 60
    dead = tmp_path / ".h.json.abcd1234.tmp"
    young = tmp_path / ".h.json.young123.tmp"
    other = tmp_path / ".h.json.notours.tmp"   # 7 characters: not numnet's pattern
    someone = tmp_path / ".other.json.abcd1234.tmp"
    for p in (dead, young, other, someone):
        p.write_text("x")
    for p in (dead, other, someone):
        os.utime(p, (old, old))
    live = tmp_path / ".h.json.live1234.tmp"
    live.write_text("x")
    os.utime(live, (old, old))
    import fcntl

    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a live writer holds its temporary's lock
        files.write_text_atomic(target, "{}")
    assert not dead.exists()
    assert young.exists() and other.exists() and someone.exists() and live.exists()
    assert target.read_text() == "{}"


# ------------------------------------------------------------------------------ 18. file modes
def test_18_replacing_a_setuid_file_drops_the_special_and_execute_bits(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"old")
    os.chmod(target, 0o4755)
    numnet.Network.from_sizes([4, 3, 2], seed=0).save(target)
    assert target.stat().st_mode & 0o7777 == 0o644


def test_18_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        numnet.Network.from_sizes([4, 3, 2], seed=0).save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o7777 == 0o640


# ------------------------------------------------------------------------------ 3. --data bounded from headers
def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _idx(path, header: bytes, body: bytes = b"", gz=False):
    data = header + body
    path.write_bytes(gzip.compress(data, 1) if gz else data)
    return path


def _peak(fn):
    """(result or exception, peak bytes allocated through Python and NumPy while `fn` ran)."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            result = fn()
        except ValueError as e:
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_3_npz_declaring_too_much_is_refused_before_reading(tmp_path, monkeypatch):
    from numnet.data import labelled

    monkeypatch.setattr(labelled, "MAX_DATA_BYTES", 4 * 2**20)
    path = _npz(tmp_path / "d.npz", X=np.zeros((2000, 784), np.uint8), y=np.zeros(2000, np.int64))  # 6 MB as float32
    result, peak = _peak(lambda: labelled.load_labelled(path))
    assert isinstance(result, ValueError) and "refusing" in str(result) and str(path) in str(result)
    assert peak < 2**20


def test_3_compressed_npz_bomb_is_refused_from_its_headers(tmp_path):
    from numnet.data import labelled

    path = tmp_path / "bomb.npz"  # 2 MB on disk, 1.1 GB of uint8 declared, 4.4 GB as float32
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (1_400_000, 784)})
        with zf.open(zipfile.ZipInfo("X.npy"), "w", force_zip64=True) as f:
            f.write(buf.getvalue())
            zeros = bytes(2**24)
            for _ in range(1_400_000 * 784 // 2**24):
                f.write(zeros)
            f.write(bytes(1_400_000 * 784 % 2**24))
        zf.writestr("y.npy", b"")
    result, peak = _peak(lambda: labelled.load_labelled(path))
    assert isinstance(result, ValueError), result
    assert str(path) in str(result) and ("refusing" in str(result))
    assert peak < 8 * 2**20


def test_3_idx_gzip_declaring_too_much_is_refused(tmp_path, monkeypatch):
    from numnet.data import labelled

    monkeypatch.setattr(labelled, "MAX_DATA_BYTES", 8 * 2**20)
    images = _idx(tmp_path / "i.idx.gz", struct.pack(">BBBBIII", 0, 0, 8, 3, 100_000, 28, 28),
                  bytes(100_000 * 784), gz=True)
    labels = _idx(tmp_path / "l.idx", struct.pack(">BBBBI", 0, 0, 8, 1, 100_000), bytes(100_000))
    result, peak = _peak(lambda: labelled.load_labelled(f"{images},{labels}"))
    assert isinstance(result, ValueError) and "refusing" in str(result) and str(images) in str(result)
    assert peak < 2**20


def _bad_data_files(tmp_path):
    ok_y = np.zeros(3, np.int64)
    good = _npz(tmp_path / "good.npz", X=np.zeros((3, 784), np.uint8), y=ok_y)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    rank0 = _idx(tmp_path / "rank0.idx", bytes([0, 0, 8, 0]), b"\x05")
    labels = _idx(tmp_path / "l.idx", struct.pack(">BBBBI", 0, 0, 8, 1, 3), bytes(3))
    return [
        (_npz(tmp_path / "zero_d.npz", X=np.float32(3), y=ok_y), "0-d"),
        (_npz(tmp_path / "zero_d_y.npz", X=np.zeros((3, 784)), y=np.int64(1)), "0-d"),
        (f"{rank0},{labels}", "rank 0"),
        (_npz(tmp_path / "structured.npz", X=np.zeros(3, dtype=[("a", "f4"), ("b", "f4")]), y=ok_y), "structured"),
        (truncated, "truncated"),
        (_npz(tmp_path / "complex.npz", X=np.zeros((3, 784), np.complex128), y=ok_y), "complex128"),
        (_npz(tmp_path / "datetime.npz", X=np.zeros((3, 784)), y=np.zeros(3, "datetime64[s]")), "datetime64"),
        (_npz(tmp_path / "strings.npz", X=np.zeros((3, 784)), y=np.array(["a", "b", "c"])), "<U1"),
        (_npz(tmp_path / "nan.npz", X=np.full((3, 784), np.nan), y=ok_y), "NaN"),
        (_npz(tmp_path / "noy.npz", X=np.zeros((3, 784))), "needs arrays X and y"),
        (_npz(tmp_path / "negative.npz", X=np.zeros((3, 784)), y=-ok_y - 1), ">= 0"),
    ]


def test_3_bad_data_files_are_one_line_naming_the_file(capsys, tmp_path, model):
    for data, word in _bad_data_files(tmp_path):
        rc, out, err = run(capsys, "evaluate", model, "--data", data)
        assert_user_error(rc, err, word, str(data).split(",")[0])
        assert "allow_pickle" not in err


@pytest.mark.parametrize("command", [["errors", "--out", "{o}", "--sample", "2"], ["label-issues"]])
def test_3_every_data_command_uses_the_bounded_reader(capsys, tmp_path, model, command):
    data = _npz(tmp_path / "complex.npz", X=np.zeros((3, 784), np.complex64), y=np.zeros(3, np.int64))
    argv = [command[0], model, "--data", data, *[a.replace("{o}", str(tmp_path / "o")) for a in command[1:]]]
    rc, out, err = run(capsys, *argv)
    assert_user_error(rc, err, "complex64")


def test_3_good_data_files_still_read(tmp_path):
    from numnet.data import load_labelled

    X8 = np.arange(6 * 784, dtype=np.uint8).reshape(6, 28, 28)
    y = np.arange(6) % 3
    X, labels = load_labelled(_npz(tmp_path / "d.npz", images=X8, labels=y))
    assert X.shape == (6, 784) and X.dtype == np.float32 and X.max() <= 1 and list(labels) == list(y)
    numnet.data.write_idx(tmp_path / "i.idx.gz", X8)
    numnet.data.write_idx(tmp_path / "l.idx", y.astype(np.uint8))
    X2, labels2 = load_labelled(f"{tmp_path / 'i.idx.gz'},{tmp_path / 'l.idx'}", dtype="float64")
    assert X2.dtype == np.float64 and np.allclose(X2, X) and list(labels2) == list(y)


# ------------------------------------------------------------------------------ 7. training memory estimated first
def test_7_oversized_network_is_refused_before_allocating(capsys, tmp_path, monkeypatch):
    import tracemalloc

    from numnet.utils import memory

    monkeypatch.chdir(tmp_path)
    for available in (None, 2 * 10**9):  # this machine's own figure, and a small machine's
        if available:
            monkeypatch.setattr(memory, "available_bytes", lambda: available)
        tracemalloc.start()
        rc, out, err = run(capsys, "train", "--sizes", "784,1500000,10", seconds=30)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert_user_error(rc, err, "784,1500000,10", "needs about", "GB", "available", "--batch-size")
        assert peak < 50 * 2**20
    assert not list(tmp_path.iterdir())


def test_7_oversized_batch_is_refused(capsys, tmp_path, monkeypatch):
    from numnet.utils import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 300 * 10**6)
    rc, out, err = run(capsys, "train", "--sizes", "784,4096,10", "--batch-size", "50000", "--out", tmp_path / "m.npz")
    assert_user_error(rc, err, "batch 50000", "activations")


def test_7_the_estimate_follows_what_training_allocates():
    import tracemalloc

    from numnet.utils.memory import estimate_training, rows_that_fit

    X = np.random.default_rng(0).random((1000, 784), dtype=np.float32)
    y = np.arange(1000) % 10
    for sizes, batch, optimizer, slots in (([784, 512, 10], 256, numnet.Adam(1e-3), 2),
                                          ([784, 1000, 300, 10], 500, numnet.SGD(0.1), 0)):
        tracemalloc.start()
        numnet.Network.from_sizes(sizes, seed=0).fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer,
                                                     verbose=0, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        estimate = estimate_training(sizes, batch, 4, slots).total
        assert 0.9 * peak < estimate < 3 * peak, (sizes, peak, estimate)
    assert rows_that_fit([784, 60000, 10], 10**9) < 10000 and rows_that_fit([784, 30, 10], 10**9) == 10000


def test_7_default_runs_are_not_refused(capsys, tmp_path, monkeypatch):
    from numnet.utils import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 10**9)  # a small machine still trains the default
    rc, out, err = run(capsys, "train", *TRAIN, "--out", tmp_path / "m.npz")
    assert rc == 0, err


def test_7_available_memory_reads_rlimit(tmp_path):
    code = ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))\n"
            "from numnet.utils.memory import available_bytes\nprint(available_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ)
    assert 0 < int(out.stdout) < 3 * 2**30, out.stderr


# ------------------------------------------------------------------------------ 8. one run per output
def _start_long_run(tmp_path, *flags, wait_for="ck/checkpoint.npz"):
    """A `numnet train` subprocess that keeps running; returns it once it has written `wait_for`."""
    p = subprocess.Popen([sys.executable, "-m", "numnet", "train", "--train-size", "200", "--validation-size", "100",
                          "--sizes", "784,8,10", "--epochs", "100000", "--quiet", *map(str, flags)],
                         cwd=tmp_path, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / wait_for).exists():
        assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else "slow"
        time.sleep(0.05)
    return p


def test_8_second_run_into_a_running_checkpoint_folder_or_out_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _start_long_run(tmp_path, "--checkpoint-dir", "ck", "--out", "m.npz")
    try:
        rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", "ck", "--out", "other.npz")
        assert_user_error(rc, err, "--checkpoint-dir ck", "in use by another numnet run", f"process {p.pid}")
        rc, out, err = run(capsys, "train", *TRAIN, "--out", "m.npz")
        assert_user_error(rc, err, "--out m.npz", "in use")
        rc, out, err = run(capsys, "train", "--resume", "ck", "--out", "third.npz", "--quiet")
        assert_user_error(rc, err, "--resume ck", "in use")
    finally:
        p.kill()
        p.wait()
    assert not Path("other.npz").exists() and not Path("third.npz").exists()
    # the killed run's locks died with it (their files stay); the next run takes them and removes them
    assert list(tmp_path.glob(".*.lock"))
    rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", "ck", "--out", "m.npz", "--overwrite")
    assert rc == 0, err
    assert not list(tmp_path.glob(".*.lock"))


def test_8_new_run_into_another_runs_checkpoint_folder_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", "ck", "--out", "a.npz", "--seed", "1")
    assert rc == 0, err
    before = {p.name: p.read_bytes() for p in Path("ck").iterdir()}
    rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", "ck", "--out", "b.npz", "--seed", "2")
    assert_user_error(rc, err, "--checkpoint-dir ck", "another run's checkpoint.npz", "--resume ck", "--overwrite")
    assert {p.name: p.read_bytes() for p in Path("ck").iterdir()} == before and not Path("b.npz").exists()
    rc, out, err = run(capsys, "train", "--resume", "ck", "--checkpoint-dir", "ck", "--epochs", "2", "--out", "a.npz",
                       "--quiet")
    assert rc == 0, err  # resuming into its own folder is what the folder is for
    rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", "ck", "--out", "b.npz", "--seed", "2",
                       "--overwrite")
    assert rc == 0, err
    assert json.loads(Path("ck/run.json").read_text())["seed"] == 2
    assert numnet.load_checkpoint("ck").epoch == 1


def test_8_lock_file_respects_the_umask(tmp_path):
    from numnet.utils.locks import hold, lock_path

    old = os.umask(0o002)
    try:
        with hold(tmp_path / "shared", "--checkpoint-dir shared") as lock:
            assert lock == lock_path(tmp_path / "shared") and lock.stat().st_mode & 0o777 == 0o664
            with pytest.raises(ValueError, match="in use"):
                with hold(tmp_path / "shared", "--checkpoint-dir shared"):
                    pass
    finally:
        os.umask(old)
    assert not lock.exists()


# ------------------------------------------------------------------------------ 15. numeric flags validated
@pytest.mark.parametrize("argv, word", [
    (["watch", "{d}", "--interval", "inf"], "--interval"), (["watch", "{d}", "--interval", "1e-300"], "--interval"),
    (["watch", "{d}", "--interval", "nan"], "--interval"),
    (["gradcheck", "--tol", "nan"], "--tol"), (["gradcheck", "--tol", "-1"], "--tol"), (["gradcheck", "--tol", "0"], "--tol"),
    (["diagnose", "{m}", "--human-error", "0.2", "--train-size", "-1"], "--train-size"),
    (["diagnose", "{m}", "--human-error", "0.2", "--train-size", "0"], "--train-size"),
    (["diagnose", "{m}", "--human-error", "0.2", "--train-dev-size", "0"], "--train-dev-size"),
])
def test_15_numeric_flags_are_validated(capsys, tmp_path, model, argv, word):
    t0 = time.monotonic()
    rc, out, err = run(capsys, *[a.replace("{d}", str(tmp_path)).replace("{m}", str(model)) for a in argv], seconds=20)
    assert_user_error(rc, err, word)
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------ 16. layer count bounded
def _identity_model(path, n_layers):
    meta = {**numnet.Network.from_sizes([4, 3], seed=0).architecture()}
    arrays = numnet.Network.from_sizes([4, 3], seed=0).arrays()
    meta["layers"] = meta["layers"] + [{"type": "identity"}] * n_layers
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in {"__meta__": np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays}.items():
            buf = io.BytesIO()
            np.save(buf, arr)
            zf.writestr(name + ".npy", buf.getvalue())
    return path


def test_16_a_model_of_200000_layers_is_refused_quickly(capsys, tmp_path):
    path = _identity_model(tmp_path / "deep.npz", 200_000)
    t0 = time.monotonic()
    rc, out, err = run(capsys, "evaluate", path, "--data", tmp_path / "none.npz", seconds=30)
    assert_user_error(rc, err, str(path), "200002 layers", "1000")
    assert time.monotonic() - t0 < 3
    assert numnet.load(_identity_model(tmp_path / "ok.npz", 50)).layers  # a deep but sane model still loads


def test_16_sizes_are_bounded_too(capsys, tmp_path):
    rc, out, err = run(capsys, "train", "--sizes", ",".join(["4"] * 1002), "--out", tmp_path / "m.npz")
    assert_user_error(rc, err, "sizes", "1000")


# ------------------------------------------------------------------------------ 17. images and init overflow
@pytest.mark.parametrize("w, h", [(3, 20000), (20000, 3), (10, 5000)])
def test_17_extreme_aspect_images_are_refused(capsys, tmp_path, model, w, h):
    from PIL import Image

    img = np.zeros((h, w), np.uint8)
    img[h // 2 - 1:h // 2 + 1, :] = 255
    img[:, w // 2] = 255
    Image.fromarray(img).save(tmp_path / "strip.png")
    rc, out, err = run(capsys, "predict", model, tmp_path / "strip.png")
    assert_user_error(rc, err, "strip.png", f"{w}x{h}", "elongated")
    assert not out


def test_17_usual_aspects_still_load(tmp_path):
    from PIL import Image

    from numnet.data.images import load_digit

    img = np.zeros((400, 300), np.uint8)
    img[100:300, 140:160] = 255
    Image.fromarray(img).save(tmp_path / "photo.png")
    assert load_digit(tmp_path / "photo.png").max() > 0.5


@pytest.mark.parametrize("flag, value", [("--bias-init", "1e30"), ("--init-std", "1e308"), ("--keep-prob", "1e-300"),
                                         ("--bias-init", "-1e30")])
def test_17_overflowing_initialisation_names_the_flag_not_the_rate(capsys, tmp_path, flag, value):
    extra = ["--init", "normal"] if flag == "--init-std" else []
    rc, out, err = run(capsys, "train", *TRAIN, *extra, flag, value, "--out", tmp_path / "m.npz")
    assert_user_error(rc, err, flag)
    assert "learning rate" not in err and not (tmp_path / "m.npz").exists()


def test_17_divergence_from_the_first_batch_blames_the_initialisation():
    X = np.random.default_rng(0).random((200, 20), dtype=np.float32)
    y = np.arange(200) % 3
    net = numnet.Network.from_sizes([20, 16, 3], seed=0, keep_prob=1e-300)
    with pytest.raises(ValueError, match="first mini-batch") as e:
        net.fit(X, y, epochs=1, batch_size=20, optimizer=numnet.SGD(0.1), verbose=0, seed=0)
    assert "lower the learning rate" not in str(e.value)


# ------------------------------------------------------------------------------ 18. messages
def test_18_eps_is_not_handed_to_ghostscript(capsys, tmp_path, model):
    eps = tmp_path / "digit.eps"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nnewpath 10 10 moveto 18 18 lineto stroke\n"
                    b"showpage\n%%EOF\n")
    from PIL import EpsImagePlugin

    called = []
    real = EpsImagePlugin.Ghostscript
    EpsImagePlugin.Ghostscript = lambda *a, **k: called.append(a) or real(*a, **k)
    try:
        rc, out, err = run(capsys, "predict", model, eps)
    finally:
        EpsImagePlugin.Ghostscript = real
    assert_user_error(rc, err, "digit.eps", "not a readable image", "PNG")
    assert not called


@pytest.mark.parametrize("kind", ["json", "toml", "history"])
def test_18_4300_digit_numbers_name_the_file(capsys, tmp_path, model, kind):
    big = "9" * 5000
    if kind == "toml":
        path = tmp_path / "c.toml"
        path.write_text(f"epochs = {big}\n")
        argv = ["train", "--config", path]
    elif kind == "history":
        path = tmp_path / "h.json"
        path.write_text(f'{{"epoch": [{big}]}}')
        argv = ["plot", path, "--out", tmp_path]
    else:
        ck = tmp_path / "ck"
        rc, _, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", ck, "--out", tmp_path / "m.npz")
        assert rc == 0, err
        path = ck / "run.json"
        path.write_text(f'{{"epochs": {big}}}')
        argv = ["train", "--resume", ck, "--out", tmp_path / "m.npz"]
    rc, out, err = run(capsys, *argv)
    assert_user_error(rc, err, str(path))
    assert len(err) < 400


def test_18_nan_in_data_names_the_file_and_file_exists_names_the_flag(capsys, tmp_path, model):
    data = _npz(tmp_path / "nan.npz", X=np.full((3, 784), np.nan, np.float32), y=np.zeros(3, np.int64))
    rc, out, err = run(capsys, "errors", model, "--data", data, "--out", tmp_path / "o")
    assert_user_error(rc, err, "nan.npz", "NaN")
    (tmp_path / "afile").write_text("x")
    good = _npz(tmp_path / "good.npz", X=np.random.default_rng(0).random((20, 784)), y=np.arange(20) % 10)
    for argv in (["errors", model, "--data", good, "--out", tmp_path / "afile"],
                 ["label-issues", model, "--data", good, "--out", tmp_path / "afile"],
                 ["evaluate", model, "--worst", "2", "--worst-dir", tmp_path / "afile"]):
        rc, out, err = run(capsys, *argv)
        assert_user_error(rc, err, "afile", argv[-2], "is a file")
        assert "File exists" not in err and not out  # refused before the work, not after it


# ------------------------------------------------------------------ 6: out-of-range buffers in a model file
def _saved_with(tmp_path, name, layers, change):
    net = numnet.Network(layers, "log_likelihood")
    arrays = {k: v.copy() for k, v in net.arrays().items()}
    change(arrays)
    path = tmp_path / name
    from numnet.utils.archive import write_archive

    write_archive(path, net.architecture(), arrays)
    return path


@pytest.mark.parametrize("case, change, words", [
    ("negative running_var", lambda a: a["1.running_var"].__setitem__(0, -1.0), ["running_var", "negative"]),
    ("zero var, tiny eps", lambda a: a["1.running_var"].__setitem__(slice(None), 0.0), ["eps", "zero running_var"]),
])
def test_6_batch_norm_buffers_out_of_range_are_refused(capsys, tmp_path, case, change, words):
    eps = 1e-300 if "tiny" in case else 1e-5
    path = _saved_with(tmp_path, "bn.npz", [numnet.Dense(784, 4, seed=0), numnet.BatchNorm(4, eps=eps),
                                            numnet.ReLU(), numnet.Dense(4, 10, seed=1), numnet.Softmax()], change)
    with pytest.raises(ValueError, match="layer 1 \\(batch_norm\\)"):
        numnet.load(path)
    rc, out, err = run(capsys, "evaluate", path)
    assert_user_error(rc, err, "bn.npz", *words)


def test_6_standardize_with_a_zero_std_is_refused(capsys, tmp_path):
    def zero_std(a):
        a["0.std"][3] = 0.0

    path = _saved_with(tmp_path, "std.npz", [numnet.Standardize(784), numnet.Dense(784, 10, seed=0),
                                             numnet.Softmax()], zero_std)
    rc, out, err = run(capsys, "evaluate", path)
    assert_user_error(rc, err, "std.npz", "standardize std")
    good = _saved_with(tmp_path, "ok.npz", [numnet.Standardize(784), numnet.Dense(784, 10, seed=0),
                                            numnet.Softmax()], lambda a: None)
    assert numnet.load(good).n_in == 784  # in-range buffers still load


def test_4_search_space_and_watched_history_must_be_regular_files(capsys, tmp_path):
    """A FIFO as a search space or as the history `numnet watch` follows: one line at once, no hang."""
    fifo = tmp_path / "space.toml"
    os.mkfifo(fifo)
    rc, out, err = run(capsys, "search", fifo, "--trials", "1", "--out", tmp_path / "s", seconds=20)
    assert_user_error(rc, err, "space.toml", "FIFO")
    rc, out, err = run(capsys, "search", "/dev/zero", "--trials", "1", "--out", tmp_path / "s", seconds=20)
    assert_user_error(rc, err, "/dev/zero", "not a regular file")
    (tmp_path / "run").mkdir()
    os.mkfifo(tmp_path / "run" / "history.json")
    rc, out, err = run(capsys, "watch", tmp_path / "run", "--no-plot", seconds=20)
    assert_user_error(rc, err, "history.json", "not a regular file")
