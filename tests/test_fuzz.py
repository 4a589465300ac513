"""Fuzzing the readers of files numnet did not write itself (issue #13): damaged model archives, IDX files,
TOML configs and images. Whatever the bytes, a reader returns a result or raises ValueError (or
FileNotFoundError) with a message; never another exception, a traceback from deep inside a library or a
MemoryError. Seeded (derandomize) with a fixed number of examples, so the suite stays deterministic."""
import gzip
import os
import struct
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
    try:
        net = numnet.load(path)
    except OK_ERRORS:
        return
    assert all(np.isfinite(a).all() for a in net.param_arrays())


@FUZZ
@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
       dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 12), max_size=4),
       body=st.binary(max_size=300), gz=st.booleans(), magic=st.sampled_from([b"\0\0", b"\0\1"]))
def test_random_idx_files(folder, code, dims, body, gz, magic):
    data = magic + bytes([code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body
    path = write(folder, "x.idx.gz" if gz else "x.idx", gzip.compress(data) if gz else data)
    try:
        arr = read_idx(path)
    except OK_ERRORS:
        return
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
        try:
            cfg = read_toml(path)
        except OK_ERRORS:
            continue
        assert isinstance(cfg, dict)


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
        try:
            x = load_digit(path)
        except OK_ERRORS:
            continue
        assert x.shape == (784,) and np.isfinite(x).all()


def test_real_image_round_trip(folder):
    """The fuzzed loader still reads a genuine image (the strategies above rarely produce one)."""
    from numnet.data.images import digit_to_image

    x = np.zeros((28, 28))
    x[5:23, 12:16] = 1.0
    digit_to_image(x, folder / "one.png")
    assert load_digit(folder / "one.png").shape == (784,)
