"""Fuzzing the readers of files numnet did not write itself (issues #13 and #23): damaged model archives and
checkpoints, model metadata, `--data` files (.npz and IDX), TOML configs, search spaces, histories and images.
Whatever the bytes, a reader returns a result or raises ValueError (or FileNotFoundError) with a message, which
the CLI prints as one line; never another exception, a traceback from deep inside a library or a MemoryError;
never a hang (each call runs under an alarm) and never a large allocation (each call's peak, traced, stays far
below 1 GB; a child process reading the worst files keeps its whole resident set below 1 GB). Seeded
(derandomize) with a fixed number of examples, so the suite stays deterministic and bounded in time."""
import contextlib
import gzip
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import numnet  # noqa: E402
from numnet.data.idx import read_idx  # noqa: E402
from numnet.data.images import load_digit  # noqa: E402
from numnet.runs.settings import read_toml  # noqa: E402

#: examples per test; NUMNET_FUZZ_EXAMPLES=1000 for a longer search (the same seeds: derandomize)
EXAMPLES = int(os.environ.get("NUMNET_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
OK_ERRORS = (ValueError, FileNotFoundError)
#: seconds one reader call may take, and bytes it may allocate (traced: NumPy arrays and Python objects)
CALL_SECONDS = 5
CALL_BYTES = 2**30 // 4


@contextlib.contextmanager
def bounded(what="reader"):
    """Fail when the block runs longer than CALL_SECONDS (a hang) or allocates more than CALL_BYTES."""
    def hung(signum, frame):
        raise AssertionError(f"{what} did not return within {CALL_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(CALL_SECONDS)
    tracemalloc.start()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert peak < CALL_BYTES, f"{what} allocated {peak} bytes"


def read(loader, *args):
    """loader(*args) bounded; None when it refused with one of OK_ERRORS (the CLI's one-line errors)."""
    with bounded(getattr(loader, "__name__", "reader")):
        try:
            return loader(*args)
        except OK_ERRORS:
            return None


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def model_bytes(folder):
    path = numnet.Network.from_sizes([6, 5, 3], seed=0, batch_norm=True).save(folder / "model.npz")
    return path.read_bytes()


def mutate(data: bytes, edits, cut) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        out[pos % len(out)] = value
    return bytes(out[:max(1, len(out) - cut)])


def write(folder, name, data) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 64) | st.just(0))
def test_damaged_model_archives(folder, model_bytes, edits, cut):
    path = write(folder, "damaged.npz", mutate(model_bytes, edits, cut))
    net = read(numnet.load, path)
    if net is not None:
        assert all(np.isfinite(a).all() for a in net.param_arrays())


@FUZZ
@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
       dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 12), max_size=4),
       body=st.binary(max_size=300), gz=st.booleans(), magic=st.sampled_from([b"\0\0", b"\0\1"]))
def test_random_idx_files(folder, code, dims, body, gz, magic):
    data = magic + bytes([code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body
    path = write(folder, "x.idx.gz" if gz else "x.idx", gzip.compress(data) if gz else data)
    arr = read(read_idx, path)
    if arr is not None:
        assert arr.shape == tuple(dims)


toml_values = st.recursive(st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.booleans() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3), max_leaves=6)
KEYS = ["sizes", "lr", "epochs", "batch_size", "optimizer", "schedule", "keep_prob", "l2", "seed", "augment",
        "activation", "cost", "junk", "network", "train_size"]


def toml_literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').encode("unicode_escape").decode("ascii") + '"'
    return "[" + ", ".join(toml_literal(x) for x in v) + "]"


@FUZZ
@given(entries=st.dictionaries(st.sampled_from(KEYS), toml_values, max_size=5), junk=st.binary(max_size=40))
def test_random_toml_configs(folder, entries, junk):
    text = "".join(f"{k} = {toml_literal(v)}\n" for k, v in entries.items())
    for data in (text.encode(), text.encode() + junk):
        path = write(folder, "c.toml", data)
        cfg = read(read_toml, path)
        assert cfg is None or isinstance(cfg, dict)


def png(width, height, bit_depth, color, payload) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(payload)) + chunk(b"IEND", b"")


