"""Issue #13, reliability and first contact: hostile or broken inputs (files declaring huge sizes, deep JSON,
decompression bombs, out-of-range weights), diverging runs, unscaled inputs, unwritable outputs, stale
temporary files, signals, file modes, and the first messages a user sees. Each case must end in one line
`numnet: error: ...` (exit 2) or a clear ValueError, fast, without allocating what a file declares and
without leaving partial files behind. Case numbers are the issue's."""
import gzip
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
from numpy.lib import format as npy_format

import numnet
from numnet.cli import main
from numnet.utils.archive import META

MB = 2**20


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def assert_user_error(rc, err, *words):
    assert rc == 2, (rc, err)
    assert err.startswith("numnet: error: ") and err.count("\n") == 1, f"expected one error line, got {err!r}"
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


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
    with pytest.raises(ValueError, match="not numeric|unexpected"):
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
        net.fit(X, y, epochs=3, batch_size=1, optimizer=numnet.train.optimizers.SGD(lr), seed=0, verbose=0)


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
