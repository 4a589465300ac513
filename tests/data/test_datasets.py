"""Tests for numnet.datasets: IDX I/O, bundled MNIST, splits, toy data and augmentation."""
import gzip
import hashlib
import shutil

import numpy as np
import pytest

from numnet import datasets as ds
from numnet.data import mnist as mnist_module

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("rank", [1, 2, 3, 4])
@pytest.mark.parametrize("suffix", ["idx", "idx.gz"])
def test_idx_round_trip(tmp_path, dtype, rank, suffix):
    rng = np.random.default_rng(rank)
    shape = (3, 4, 2, 5)[:rank]
    if np.dtype(dtype).kind == "f":
        array = rng.normal(size=shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    path = tmp_path / f"a.{suffix}"
    ds.write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == suffix.endswith(".gz")
    back = ds.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # writable, independent copy


def test_idx_big_endian_layout_and_big_endian_input(tmp_path):
    path = tmp_path / "a.idx"
    ds.write_idx(path, np.array([1, 258], dtype=">i2"))
    assert path.read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 1, 2])
    np.testing.assert_array_equal(ds.read_idx(path), [1, 258])


def test_gzip_detected_by_magic_not_extension(tmp_path):
    plain = tmp_path / "a.idx"
    ds.write_idx(plain, np.arange(6, dtype=np.uint8).reshape(2, 3))
    disguised = tmp_path / "b.idx"  # gzip content without the .gz extension
    disguised.write_bytes(gzip.compress(plain.read_bytes()))
    np.testing.assert_array_equal(ds.read_idx(disguised), np.arange(6).reshape(2, 3))


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    for bad in (np.arange(3, dtype=np.int64), np.ones(3, dtype=bool), np.ones(2, np.complex64)):
        with pytest.raises(ValueError, match="dtype"):
            ds.write_idx(tmp_path / "a.idx", bad)


def _good_idx_bytes():
    return bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x00" + _good_idx_bytes()[2:], "magic"),
        (_good_idx_bytes()[:2] + b"\x07" + _good_idx_bytes()[3:], "type code"),
        (_good_idx_bytes()[:3], "truncated IDX header"),
        (_good_idx_bytes()[:10], "truncated IDX header"),
        (_good_idx_bytes()[:-1], "truncated IDX data"),
        (_good_idx_bytes() + b"\x00", "extra bytes"),
        (gzip.compress(_good_idx_bytes())[:-6], "gzip"),
        (b"\x1f\x8b" + b"not really gzip", "gzip"),
    ],
    ids=["bad-magic", "type-code", "short-header", "short-dims", "short-data", "extra",
         "truncated-gzip", "broken-gzip"],
)
def test_read_idx_rejects_corrupt_files(tmp_path, data, message):
    path = tmp_path / "corrupt-file.idx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as info:
        ds.read_idx(path)
    assert "corrupt-file.idx" in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here.idx"):
        ds.read_idx(tmp_path / "nothing-here.idx")