@FUZZ
@given(width=st.integers(1, 40) | st.integers(1, 2**31 - 1), height=st.integers(1, 40) | st.integers(1, 2**31 - 1),
       bit_depth=st.sampled_from([1, 8, 16]), color=st.sampled_from([0, 2, 4, 6]),
       payload=st.binary(max_size=400), raw=st.binary(max_size=100))
def test_random_images(folder, width, height, bit_depth, color, payload, raw):
    for data in (png(width, height, bit_depth, color, payload), raw, b"\xff\xd8\xff" + raw):
        path = write(folder, "img.png", data)
        x = read(load_digit, path)
        assert x is None or (x.shape == (784,) and np.isfinite(x).all())


def test_real_image_round_trip(folder):
    """The fuzzed loader still reads a genuine image (the strategies above rarely produce one)."""
    from numnet.data.images import digit_to_image

    x = np.zeros((28, 28))
    x[5:23, 12:16] = 1.0
    digit_to_image(x, folder / "one.png")
    assert load_digit(folder / "one.png").shape == (784,)


# ------------------------------------------------------------------------------ issue #23: more readers
from numnet.data.labelled import load_labelled  # noqa: E402
from numnet.train.history import History  # noqa: E402

DTYPES = ["u1", "i1", "<i2", "<i4", ">i4", "<i8", "<f2", "<f4", ">f4", "<f8", "?", "<c8", "<c16", "<M8[s]",
          "<m8[s]", "<U3", "|S2", "|V4", "O", "<f4,<f4"]


def npy_bytes(descr, shape, body) -> bytes:
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(descr)),
                                                   "fortran_order": False, "shape": tuple(shape)})
    except ValueError:
        buf = io.BytesIO(b"\x93NUMPY\x01\x00\x10\x00{'descr': 'O'}\n")
    return buf.getvalue() + body


member = st.tuples(st.sampled_from(["X", "y", "images", "labels", "junk", "../X", "X.npy"]), st.sampled_from(DTYPES),
                   st.lists(st.integers(0, 40) | st.integers(0, 2**40), max_size=3), st.binary(max_size=200),
                   st.booleans())


@FUZZ
@given(members=st.lists(member, max_size=4), cut=st.integers(0, 50), real=st.booleans())
def test_random_data_npz_files(folder, members, cut, real):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, descr, shape, body, deflate in members:
            zf.writestr(name + ".npy", npy_bytes(descr, shape, body),
                        compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    data = buf.getvalue()
    path = write(folder, "d.npz", data[:max(1, len(data) - cut)] if cut else data)
    out = read(load_labelled, path, "float32", real)
    if out is not None:
        X, y = out
        assert X.ndim == 2 and len(X) == len(y) and np.isfinite(X).all()


@FUZZ
@given(x=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]), y=st.sampled_from([0x08, 0x0C, 0x0D]),
       xdims=st.lists(st.integers(0, 6) | st.integers(0, 2**32 - 1), max_size=3),
       ydims=st.lists(st.integers(0, 6), max_size=2), body=st.binary(max_size=300), gz=st.booleans())
def test_random_idx_data_pairs(folder, x, y, xdims, ydims, body, gz):
    def idx(code, dims, payload):
        data = bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
        return gzip.compress(data, 1) if gz else data

    images = write(folder, "i.idx", idx(x, xdims, body))
    labels = write(folder, "l.idx", idx(y, ydims, body[:7]))
    out = read(load_labelled, f"{images},{labels}")
    if out is not None:
        assert out[0].ndim == 2 and len(out[0]) == len(out[1])


