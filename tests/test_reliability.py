"""Issue #13, reliability and first contact: hostile or broken inputs (files declaring huge sizes, deep JSON,
decompression bombs, out-of-range weights), diverging runs, unscaled inputs, unwritable outputs, stale
temporary files, signals, file modes, and the first messages a user sees. Each case must end in one line
`numnet: error: ...` (exit 2) or a clear ValueError, fast, without allocating what a file declares and
without leaving partial files behind. Case numbers are the issue's."""
import gzip
import importlib
import io
import json
import os
import signal
import struct
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, run_cli
from numpy.lib import format as npy_format

import numnet
from numnet.cli import main
from numnet.utils.archive import META

MB = 2**20


run = run_cli  # `numnet argv` in-process: (status, stdout, stderr), never a traceback


class peak_memory:
    """Peak Python/NumPy allocation inside the block (tracemalloc), in bytes."""

    def __enter__(self):
        tracemalloc.start()
        return self

    def __exit__(self, *exc):
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def npy_header(shape, dtype="<f8") -> bytes:
    """The bytes of a .npy header declaring `shape` (no data)."""
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def small_net(sizes=(784, 16, 10), dtype="float32"):
    return numnet.Network.from_sizes(list(sizes), seed=0, dtype=dtype)


def model_members(net):
    meta = np.frombuffer(json.dumps(net.architecture()).encode(), dtype=np.uint8)
    return {META: meta, **net.arrays()}