def test_read_idx_rank_zero_and_empty(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(bytes([0, 0, 0x08, 0, 7]))
    assert ds.read_idx(path).shape == () and ds.read_idx(path) == 7
    ds.write_idx(path, np.zeros((0, 5), np.float32))
    assert ds.read_idx(path).shape == (0, 5)


def test_read_idx_checksum(tmp_path):
    src = ds.mnist_dir() / "t10k-labels-idx1-ubyte.gz"
    sums = dict(line.split()[::-1] for line in (ds.mnist_dir() / "SHA256SUMS").read_text().splitlines())
    expected = sums["t10k-labels-idx1-ubyte"]
    labels = ds.read_idx(src, expected_sha256=expected)
    assert labels.shape == (10000,)
    raw = bytearray(gzip.decompress(src.read_bytes()))
    raw[100] ^= 1  # still a valid IDX file, just different content
    copy = tmp_path / "t10k-labels-copy"
    copy.write_bytes(bytes(raw))
    assert ds.read_idx(copy).shape == (10000,)
    with pytest.raises(ValueError, match="t10k-labels-copy.*SHA-256"):
        ds.read_idx(copy, expected_sha256=expected)
    assert hashlib.sha256(bytes(raw)).hexdigest() != expected


# --------------------------------------------------------------------------- MNIST


def test_load_mnist_default_split():
    (Xtr, ytr), (Xva, yva), (Xte, yte) = ds.load_mnist()
    assert Xtr.shape == (50000, 784) and Xva.shape == (10000, 784) and Xte.shape == (10000, 784)
    assert ytr.shape == (50000,) and yva.shape == (10000,) and yte.shape == (10000,)
    for X, y in ((Xtr, ytr), (Xva, yva), (Xte, yte)):
        assert X.dtype == np.float32 and y.dtype == np.int64
        assert X.min() == 0.0 and X.max() == 1.0
    counts = np.bincount(np.concatenate([ytr, yva]), minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    raw_train, raw_labels, _, _ = ds.load_mnist_raw()
    np.testing.assert_array_equal(Xva[-1], raw_train[-1].reshape(784) / np.float32(255))
    np.testing.assert_array_equal(yva, raw_labels[50000:])


def test_load_mnist_returns_fresh_arrays():
    (Xtr, ytr), _, _ = ds.load_mnist(validation_size=59990)
    Xtr[:] = 7
    ytr[:] = 3
    (Xtr2, ytr2), _, _ = ds.load_mnist(validation_size=59990)
    assert Xtr2.max() <= 1.0 and not np.all(ytr2 == 3)
    raw = ds.load_mnist_raw()[3]
    raw[:] = 0
    assert ds.load_mnist_raw()[3].any()


def test_load_mnist_validation_size_and_dtype():
    (Xtr, ytr), (Xva, yva), (Xte, _) = ds.load_mnist(validation_size=0, dtype="float64")
    assert Xtr.shape == (60000, 784) and Xva.shape == (0, 784) and yva.shape == (0,)
    assert Xtr.dtype == np.float64 and Xva.dtype == np.float64 and Xte.dtype == np.float64
    for bad in (-1, 60000, 100000, 2.5, "10", True, None):
        with pytest.raises(ValueError, match="validation_size"):
            ds.load_mnist(validation_size=bad)
    for bad in ("float16", "int64", "floaty", None):
        with pytest.raises(ValueError, match="dtype"):
            ds.load_mnist(dtype=bad)


def test_load_mnist_detects_corrupted_bundled_file(tmp_path):
    copy = tmp_path / "mnist"
    shutil.copytree(ds.mnist_dir(), copy)
    raw = bytearray(gzip.decompress((copy / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[500] ^= 0x01
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.*SHA-256"):
        ds.load_mnist(directory=copy)


def test_load_mnist_missing_file(tmp_path):
    copy = tmp_path / "mnist"
    shutil.copytree(ds.mnist_dir(), copy)
    (copy / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        ds.load_mnist(directory=copy)


def test_load_mnist_label_count_mismatch(tmp_path, monkeypatch):
    copy = tmp_path / "mnist"
    shutil.copytree(ds.mnist_dir(), copy)
    labels = ds.read_idx(copy / "t10k-labels-idx1-ubyte.gz")[:-1]
    (copy / "t10k-labels-idx1-ubyte.gz").unlink()
    ds.write_idx(copy / "t10k-labels-idx1-ubyte", labels)
    digest = hashlib.sha256((copy / "t10k-labels-idx1-ubyte").read_bytes()).hexdigest()
    sums = (copy / "SHA256SUMS").read_text().splitlines()
    sums = [f"{digest}  t10k-labels-idx1-ubyte" if "t10k-labels" in s else s for s in sums]
    (copy / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    monkeypatch.setattr(mnist_module, "mnist_dir", lambda: copy)  # the default directory is overridable
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.*does not match 10000 images"):
        ds.load_mnist()


# --------------------------------------------------------------------------- labels, splits


def test_one_hot():
    Y = ds.one_hot(np.array([2, 0, 1, 2]), 3)
    assert Y.dtype == np.float32
    np.testing.assert_array_equal(Y, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert ds.one_hot(np.array([], dtype=np.int64), 4, dtype="float64").shape == (0, 4)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        ds.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        ds.one_hot(np.array([-1, 1]), 3)
    with pytest.raises(ValueError, match="integers"):
        ds.one_hot(np.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="1-D"):
        ds.one_hot(np.zeros((2, 2), np.int64), 3)
    with pytest.raises(ValueError, match="classes"):
        ds.one_hot(np.array([0]), 0)


def test_train_val_test_split():
    X = np.arange(200, dtype=np.float32).reshape(100, 2)
    y = np.arange(100)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = ds.train_val_test_split(X, y, val=0.2, test=0.1, seed=1)
    assert len(ytr) == 70 and len(yva) == 20 and len(yte) == 10
    assert sorted(np.concatenate([ytr, yva, yte]).tolist()) == list(range(100))
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)  # rows stay paired with labels
    assert not np.array_equal(ytr, np.sort(ytr))  # shuffled
    again = ds.train_val_test_split(X, y, val=0.2, test=0.1, seed=1)
    np.testing.assert_array_equal(again[1][1], yva)
    (_, ytr), (_, yva), (_, yte) = ds.train_val_test_split(X, y, val=30, test=0, seed=2)
    assert (len(ytr), len(yva), len(yte)) == (70, 30, 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(val=0.6, test=0.4), "< 1"),
        (dict(val=-0.1), "val"),
        (dict(test=1.5), "test"),
        (dict(val=60, test=40), "no training"),
        (dict(val="a"), "val"),
    ],
)
def test_train_val_test_split_errors(kwargs, message):
    X, y = np.zeros((100, 2)), np.zeros(100, np.int64)
    with pytest.raises(ValueError, match=message):
        ds.train_val_test_split(X, y, **kwargs)


def test_train_val_test_split_length_mismatch():
    with pytest.raises(ValueError, match="99"):
        ds.train_val_test_split(np.zeros((100, 2)), np.zeros(99))


# --------------------------------------------------------------------------- toy data


TOYS = [ds.make_moons, ds.make_circles, ds.make_spirals, ds.make_flower]


@pytest.mark.parametrize("make", TOYS)
def test_toy_shapes_reproducibility_balance(make):
    X, y = make(n=301, seed=0)
    assert X.shape == (301, 2) and X.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 301
    X2, y2 = make(n=301, seed=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(n=301, seed=1)
    assert not np.array_equal(X, X3)
    assert not np.array_equal(y[:50], np.sort(y[:50]))  # shuffled
    assert make(n=10, seed=0, dtype="float64")[0].dtype == np.float64


@pytest.mark.parametrize("make", TOYS)
@pytest.mark.parametrize("kwargs", [dict(n=1), dict(n=10.0), dict(noise=-0.1), dict(noise=np.nan),
                                    dict(dtype="int32")])
def test_toy_validation(make, kwargs):
    with pytest.raises(ValueError):
        make(**kwargs)


def test_moons_geometry():
    X, y = ds.make_moons(n=1000, noise=0.1, seed=3)
    assert X[y == 0, 1].mean() > X[y == 1, 1].mean() + 0.5
    assert X[y == 0, 0].mean() < X[y == 1, 0].mean()
    X0, y0 = ds.make_moons(n=7, noise=0.0, seed=0)
    assert np.bincount(y0).tolist() == [4, 3]
    upper = X0[y0 == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1, atol=1e-6)


def test_course_moons_is_the_notebooks_data():
    X, y = ds.course_moons()
    assert X.shape == (300, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [150, 150]
    # the first points the notebook plots (NumPy legacy seed 3, order then noise)
    np.testing.assert_allclose(X[:2], [[-0.21687013, 1.01544937], [0.80505015, -0.5579734]], atol=1e-8)
    assert y[:12].tolist() == [0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0]
    X32, y32 = ds.course_moons("float32")
    assert X32.dtype == np.float32
    np.testing.assert_allclose(X32, X, rtol=1e-6)
    np.testing.assert_array_equal(y32, y)
    np.testing.assert_array_equal(ds.course_moons()[0], X)  # fixed, not drawn from a fresh seed


def test_course_moons_equals_scikit_learns_draw():
    """Where scikit-learn is installed (the bench extra): bit-for-bit its make_moons after np.random.seed(3)."""
    datasets = pytest.importorskip("sklearn.datasets")
    state = np.random.get_state()
    try:
        np.random.seed(3)
        X, y = datasets.make_moons(n_samples=300, noise=0.2)
    finally:
        np.random.set_state(state)
    Xc, yc = ds.course_moons()
    np.testing.assert_array_equal(Xc, X)
    np.testing.assert_array_equal(yc, y)


def test_circles_geometry():
    X, y = ds.make_circles(n=200, noise=0.0, factor=0.3, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)
    with pytest.raises(ValueError, match="factor"):
        ds.make_circles(factor=1.0)


def test_spirals_classes():
    X, y = ds.make_spirals(n=300, classes=3, seed=0)
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.abs(X).max() <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="classes"):
        ds.make_spirals(classes=1)


# --------------------------------------------------------------------------- augmentation


@pytest.fixture(scope="module")
def digits():
    _, _, (X, y) = ds.load_mnist()
    return X[:64], y[:64]


def _shift(images, dy, dx):
    """Reference: np.roll, then zero the wrapped-around border."""
    out = np.roll(images, (dy, dx), axis=(1, 2))
    if dy > 0:
        out[:, :dy] = 0
    elif dy < 0:
        out[:, dy:] = 0
    if dx > 0:
        out[:, :, :dx] = 0
    elif dx < 0:
        out[:, :, dx:] = 0
    return out


def test_expand_shifts(digits):
    X, y = digits
    n = len(y)
    Xe, ye = ds.expand_shifts(X, y)
    assert Xe.shape == (5 * n, 784) and Xe.dtype == X.dtype and ye.shape == (5 * n,)
    np.testing.assert_array_equal(ye, np.tile(y, 5))
    images = X.reshape(n, 28, 28)
    blocks = Xe.reshape(5, n, 28, 28)
    np.testing.assert_array_equal(blocks[0], images)
    for block, (dy, dx) in zip(blocks[1:], [(-1, 0), (1, 0), (0, -1), (0, 1)]):
        np.testing.assert_array_equal(block, _shift(images, dy, dx))


def test_expand_shifts_validation(digits):
    X, y = digits
    with pytest.raises(ValueError, match="784"):
        ds.expand_shifts(X[:, :700], y)
    with pytest.raises(ValueError, match="floats"):
        ds.expand_shifts((X * 255).astype(np.uint8), y)
    with pytest.raises(ValueError, match="examples"):
        ds.expand_shifts(X, y[:-1])


def test_random_affine_identity(digits):
    X, _ = digits
    out = ds.random_affine(X, np.random.default_rng(0), max_shift=0, max_degrees=0)
    assert out is not X
    np.testing.assert_array_equal(out, X)
    np.testing.assert_array_equal(ds.affine_images(X, 0.0, 0.0, 0.0), X)


@pytest.mark.parametrize("dy, dx", [(0, 2), (-1, 0), (3, -2), (-2, -3)])
def test_affine_integer_shift_is_exact(digits, dy, dx):
    X, _ = digits
    shifted = ds.affine_images(X, degrees=0.0, dx=dx, dy=dy)
    np.testing.assert_array_equal(shifted.reshape(-1, 28, 28), _shift(X.reshape(-1, 28, 28), dy, dx))


def test_affine_per_image_parameters_and_direction():
    X = np.zeros((2, 28, 28), np.float32)
    X[:, 13, 24] = 1.0  # right of the centre (13.5, 13.5)
    out = ds.affine_images(X.reshape(2, -1), degrees=np.array([90.0, 0.0]), dx=[0, 1], dy=0)
    out = out.reshape(2, 28, 28)
    assert out[0].sum() == pytest.approx(1.0)
    assert np.unravel_index(out[0].argmax(), (28, 28)) == (3, 13)  # counter-clockwise: now above
    assert np.unravel_index(out[1].argmax(), (28, 28)) == (13, 25)


def test_random_affine_rotation_keeps_ink(digits):
    X, _ = digits
    rotated = ds.affine_images(X, degrees=np.linspace(-15, 15, len(X)))
    np.testing.assert_allclose(rotated.sum(axis=1), X.sum(axis=1), rtol=0.05)
    out = ds.random_affine(X, np.random.default_rng(1))
    assert out.shape == X.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert not np.array_equal(out, X)
    np.testing.assert_allclose(out.sum(axis=1), X.sum(axis=1), rtol=0.15)
    np.testing.assert_array_equal(out, ds.random_affine(X, np.random.default_rng(1)))


def test_random_affine_dtype_and_out(digits):
    X, _ = digits
    X64 = X.astype(np.float64)
    assert ds.random_affine(X64, np.random.default_rng(0)).dtype == np.float64
    buffer = np.empty_like(X)
    result = ds.random_affine(X, np.random.default_rng(2), out=buffer)
    assert result is buffer
    np.testing.assert_array_equal(buffer, ds.random_affine(X, np.random.default_rng(2)))
    inplace = X.copy()
    ds.random_affine(inplace, np.random.default_rng(2), out=inplace)
    np.testing.assert_array_equal(inplace, buffer)


def test_random_affine_large_shift_gives_zeros(digits):
    X, _ = digits
    np.testing.assert_array_equal(ds.affine_images(X[:3], dx=40.0), 0)
    np.testing.assert_array_equal(ds.affine_images(X[:3], dy=-29.5), 0)


def test_random_affine_validation(digits):
    X, _ = digits
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="Generator"):
        ds.random_affine(X, 0)
    with pytest.raises(ValueError, match="max_shift"):
        ds.random_affine(X, rng, max_shift=-1)
    with pytest.raises(ValueError, match="max_degrees"):
        ds.random_affine(X, rng, max_degrees=np.inf)
    with pytest.raises(ValueError, match="784"):
        ds.random_affine(X.reshape(-1, 28, 28), rng)
    with pytest.raises(ValueError, match="floats"):
        ds.random_affine((X * 255).astype(np.uint8), rng)
    with pytest.raises(ValueError, match="out"):
        ds.random_affine(X, rng, out=np.empty((3, 784), np.float32))
    with pytest.raises(ValueError, match="degrees"):
        ds.affine_images(X, degrees=np.zeros(3))