@pytest.fixture(scope="module")
def checkpoint_bytes(folder):
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    net = numnet.Network.from_sizes([6, 5, 3], seed=0)
    net.fit(X, np.arange(40) % 3, epochs=1, batch_size=8, optimizer=numnet.Adam(1e-3), verbose=0, seed=0,
            checkpoint_dir=folder / "ck0")
    return (folder / "ck0" / "checkpoint.npz").read_bytes()


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8), cut=st.integers(0, 64))
def test_damaged_checkpoints(folder, checkpoint_bytes, edits, cut):
    (folder / "ck").mkdir(exist_ok=True)
    write(folder / "ck", "checkpoint.npz", mutate(checkpoint_bytes, edits, cut))
    ckpt = read(numnet.load_checkpoint, folder / "ck")
    if ckpt is not None:
        assert all(np.isfinite(a).all() for a in ckpt.network.param_arrays())


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2, 2**70) | st.floats() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=4), max_leaves=12)
layer_specs = st.fixed_dictionaries({"type": st.sampled_from(["dense", "relu", "softmax", "batch_norm", "dropout",
                                                              "maxout", "identity", "nope", 3])},
                                    optional={"n_in": json_values | st.integers(0, 10**7),
                                              "n_out": json_values | st.integers(0, 10**7),
                                              "keep_prob": json_values, "n": st.integers(-1, 10**9),
                                              "pieces": st.integers(-1, 10**6), "trainable": json_values})


@FUZZ
@given(layers=st.lists(layer_specs, max_size=5) | st.integers(1000, 1100).map(lambda n: [{"type": "identity"}] * n),
       extra=st.dictionaries(st.sampled_from(["cost", "dtype", "format", "version"]), json_values, max_size=2))
def test_random_model_metadata(folder, layers, extra):
    meta = {"format": "numnet-model", "version": 1, "dtype": "float32", "cost": "log_likelihood", "layers": layers,
            **extra}
    try:
        encoded = json.dumps(meta).encode()
    except ValueError:
        return
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("__meta__.npy", npy_bytes("u1", (len(encoded),), encoded))
        zf.writestr("0.W.npy", npy_bytes("<f4", (3, 2), bytes(24)))
    net = read(numnet.load, write(folder, "meta.npz", buf.getvalue()))
    assert net is None or len(net.layers) <= 1000


@FUZZ
@given(doc=json_values, junk=st.binary(max_size=30))
def test_random_history_files(folder, doc, junk):
    try:
        text = json.dumps({"epoch": doc} if isinstance(doc, list) else doc).encode()
    except ValueError:
        return
    for data in (text, text + junk):
        h = read(History.load, write(folder, "h.json", data))
        assert h is None or isinstance(h, History)


space_params = st.fixed_dictionaries({"dist": st.sampled_from(["log", "one-minus-log", "int-log", "int", "uniform",
                                                               "choice", "gauss", 1])},
                                     optional={"low": st.integers(-3, 10**6) | st.floats(allow_nan=True),
                                               "high": st.integers(-3, 10**6) | st.floats(allow_nan=True),
                                               "steps": st.integers(-1, 10**4), "values": st.lists(
                                                   st.integers(-2, 300) | st.text(max_size=5), max_size=4)})


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["lr", "beta", "hidden", "layers", "keep_prob", "batch_size",
                                               "optimizer", "epochs", "junk"]), space_params, max_size=3),
       top=st.dictionaries(st.sampled_from(["epochs", "recipe", "sizes", "bogus"]), toml_values, max_size=2))
def test_random_search_spaces(folder, params, top):
    from numnet.search.space import load_space

    lines = [f"{k} = {toml_literal(v)}" for k, v in top.items()]
    for name, spec in params.items():
        lines.append(f"[search.{name}]")
        lines += [f"{k} = {toml_literal(v)}" for k, v in spec.items()]
    space = read(load_space, write(folder, "space.toml", ("\n".join(lines) + "\n").encode()))
    assert space is None or space.params