def write_zip(path, members, extra=()):
    """An NPZ from arrays (`members`) plus raw (name, bytes, compression) entries."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in members.items():
            buf = io.BytesIO()
            np.save(buf, arr)
            zf.writestr(name + ".npy", buf.getvalue())
        for name, data, compression in extra:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def files_in(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# ------------------------------------------------------------------------------ 1. model NPZ with an extra huge member
def test_1_extra_huge_member_is_refused_unread(capsys, tmp_path):
    path = tmp_path / "model.npz"
    # 256 MB of zeros, deflated to about 250 KB: declared in the zip directory, never decompressed
    big = npy_header((32 * MB,)) + bytes(256 * MB)
    write_zip(path, model_members(small_net()), [("junk.npy", big, zipfile.ZIP_DEFLATED)])
    del big
    with peak_memory() as m:
        rc, out, err = run(capsys, "evaluate", path)
    assert_user_error(rc, err, "junk")
    assert m.peak < 20 * MB


def test_1_member_declaring_more_than_it_holds(tmp_path):
    members = model_members(small_net())
    del members["0.W"]
    path = write_zip(tmp_path / "m.npz", members, [("0.W.npy", npy_header((100000, 100000)), zipfile.ZIP_STORED)])
    with peak_memory() as m, pytest.raises(ValueError, match="corrupt|declares"):
        numnet.load(path)
    assert m.peak < 5 * MB


def test_1_archive_declaring_too_much_in_total(tmp_path, monkeypatch):
    from numnet.utils import archive

    monkeypatch.setattr(archive, "MAX_ARCHIVE_BYTES", 10_000)
    net = small_net()
    net.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="refusing to read"):
        archive.read_archive(tmp_path / "m.npz", "model file", max_bytes=archive.MAX_ARCHIVE_BYTES)


def test_1_object_and_unexpected_members(tmp_path):
    bad = write_zip(tmp_path / "o.npz", {**model_members(small_net())},
                    [("x.npy", npy_header((3,), "|O"), zipfile.ZIP_STORED)])
    with pytest.raises(ValueError, match="only integer|unexpected"):
        numnet.load(bad)
    odd = write_zip(tmp_path / "n.npz", model_members(small_net()), [("../evil.txt", b"hi", zipfile.ZIP_STORED)])
    with pytest.raises(ValueError, match="unexpected member"):
        numnet.load(odd)


def test_1_extra_array_in_a_model_is_refused(tmp_path):
    net = small_net()
    path = write_zip(tmp_path / "m.npz", {**model_members(net), "9.W": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="unexpected array"):
        numnet.load(path)


def test_1_checkpoint_with_unexpected_member(tmp_path):
    from numnet.train import checkpoints

    net = small_net((4, 3, 2))
    X = np.random.default_rng(0).random((20, 4))
    y = np.arange(20) % 2
    net.fit(X, y, epochs=1, checkpoint_dir=tmp_path / "ck", verbose=0)
    path = tmp_path / "ck" / "checkpoint.npz"
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("junk.npy", npy_header((1,)) + bytes(8))
    with pytest.raises(ValueError, match="unexpected"):
        checkpoints.load_checkpoint(tmp_path / "ck", numnet.Network.from_architecture)


def test_1_saved_models_still_load(tmp_path):
    net = small_net()
    back = numnet.load(net.save(tmp_path / "m.npz"))
    assert all(np.array_equal(a, b) for a, b in zip(net.param_arrays(), back.param_arrays()))


# ------------------------------------------------------------------------------ 2./3. meta declaring a huge Dense
@pytest.mark.parametrize("n", [20000, 1000000])
def test_2_3_huge_dense_declared_in_meta(capsys, tmp_path, n):
    net = small_net()
    arch = net.architecture()
    arch["layers"][0].update(n_in=n, n_out=n)
    members = {META: np.frombuffer(json.dumps(arch).encode(), np.uint8), **net.arrays()}
    path = write_zip(tmp_path / "huge.npz", members)
    with peak_memory() as m:
        rc, out, err = run(capsys, "evaluate", path)
    assert_user_error(rc, err, "layer 0", "refusing to allocate")
    assert m.peak < 20 * MB


def test_2_huge_batchnorm_declared(tmp_path):
    net = numnet.Network.from_sizes([4, 3, 2], batch_norm=True, seed=0)
    arch = net.architecture()
    i = next(k for k, s in enumerate(arch["layers"]) if s["type"] == "batch_norm")
    arch["layers"][i]["n"] = 10**9
    with pytest.raises(ValueError, match="refusing to allocate"):
        numnet.Network.from_architecture(arch, net.arrays())


# ------------------------------------------------------------------------------ 4. deeply nested JSON
def test_4_deep_json_in_model_meta(capsys, tmp_path):
    net = small_net()
    deep = ("[" * 100000 + "]" * 100000).encode()
    path = write_zip(tmp_path / "deep.npz", {META: np.frombuffer(deep, np.uint8), **net.arrays()})
    rc, out, err = run(capsys, "evaluate", path)
    assert_user_error(rc, err, "nested too deeply")


def test_4_deep_json_in_nielsen_and_history_files(tmp_path):
    from numnet import nielsen
    from numnet.train.history import History

    path = tmp_path / "net.json"
    path.write_text('{"sizes": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(ValueError, match="nested too deeply"):
        nielsen.load(path)
    with pytest.raises(ValueError, match="nested too deeply"):
        History.load(path)


def test_4_deep_json_history_in_cli(capsys, tmp_path):
    path = tmp_path / "h.json"
    path.write_text("{" + '"a":{' * 50000 + "}" * 50001)
    rc, out, err = run(capsys, "plot", path, "--out", tmp_path)
    assert_user_error(rc, err, "nested too deeply")


def test_4_json_size_limit(tmp_path, monkeypatch):
    from numnet.utils import jsonio

    path = tmp_path / "big.json"
    path.write_text(json.dumps(list(range(1000))))
    with pytest.raises(ValueError, match="too large"):
        jsonio.read_json(path, "file", max_bytes=100)
    assert jsonio.json_depth(b'{"a": "[[[[", "b": [[1]]}') == 3


def test_4_deep_toml_config(capsys, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("sizes = " + "[" * 100000 + "]" * 100000 + "\n")
    rc, out, err = run(capsys, "train", "--config", path, "--out", tmp_path / "m.npz")
    assert_user_error(rc, err, "c.toml")
    assert not (tmp_path / "m.npz").exists()


# ------------------------------------------------------------------------------ 5. gzip IDX bomb
def idx_header(shape, code=0x08):
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)


def test_5_idx_declaring_huge_dims(tmp_path):
    from numnet.data.idx import read_idx

    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header((60000, 100000, 100000)) + bytes(1000)))
    with peak_memory() as m, pytest.raises(ValueError, match="refusing"):
        read_idx(path)
    assert m.peak < 5 * MB


def test_5_gzip_bomb_stops_at_declared_size(tmp_path):
    from numnet.data.idx import read_idx

    # declares 10 bytes of data but decompresses to 64 MB: read no further than 11 bytes of it
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(idx_header((10,)))
        for _ in range(64):
            f.write(bytes(MB))
    with peak_memory() as m, pytest.raises(ValueError, match="extra bytes"):
        read_idx(path)
    assert m.peak < 5 * MB


def test_5_idx_limit_is_configurable(tmp_path, monkeypatch):
    from numnet.data import idx

    path = tmp_path / "x.idx"
    idx.write_idx(path, np.zeros((10, 10), np.uint8))
    assert idx.read_idx(path).shape == (10, 10)
    monkeypatch.setattr(idx, "MAX_IDX_BYTES", 50)
    with pytest.raises(ValueError, match="limit"):
        idx._read_idx_bytes(path, idx.MAX_IDX_BYTES)


# ------------------------------------------------------------------------------ 6. huge images
def png_declaring(path, width, height, mode="L"):
    """A tiny PNG whose header declares width x height (the pixel data is a small stub: never decoded)."""
    import zlib

    bit_depth, color = (1, 0) if mode == "1" else (8, 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                           + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("w, h, mode", [(10000, 10000, "L"), (15000, 10000, "1")])
def test_6_huge_png_refused_before_decoding(tmp_path, w, h, mode):
    from numnet.data.images import load_digit

    path = png_declaring(tmp_path / "big.png", w, h, mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning escapes
        with peak_memory() as m, pytest.raises(ValueError, match="megapixels"):
            load_digit(path)
    assert m.peak < 5 * MB


def test_6_huge_png_in_cli_predict(capsys, tmp_path):
    model = small_net().save(tmp_path / "m.npz")
    path = png_declaring(tmp_path / "big.png", 10000, 10000)
    rc, out, err = run(capsys, "predict", model, path)
    assert rc == 2 and "megapixels" in err and err.count("\n") == 1


def test_6_large_image_is_shrunk_early(tmp_path):
    from PIL import Image

    from numnet.data.images import load_digit

    img = Image.new("L", (4000, 3000), 255)
    img.paste(0, (1500, 1000, 2500, 2000))
    img.save(tmp_path / "photo.png")
    x = load_digit(tmp_path / "photo.png")
    assert x.shape == (784,) and x.max() > 0.9


# ------------------------------------------------------------------------------ 7. weights out of float32 range
def test_7_float64_weights_overflowing_float32(capsys, tmp_path):
    net = small_net()
    arrays = {k: v.astype(np.float64) for k, v in net.arrays().items()}
    arrays["0.W"][0, 0] = 1e300
    path = write_zip(tmp_path / "m.npz", {META: np.frombuffer(json.dumps(net.architecture()).encode(), np.uint8),
                                          **arrays})
    rc, out, err = run(capsys, "evaluate", path)
    assert_user_error(rc, err, "0.W", "too large for float32")


# ------------------------------------------------------------------------------ 8. constructor-only fields in a layer spec
@pytest.mark.parametrize("field, value", [("rng", 0), ("seed", 1), ("dtype", "float64")])
def test_8_layer_spec_with_constructor_only_field(tmp_path, field, value):
    net = small_net((4, 3, 2))
    arch = net.architecture()
    arch["layers"][0][field] = value
    with pytest.raises(ValueError, match=f"unknown field.*{field}"):
        numnet.Network.from_architecture(arch, net.arrays())


# ------------------------------------------------------------------------------ 16. the optimizer's own default rate
def test_16_adam_uses_its_default_rate():
    from numnet.runs.run import build_optimizer, resolve_settings

    cfg = resolve_settings(overrides={"optimizer": "adam"})
    assert cfg["lr"] == 0.001 and build_optimizer(cfg).lr == 0.001
    assert resolve_settings(overrides={"optimizer": "adam", "lr": 0.01})["lr"] == 0.01


# ------------------------------------------------------------------------------ 21. empty size in --sizes
@pytest.mark.parametrize("sizes", ["784,,10", "784,10,", ",784,10"])
def test_21_empty_size_is_an_error(capsys, tmp_path, sizes):
    rc, out, err = run(capsys, "train", "--sizes", sizes, "--out", tmp_path / "m.npz")
    assert_user_error(rc, err, "--sizes")
    assert not (tmp_path / "m.npz").exists()


# ------------------------------------------------------------------------------ 9. divergence beyond NaN
def blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 8)).astype(np.float32)
    return X, (X[:, 0] > X[:, 1]).astype(int)


@pytest.mark.parametrize("lr, l2, setting", [(1e6, 0.0, "learning rate"), (0.1, 1e300, "l2"), (50.0, 0.0, "learning rate")])
def test_9_divergence_names_the_setting(lr, l2, setting):
    X, y = blobs()
    net = numnet.Network.from_sizes([8, 32, 2], activation="relu", cost="log_likelihood", init="he", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way
        with pytest.raises(numnet.train.callbacks.TrainingDiverged, match=f"diverged.*{setting}"):
            net.fit(X, y, epochs=5, batch_size=10, optimizer=numnet.train.optimizers.SGD(lr), l2=l2, seed=0,
                    verbose=0)


def test_9_divergence_in_cli_is_one_line(capsys, tmp_path):
    rc, out, err = run(capsys, "train", "--train-size", "300", "--validation-size", "100", "--epochs", "1",
                       "--sizes", "784,16,10", "--lr", "1e6", "--out", tmp_path / "m.npz", "--quiet")
    assert_user_error(rc, err, "diverged", "learning rate")
    assert files_in(tmp_path) == []


def test_9_normal_runs_do_not_trip_the_detector():
    X, y = blobs()
    for lr in (0.01, 0.5, 3.0):
        net = numnet.Network.from_sizes([8, 16, 2], seed=1)
        h = net.fit(X, y, epochs=3, batch_size=1, optimizer=numnet.train.optimizers.SGD(lr), seed=0, verbose=0)
        assert len(h.epoch) == 3 and np.isfinite(h.batch_cost).all()  # ran to the end: no divergence raised


# ------------------------------------------------------------------------------ 10. unscaled inputs
@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_10_unscaled_integer_inputs_warn(dtype):
    X, y = blobs(50)
    net = numnet.Network.from_sizes([8, 4, 2], seed=0)
    with pytest.warns(UserWarning, match="inputs look unscaled.*divide by 255"):
        net.fit((X * 255).astype(dtype), y, epochs=1, verbose=0, seed=0)


def test_10_scaled_inputs_do_not_warn():
    X, y = blobs(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        numnet.Network.from_sizes([8, 4, 2], seed=0).fit(X, y, epochs=1, verbose=0, seed=0)
        numnet.Network.from_sizes([8, 4, 2], seed=0).fit((X > 0.5).astype(np.uint8), y, epochs=1, verbose=0, seed=0)


# ------------------------------------------------------------------------------ 11./12. output paths, disk full
TRAIN = ["--train-size", "300", "--validation-size", "100", "--epochs", "1", "--sizes", "784,16,10", "--quiet"]


@pytest.mark.parametrize("flag, kind", [("--out", "dir"), ("--out", "under-file"), ("--checkpoint-dir", "file"),
                                        ("--checkpoint-dir", "under-file"), ("--plot", "file"),
                                        ("--history", "under-file"), ("--json-summary", "dir")])
def test_11_12_output_paths_checked_before_training(capsys, tmp_path, monkeypatch, flag, kind):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    Path("adir").mkdir()
    path = {"dir": "adir", "file": "afile", "under-file": "afile/sub"}[kind]
    before = files_in(tmp_path)
    rc, out, err = run(capsys, "train", *TRAIN, flag, path)
    assert_user_error(rc, err, flag)
    assert files_in(tmp_path) == before and Path("afile").read_text() == "x"


@pytest.mark.parametrize("argv", [["plot", "{h}", "--out", "afile"], ["plot", "{h}", "--out", "afile/sub"],
                                  ["compare-optimizers", "--out", "afile", "--epochs", "2"],
                                  ["evaluate", "{m}", "--worst", "2", "--worst-dir", "afile"]])
def test_11_12_other_commands_check_their_output_folders(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    small_net().save("m.npz")
    numnet.train.history.History().save("h.json")
    before = files_in(tmp_path)
    rc, out, err = run(capsys, *[a.format(h="h.json", m="m.npz") for a in argv])
    assert_user_error(rc, err, "afile")
    assert files_in(tmp_path) == before


def test_12_save_onto_a_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match="directory"):
        small_net().save(tmp_path)
    assert files_in(tmp_path) == []


def test_12_disk_full_after_training_keeps_the_model(capsys, tmp_path, monkeypatch):
    import errno

    from numnet.utils import files

    monkeypatch.chdir(tmp_path)
    (tmp_path / "full").mkdir()
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).parent.name == "full":
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    rc, out, err = run(capsys, "train", *TRAIN, "--out", "full/m.npz")
    assert_user_error(rc, err, "full/m.npz", "No space left on device", "saved to")
    rescued = list(tmp_path.glob("numnet-model-rescued-*.npz"))
    assert len(rescued) == 1 and numnet.load(rescued[0]).sizes == [784, 16, 10]
    assert str(rescued[0].name) in err
    assert files_in(tmp_path / "full") == []  # the temporary file beside the target is gone


def test_12_history_write_failure_after_the_model_is_saved(capsys, tmp_path, monkeypatch):
    import errno

    from numnet.utils import files

    monkeypatch.chdir(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("h.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    rc, out, err = run(capsys, "train", *TRAIN, "--out", "m.npz", "--history", "h.json")
    assert_user_error(rc, err, "model was saved to m.npz", "h.json")
    assert files_in(tmp_path) == ["m.npz"]


def test_12_checkpoint_write_failure_keeps_the_model(capsys, tmp_path, monkeypatch):
    import errno

    from numnet.utils import files

    monkeypatch.chdir(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "checkpoint.npz":
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", "ck", "--out", "m.npz")
    assert_user_error(rc, err, "training stopped", "No space left on device", "saved to m.npz")
    assert numnet.load("m.npz").sizes == [784, 16, 10]
    assert not [p for p in Path("ck").iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------ 13. stale temporaries, SIGTERM
def test_13_resume_removes_stale_temporaries(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", *TRAIN, "--checkpoint-dir", "ck", "--out", "m.npz")
    assert rc == 0, err
    stale = [Path("ck/.checkpoint.npz.ab12cd_e.tmp"), Path("ck/.history.json.zz99yy88.tmp")]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    mine = Path("ck/notes.tmp")
    mine.write_text("not numnet's")
    rc, out, err = run(capsys, "train", "--resume", "ck", "--epochs", "2", "--out", "m.npz", "--quiet")
    assert rc == 0, err
    assert not any(p.exists() for p in stale) and mine.exists()


def test_13_sigterm_is_handled_like_ctrl_c(capsys, tmp_path, monkeypatch):
    from numnet.train.callbacks import Callback

    runmod = importlib.import_module("numnet.runs.run")

    monkeypatch.chdir(tmp_path)

    class Kill(Callback):  # runs before the checkpoint callback: epoch 1's checkpoint is the last one written
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    real_run = runmod.run
    monkeypatch.setattr(runmod, "run", lambda *a, **k: real_run(*a, **{**k, "callbacks": [Kill()]}))
    monkeypatch.setattr(numnet.runs, "run", runmod.run)
    previous = signal.getsignal(signal.SIGTERM)
    rc = main(["train", "--train-size", "300", "--validation-size", "100", "--epochs", "3", "--sizes", "784,16,10",
               "--quiet", "--checkpoint-dir", "ck", "--out", "m.npz"])
    out, err = capsys.readouterr()
    assert rc == 143, err
    assert "numnet train --resume ck" in err
    assert signal.getsignal(signal.SIGTERM) == previous
    assert Path("ck/checkpoint.npz").exists() and not Path("m.npz").exists()


# ------------------------------------------------------------------------------ 14. file modes follow the umask
def test_14_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        small_net().save(tmp_path / "m.npz")
        numnet.train.history.History().save(tmp_path / "h.json")
        os.umask(0o077)
        small_net().save(tmp_path / "private.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "h.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.npz").stat().st_mode & 0o777 == 0o600


def test_14_replacing_a_file_keeps_its_mode(tmp_path):
    path = small_net().save(tmp_path / "m.npz")
    os.chmod(path, 0o640)
    small_net().save(path)
    assert path.stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------------------ 17. first contact texts
def test_17_header_mentions_the_regularisers_and_one_epoch(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", *TRAIN[:-1], "--keep-prob", "0.8", "--augment", "shift",
                       "--schedule", "cosine")
    assert rc == 0, err
    header = out.splitlines()[0]
    for word in ("1 epoch,", "dropout keep 0.8", "augment shift", "cosine schedule"):
        assert word in header, header
    assert "1 epochs" not in out


def test_17_recipes_show_numnet_targets_not_published_figures(capsys):
    rc, out, err = run(capsys, "recipes")
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip() and not line.startswith("run")}
    for name in ("default", "best", "bn-dropout", "adam-100"):
        assert "[target: " in lines[name] and "published" not in lines[name]
    assert "[published: 95.42%" in lines["nielsen-ch1"]
    assert "about 15 s" in lines["default"]


def test_17_compare_optimizers_prints_the_course_figure_as_percent(capsys):
    from numnet.cli import _print_results

    _print_results({"adam": {"accuracy": 0.94, "seconds": 1.0, "course": 0.797}})
    out = capsys.readouterr().out
    assert "(course: 79.70%)" in out


def _warn_then_stop(monkeypatch, tmp_path, message, category):
    """Make loading the data warn `message`, then fail with "stop here" (the CLI's warning path, no training)."""
    monkeypatch.chdir(tmp_path)

    def noisy(*a, **k):
        warnings.warn(message, category)
        raise ValueError("stop here")

    monkeypatch.setattr(importlib.import_module("numnet.runs.run"), "mnist_data", noisy)


def test_17_quiet_runs_print_no_runtime_warnings(capsys, tmp_path, monkeypatch):
    _warn_then_stop(monkeypatch, tmp_path, "overflow encountered in exp", RuntimeWarning)
    rc, out, err = run(capsys, "train", *TRAIN)
    assert_user_error(rc, err, "stop here")
    assert "overflow" not in err


def test_17_warnings_are_one_line_without_paths(capsys, tmp_path, monkeypatch):
    _warn_then_stop(monkeypatch, tmp_path, "something odd", UserWarning)
    rc, out, err = run(capsys, "train", *TRAIN[:-1])
    assert err.splitlines()[0] == "numnet: warning: something odd"
    assert ".py" not in err


# ------------------------------------------------------------------------------ 18. predict on several files
def test_18_predict_reports_each_bad_file_and_predicts_the_rest(capsys, tmp_path):
    from numnet.data.images import digit_to_image

    model = small_net().save(tmp_path / "m.npz")
    good = [tmp_path / "a.png", tmp_path / "b.png"]
    for i, p in enumerate(good):
        x = np.zeros((28, 28))
        x[6:22, 10 + i:14 + i] = 1.0
        digit_to_image(x, p)
    (tmp_path / "text.png").write_text("not an image")
    rc, out, err = run(capsys, "predict", model, good[0], tmp_path / "missing.png", tmp_path / "text.png", good[1])
    assert rc == 2
    assert [line.split(":")[0] for line in out.splitlines()] == [str(good[0]), str(good[1])]
    lines = err.splitlines()
    assert len(lines) == 3 and "missing.png" in lines[0] and "text.png" in lines[1] and "2 of 4" in lines[2]


# ------------------------------------------------------------------------------ 20. plots
def test_20_integer_epoch_ticks_and_distinct_line_styles(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from numnet.report import plots

    captured = []
    real_save = plots.save_figure

    def keep(fig, path):
        captured.append(fig)
        return real_save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    plots.plot_curves({"sgd": [1.0, 0.5, 0.25], "momentum": [1.0, 0.5, 0.25]}, tmp_path / "c.png")
    h = numnet.train.history.History()
    for e in (1, 2, 3):
        h.record(e, train_cost=1.0 / e, train_accuracy=0.5, val_cost=1.0 / e, val_accuracy=0.5, lr=0.1, epoch_time=1.0)
    plots.plot_history(h, tmp_path)
    for fig in captured:
        ax = fig.axes[0]
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert all(float(t).is_integer() for t in ticks), ticks
        lines = [l for l in ax.get_lines() if not l.get_label().startswith("_")]
        styles = {(l.get_linestyle(), l.get_marker()) for l in lines}
        assert len(styles) == len(lines)  # identical curves stay distinguishable


@pytest.mark.parametrize("opt, lr, activation, cost", [("momentum", 50.0, "relu", "log_likelihood"),
                                                        ("sgd", 1e6, "sigmoid", "quadratic")])
def test_9_constant_outputs_are_divergence(opt, lr, activation, cost):
    from numnet.data import load_mnist
    from numnet.train.optimizers import make_optimizer

    (X, y), _, _ = load_mnist(validation_size=0)
    net = numnet.Network.from_sizes([784, 64, 10], activation=activation, cost=cost, init="he", seed=0)
    with pytest.raises(numnet.train.callbacks.TrainingDiverged, match="same output for every input.*learning rate"):
        net.fit(X[:3000], y[:3000], epochs=3, batch_size=32, optimizer=make_optimizer(opt, lr=lr), seed=0, verbose=0)


def test_9_one_class_data_may_give_constant_outputs():
    X, _ = blobs(40)
    net = numnet.Network.from_sizes([8, 4, 2], seed=0)
    h = net.fit(X, np.ones(40, int), epochs=30, batch_size=5, optimizer=numnet.train.optimizers.SGD(50.0), seed=0,
                verbose=0)
    assert len(h.epoch) == 30  # constant outputs on one-class data are not taken for divergence
    assert (net.predict(X) == 1).all()


# ------------------------------------------------------------------------------ first contact: installed data
def test_package_data_globs_match_the_bundled_files():
    """A non-editable install ships MNIST and the recipes only if pyproject's package-data globs find them."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["numnet"]
    package = root / "src" / "numnet"
    found = {g: list(package.glob(g)) for g in globs}
    assert all(found.values()), found
    shipped = {p for ps in found.values() for p in ps}
    assert package / "data" / "bundled" / "mnist" / "SHA256SUMS" in shipped
    assert package / "runs" / "recipes" / "default.toml" in shipped


def test_13_sigterm_before_training_exits_143(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def slow_data(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM should have stopped the run")

    monkeypatch.setattr(importlib.import_module("numnet.runs.run"), "mnist_data", slow_data)
    rc = main(["train", *TRAIN])
    out, err = capsys.readouterr()
    assert rc == 143 and err == "numnet: terminated\n"


def test_6_huge_jpeg_is_decoded_reduced(tmp_path, monkeypatch):
    from PIL import Image

    from numnet.data import images

    img = Image.new("L", (2000, 1600), 255)
    img.paste(0, (900, 500, 1100, 1100))
    img.save(tmp_path / "big.jpg", quality=90)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1_000_000)
    x = images.load_digit(tmp_path / "big.jpg")  # 3.2 MP: decoded at 1/8 scale, under the limit
    assert x.shape == (784,) and x.max() > 0.9
    img.save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="megapixels"):  # a PNG cannot be decoded reduced
        images.load_digit(tmp_path / "big.png")


def test_1_expected_member_with_a_huge_wrong_shape_is_not_read(tmp_path):
    members = model_members(small_net())
    del members["0.W"]
    # 0.W stored as (4096, 4096) float32 (64 MB): its shape is refused from the header, before its data is read
    path = tmp_path / "m.npz"
    write_zip(path, members)
    with zipfile.ZipFile(path, "a") as zf, zf.open(zipfile.ZipInfo("0.W.npy"), "w", force_zip64=True) as f:
        f.write(npy_header((4096, 4096), "<f4"))
        chunk = bytes(16 * MB)
        for _ in range(4):
            f.write(chunk)
        del chunk
    with peak_memory() as m, pytest.raises(ValueError, match="shape"):
        numnet.load(path)
    assert m.peak < 20 * MB


# ------------------------------------------------------------------------------ 19. noisy photos, float images
# In tests/data/test_photos.py: large photos of a drawn digit with grey noise, uneven lighting, specks, either
# polarity; float TIFFs in [0, 1] and [0, 255]; 16-bit PNGs; NaN/inf in a float image (one error line).
