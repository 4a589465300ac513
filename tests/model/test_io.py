"""Save/load: exact round trips, pickle-free files, every kind of damaged file rejected with a clear
ValueError, and atomic saving."""
import json

import numpy as np
import pytest

import numnet
from numnet import Network, load
from numnet.layers import BatchNorm, Dense, Dropout, LeakyReLU, Softmax


def _X(n=7, n_in=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, n_in))


def _train_a_little(net, n_in=4):
    X = _X(32, n_in, seed=1)
    y = (X[:, 0] > 0).astype(int)
    net.fit(X, y, epochs=1, batch_size=8, optimizer=numnet.SGD(0.1), seed=0)
    return net


NETS = {
    "plain": lambda dt: Network.from_sizes([4, 6, 2], activation="tanh", cost="quadratic", seed=1, dtype=dt),
    "dropout": lambda dt: Network.from_sizes([4, 6, 5, 2], activation="relu", keep_prob=[0.5, 0.8],
                                             cost="log_likelihood", seed=2, dtype=dt),
    "batch_norm": lambda dt: Network.from_sizes([4, 6, 5, 2], activation="elu", batch_norm=True, seed=3, dtype=dt),
    "custom": lambda dt: Network([Dense(4, 5, init="he", dtype=dt, seed=4), LeakyReLU(0.2),
                                  Dense(5, 3, bias=False, dtype=dt, seed=5), Softmax()], "cross_entropy"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", sorted(NETS))
def test_round_trip_is_exact(tmp_path, kind, dtype):
    net = _train_a_little(NETS[kind](dtype))
    if kind == "batch_norm":
        bn = net.layers[1]
        assert isinstance(bn, BatchNorm)
        assert not np.all(bn.buffers["running_mean"] == 0)  # training moved the running statistics
    path = net.save(tmp_path / "model.npz")
    assert path == tmp_path / "model.npz"
    back = load(path)
    assert back.dtype == np.dtype(dtype)
    assert back.cost == net.cost
    assert [type(l) for l in back.layers] == [type(l) for l in net.layers]
    assert [l.config() for l in back.layers] == [l.config() for l in net.layers]
    w, wb = net.get_weights(), back.get_weights()
    assert w.keys() == wb.keys()
    for k in w:
        assert wb[k].dtype == w[k].dtype
        np.testing.assert_array_equal(wb[k], w[k])
        assert wb[k].tobytes() == w[k].tobytes()  # bit-identical
    X = _X()
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    # saving again gives the same arrays
    back.save(tmp_path / "again.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as a, \
            np.load(tmp_path / "again.npz", allow_pickle=False) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def test_batchnorm_running_stats_are_saved(tmp_path):
    net = NETS["batch_norm"]("float32")
    for l in net.layers:
        if isinstance(l, BatchNorm):
            l.buffers["running_mean"][...] = np.arange(l.n)
            l.buffers["running_var"][...] = np.arange(l.n) + 2.0
    back = load(net.save(tmp_path / "bn.npz"))
    for a, b in zip(net.layers, back.layers):
        for k in a.buffers:
            np.testing.assert_array_equal(a.buffers[k], b.buffers[k])


def test_dropout_keep_prob_is_saved(tmp_path):
    back = load(NETS["dropout"]("float32").save(tmp_path / "d.npz"))
    assert [l.keep_prob for l in back.layers if isinstance(l, Dropout)] == [0.5, 0.8]


def test_file_loads_without_pickle_and_holds_json_meta(tmp_path):
    net = NETS["plain"]("float32")
    path = net.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as data:
        files = set(data.files)
        meta = json.loads(data["__meta__"].tobytes().decode("utf-8"))
        assert all(data[k].dtype != object for k in data.files)
    assert "__meta__" in files and "0.W" in files
    assert meta["cost"] == "quadratic" and meta["dtype"] == "float32"
    assert [l["type"] for l in meta["layers"]] == ["dense", "tanh", "dense", "sigmoid"]


def test_save_accepts_str_path(tmp_path):
    net = NETS["plain"]("float64")
    net.save(str(tmp_path / "s.npz"))
    np.testing.assert_array_equal(load(str(tmp_path / "s.npz")).forward(_X()), net.forward(_X()))


# ------------------------------------------------------------------------------------------ damaged files
@pytest.fixture
def saved(tmp_path):
    """(meta dict, arrays dict) of a valid saved model, and a writer for variants of it."""
    net = Network.from_sizes([4, 5, 3], seed=0)
    path = net.save(tmp_path / "good.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))

    def write(meta_obj=None, arrays_obj=None, raw_meta=None, name="bad.npz"):
        out = dict(arrays if arrays_obj is None else arrays_obj)
        if raw_meta is not None:
            out["__meta__"] = raw_meta
        elif meta_obj is not False:
            m = meta if meta_obj is None else meta_obj
            out["__meta__"] = np.frombuffer(json.dumps(m).encode("utf-8"), dtype=np.uint8)
        p = tmp_path / name
        np.savez(p, **out)
        return p

    return meta, arrays, write


def _copy(meta):
    return json.loads(json.dumps(meta))


def test_variant_writer_round_trips(saved):
    meta, arrays, write = saved
    net = load(write())
    assert net.sizes == [4, 5, 3]


def test_missing_meta(saved):
    _, _, write = saved
    with pytest.raises(ValueError, match="__meta__"):
        load(write(meta_obj=False))


def test_invalid_json(saved):
    _, _, write = saved
    with pytest.raises(ValueError, match="JSON"):
        load(write(raw_meta=np.frombuffer(b"{not json", dtype=np.uint8)))
    with pytest.raises(ValueError, match="JSON"):
        load(write(raw_meta=np.frombuffer(b"\xff\xfe\x00", dtype=np.uint8)))
    with pytest.raises(ValueError, match="__meta__"):
        load(write(raw_meta=np.arange(3, dtype=np.int64)))


@pytest.mark.parametrize("field,value,match", [
    ("format", "numnet-checkpoint", "format"),
    ("format", "keras", "format"),
    ("version", 2, "version"),
    ("version", "1", "version"),
    ("dtype", "float16", "dtype"),
    ("dtype", "int64", "dtype"),
    ("cost", "hinge", "unknown cost"),
    ("cost", ["quadratic"], "unknown cost"),
    ("cost", None, "unknown cost"),
    ("layers", [], "layers"),
    ("layers", "dense", "layers"),
])
def test_wrong_fields(saved, field, value, match):
    meta, _, write = saved
    m = _copy(meta)
    m[field] = value
    with pytest.raises(ValueError, match=match):
        load(write(m))


def test_top_level_not_an_object(saved):
    _, _, write = saved
    with pytest.raises(ValueError):
        load(write([1, 2, 3]))


@pytest.mark.parametrize("field", ["format", "version", "dtype", "cost", "layers"])
def test_missing_field(saved, field):
    meta, _, write = saved
    m = _copy(meta)
    del m[field]
    with pytest.raises(ValueError, match=field):
        load(write(m))


@pytest.mark.parametrize("kind", ["os.system", "__import__", "Dense", "eval", "", ["dense"], {"a": 1}, 3])
def test_unknown_layer_type(saved, kind):
    meta, _, write = saved
    m = _copy(meta)
    m["layers"][1]["type"] = kind
    with pytest.raises(ValueError, match="unknown type"):
        load(write(m))


def test_bad_layer_specs(saved):
    meta, _, write = saved
    m = _copy(meta)
    del m["layers"][0]["type"]
    with pytest.raises(ValueError, match="type"):
        load(write(m))
    m = _copy(meta)
    del m["layers"][0]["n_out"]
    with pytest.raises(ValueError, match="layer 0"):
        load(write(m))
    m = _copy(meta)
    m["layers"][1]["evil"] = 1
    with pytest.raises(ValueError, match="layer 1"):
        load(write(m))
    m = _copy(meta)
    m["layers"][0]["n_in"] = -4
    with pytest.raises(ValueError, match="layer 0"):
        load(write(m))


def test_missing_array(saved):
    meta, arrays, write = saved
    a = dict(arrays)
    del a["2.b"]
    with pytest.raises(ValueError, match="missing array '2.b'"):
        load(write(arrays_obj=a))


def test_wrong_shape_array(saved):
    meta, arrays, write = saved
    a = dict(arrays)
    a["0.W"] = np.zeros((5, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="shape"):
        load(write(arrays_obj=a))


@pytest.mark.parametrize("key,shape", [("0.W", (1, 5)), ("0.b", (1,)), ("2.W", (5, 1)), ("2.b", ())])
def test_broadcastable_wrong_shape_array(saved, key, shape):
    """A shape that NumPy would silently broadcast into the parameter must still be refused."""
    meta, arrays, write = saved
    a = dict(arrays)
    a[key] = np.ones(shape, dtype=np.float32)
    with pytest.raises(ValueError, match=f"array '{key}' has shape"):
        load(write(arrays_obj=a))


def test_non_float_array(saved):
    meta, arrays, write = saved
    a = dict(arrays)
    a["0.b"] = np.zeros(5, dtype=np.int64)
    with pytest.raises(ValueError, match="dtype"):
        load(write(arrays_obj=a))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_weight(saved, bad):
    meta, arrays, write = saved
    a = dict(arrays)
    W = a["2.W"].copy()
    W[1, 1] = bad
    a["2.W"] = W
    with pytest.raises(ValueError, match="NaN or infinite"):
        load(write(arrays_obj=a))


def test_sizes_that_do_not_chain(saved):
    meta, arrays, write = saved
    m = _copy(meta)
    m["layers"][2]["n_in"] = 6  # Dense(4, 5) -> sigmoid -> Dense(6, 3)
    a = dict(arrays)
    a["2.W"] = np.zeros((6, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="chain"):
        load(write(m, a))


def test_garbage_and_truncated_files(tmp_path, saved):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a numpy archive at all\x00\x01\x02" * 50)
    with pytest.raises(ValueError):
        load(garbage)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError):
        load(empty)
    good = saved[2]()
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        trunc = tmp_path / f"trunc{cut}.npz"
        trunc.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            load(trunc)
    # flipped bytes in the middle of an array member
    corrupt = tmp_path / "corrupt.npz"
    b = bytearray(data)
    mid = len(b) // 2
    b[mid:mid + 64] = bytes(64)
    corrupt.write_bytes(bytes(b))
    try:
        net = load(corrupt)
    except ValueError:
        pass
    else:  # zeroed weight bytes can still form a valid file; it must then at least be a valid network
        assert net.sizes == [4, 5, 3]


def test_pickled_array_is_refused(tmp_path, saved):
    meta, arrays, _ = saved
    p = tmp_path / "pickled.npz"
    a = dict(arrays)
    a["__meta__"] = np.array([meta], dtype=object)
    np.savez(p, **a)
    with pytest.raises(ValueError):
        load(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")
    with pytest.raises(ValueError):
        load(tmp_path)


# ------------------------------------------------------------------------------------------ atomic save
def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch):
    old = Network.from_sizes([4, 5, 3], seed=0)
    path = old.save(tmp_path / "model.npz")
    before = path.read_bytes()
    new = Network.from_sizes([4, 5, 3], seed=1)

    def boom(*args, **kwargs):
        # write some bytes first so a non-atomic writer would have clobbered the file
        f = args[0]
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temp files left behind
    np.testing.assert_array_equal(load(path).forward(_X()), old.forward(_X()))


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.from_sizes([2, 2]).save(tmp_path / "no" / "such" / "dir" / "m.npz")