# ------------------------------------------------------------------------------ the worst files, in a child
HOSTILE = r'''
import gzip, io, json, os, signal, sys, time, zipfile
import numpy as np
from pathlib import Path
import numnet
from numnet.data.idx import read_idx
from numnet.data.images import load_digit
from numnet.data.labelled import load_labelled
from numnet.runs.settings import read_toml
from numnet.train.history import History

d = Path(sys.argv[1])

def npy(descr, shape):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()

def zip_bomb(path, name, header, size):  # deflated zeros: about 1 MB per GB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(zipfile.ZipInfo(name), "w", force_zip64=True) as f:
        f.write(header)
        chunk = bytes(2**24)
        for _ in range(size // len(chunk)):
            f.write(chunk)
    return path

meta = json.dumps({"format": "numnet-model", "version": 1, "dtype": "float32", "cost": "quadratic",
                   "layers": [{"type": "identity"}] * 200000}).encode()
with zipfile.ZipFile(d / "deep.npz", "w") as zf:
    zf.writestr("__meta__.npy", npy("|u1", (len(meta),)) + meta)
with gzip.open(d / "idx.gz", "wb", compresslevel=1) as f:  # 376 MB of uint8 images: 1.5 GB as float32
    f.write(b"\0\0\x08\x03" + (480000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
    for _ in range(480000 * 784 // 2**24):
        f.write(bytes(2**24))
    f.write(bytes(480000 * 784 % 2**24))
(d / "labels.idx").write_bytes(b"\0\0\x08\x01" + (480000).to_bytes(4, "big") + bytes(480000))
(d / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\xea\x60\0\0\xea\x60\x08\0\0\0\0" + b"\0" * 40)
(d / "deep.toml").write_text("sizes = " + "[" * 100000 + "]" * 100000 + "\n")
(d / "digits.toml").write_text("epochs = " + "9" * 5000 + "\n[search.lr]\ndist = 'log'\nlow = 1e-4\nhigh = 1\n")
(d / "deep.json").write_text("[" * 200000 + "]" * 200000)
os.mkfifo(d / "fifo")
cases = [(numnet.load, zip_bomb(d / "bomb.npz", "__meta__.npy", npy("|u1", (2**30,)), 2**30)),
         (load_labelled, zip_bomb(d / "data.npz", "X.npy", npy("|u1", (2**30 // 784 - 1, 784)), 2**30 - 2**24)),
         (numnet.load, d / "deep.npz"), (load_labelled, f"{d / 'idx.gz'},{d / 'labels.idx'}"),
         (load_digit, d / "huge.png"), (read_toml, d / "deep.toml"), (read_toml, d / "digits.toml"),
         (History.load, d / "deep.json")]
for loader in (numnet.load, load_labelled, read_idx, load_digit, read_toml, History.load, numnet.load_checkpoint):
    cases += [(loader, d / "fifo"), (loader, "/dev/zero")]
bad = []
for loader, path in cases:
    signal.alarm(20)
    t0 = time.monotonic()
    try:
        loader(path)
        bad.append(f"{loader.__name__}({path}): accepted")
    except (ValueError, FileNotFoundError) as e:
        if len(str(e).splitlines()) != 1:
            bad.append(f"{loader.__name__}({path}): {str(e)[:200]!r}")
    except BaseException as e:
        bad.append(f"{loader.__name__}({path}): {type(e).__name__}: {str(e)[:200]}")
    signal.alarm(0)
    if time.monotonic() - t0 > 5:
        bad.append(f"{loader.__name__}({path}): {time.monotonic() - t0:.1f} s")
# this process image's own peak (VmHWM): ru_maxrss would also count the parent's, carried over exec by Linux
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"bad": bad, "peak": peak}))
'''


def test_worst_files_in_a_child_process_stay_below_1_gb(tmp_path):
    """Decompression bombs, a 200,000-layer model, a 60000x60000 PNG, deep TOML and JSON, a 5,000-digit number,
    FIFOs and /dev/zero, each given to every reader that could meet it: one-line errors, each within 5 s, and
    the child's resident set (the real one, C allocations included) never reaches 1 GB."""
    out = subprocess.run([sys.executable, "-c", HOSTILE, str(tmp_path)], capture_output=True, text=True, timeout=120,
                         env=os.environ)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert not result["bad"], result["bad"]
    assert result["peak"] < 2**30, f"peak resident set {result['peak'] / 2**20:.0f} MB"
