"""Issue #13 item 19: digits in large, noisy, unevenly lit photos and in float / 16-bit images must come out
of numnet.images.load_digit as MNIST digits (about 20 px tall in 28x28) and be classified correctly."""
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageDraw

import numnet
from numnet import images as im
from numnet.cli import main

MB = 2**20


def ink_box(x, threshold=0.05):
    """Height and width of the pixels above `threshold` in a 28x28 digit."""
    rows, cols = np.nonzero(np.asarray(x).reshape(28, 28) > threshold)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def drawing(digit, size, at, height):
    """Ink coverage in [0, 1] (float32) of a thick-stroked 7 or 0 drawn `height` px tall at `at` (fractions of
    the canvas) on a canvas of `size` (width, height)."""
    w, h = size
    x0, y0, s = int(at[0] * w), int(at[1] * h), height / 100
    ink = Image.new("L", size, 0)
    draw = ImageDraw.Draw(ink)
    if digit == 7:
        draw.line([(x0, y0), (x0 + 60 * s, y0), (x0 + 25 * s, y0 + 100 * s)], fill=255, width=int(12 * s),
                  joint="curve")
    else:
        draw.ellipse([x0, y0, x0 + 65 * s, y0 + 100 * s], outline=255, width=int(12 * s))
    return np.asarray(ink, dtype=np.float32) / 255


def photo(digit=7, size=(4000, 3000), at=(0.4, 0.3), height=1000, sigma=8.0, lighting=0.0, dark=True, seed=0):
    """A grey photo (float32, 0-255) of a drawn digit: paper at 200 with a left-to-right lighting change of
    `lighting` (a fraction), ink at 40, Gaussian grey noise `sigma`; light ink on dark paper unless `dark`."""
    w, h = size
    img = 200 + (40 - 200) * drawing(digit, size, at, height)
    img *= 1 + lighting * np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    if sigma:
        img += sigma * np.random.default_rng(seed).standard_normal((h, w), dtype=np.float32)
    return img if dark else 255 - img


def save(img, path, **kw):
    Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)).save(path, **kw)
    return path


@pytest.fixture(scope="module")
def net():
    """A small MLP trained on 10,000 MNIST images for 2 epochs (about 94% test accuracy)."""
    (X, y), _, _ = numnet.load_mnist()
    model = numnet.Network.from_sizes([784, 100, 10], activation="relu", cost="log_likelihood", init="he", seed=1)
    model.fit(X[:10000], y[:10000], epochs=2, batch_size=64, optimizer=numnet.Adam(1e-3), seed=1, verbose=0)
    return model


def predicted(net, x):
    return int(net.predict(x[None])[0])


# ------------------------------------------------------------------------------------------- the photo
def test_19_photo_of_a_7_with_noise(tmp_path, net):
    """4000x3000, grey noise sigma 8: stray noise pixels used to widen the box and shrink the 7 to 9x8 px."""
    x = im.load_digit(save(photo(), tmp_path / "seven.png", compress_level=1))
    assert 19 <= ink_box(x)[0] <= 21
    assert predicted(net, x) == 7


@pytest.mark.parametrize("digit, case", [(7, "lighting"), (7, "corner"), (7, "light on dark"), (0, "lighting"),
                                         (0, "light on dark, noise 16")])
def test_hard_photos(tmp_path, net, digit, case):
    kw = {"lighting": dict(lighting=0.5), "corner": dict(at=(0.05, 0.05), height=700),
          "light on dark": dict(dark=False, lighting=0.3),
          "light on dark, noise 16": dict(dark=False, sigma=16, lighting=0.3, at=(0.7, 0.5), height=800)}[case]
    x = im.load_digit(save(photo(digit, **kw), tmp_path / "photo.png", compress_level=1))
    assert 19 <= ink_box(x)[0] <= 21
    r, c = np.argwhere(x.reshape(28, 28) > 0.05).mean(axis=0)
    assert abs(r - 13.5) < 3 and abs(c - 13.5) < 3  # centred, wherever it was on the sheet
    assert predicted(net, x) == digit


def test_jpeg_photo_and_polarity_agree(tmp_path):
    dark = im.load_digit(save(photo(sigma=8, lighting=0.3), tmp_path / "dark.jpg", quality=80))
    light = im.load_digit(save(photo(sigma=8, lighting=0.3, dark=False), tmp_path / "light.jpg", quality=80))
    assert np.corrcoef(dark, light)[0, 1] > 0.95
    assert 19 <= ink_box(dark)[0] <= 21


def test_stray_specks_do_not_widen_the_box(tmp_path):
    img = photo(sigma=4)
    for x, y in [(150, 150), (3800, 2850), (200, 2700)]:  # dirt: dark dots far from the digit
        img[y - 6:y + 6, x - 6:x + 6] = 30
    x = im.load_digit(save(img, tmp_path / "specks.png", compress_level=1))
    assert 19 <= ink_box(x)[0] <= 21


def test_noisy_photo_without_a_digit_is_blank(tmp_path):
    with pytest.raises(ValueError, match="blank"):
        im.load_digit(save(photo(sigma=8, lighting=0.3, height=0), tmp_path / "empty.png", compress_level=1))


def test_large_photo_is_converted_to_float_after_shrinking(tmp_path):
    path = save(photo(), tmp_path / "big.png", compress_level=1)
    tracemalloc.start()
    try:
        x = im.load_digit(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 19 <= ink_box(x)[0] <= 21
    assert peak < 40 * MB  # one float64 copy at full size is 96 MB; numnet 120eb05 peaked at 120 MB


# ------------------------------------------------------------------------------------------- float and 16-bit
def small_seven(sigma=2.0):
    """A 400x300 photo of a 7 (float32, 0-255), small enough for float and 16-bit files."""
    return photo(size=(400, 300), height=150, sigma=sigma)


@pytest.mark.parametrize("scale", [1 / 255, 1.0])
def test_19_float_tiff(tmp_path, net, scale):
    """Mode F TIFFs: values in [0, 1] are read as [0, 1] (they used to be divided by 255: 'blank'), and
    values in [0, 255] still work."""
    Image.fromarray((small_seven() * scale).astype(np.float32), mode="F").save(tmp_path / "seven.tif")
    x = im.load_digit(tmp_path / "seven.tif")
    reference = im.load_digit(save(small_seven(), tmp_path / "seven.png"))
    assert np.corrcoef(x, reference)[0, 1] > 0.99
    assert 19 <= ink_box(x)[0] <= 21 and predicted(net, x) == 7


def test_sixteen_bit_png_scales_by_its_range(tmp_path):
    img = np.clip(small_seven() * 257, 0, 65535).astype(np.uint16)  # 0-255 spread over 0-65535
    Image.fromarray(img).save(tmp_path / "seven16.png")
    with Image.open(tmp_path / "seven16.png") as check:
        assert check.mode.startswith("I")
    x = im.load_digit(tmp_path / "seven16.png")
    reference = im.load_digit(save(small_seven(), tmp_path / "seven.png"))
    assert np.corrcoef(x, reference)[0, 1] > 0.99


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_19_float_tiff_with_nan_or_inf(tmp_path, capsys, bad):
    img = (small_seven() / 255).astype(np.float32)
    img[5, 5] = bad
    Image.fromarray(img, mode="F").save(tmp_path / "bad.tif")
    with pytest.raises(ValueError, match="NaN or infinite"):
        im.load_digit(tmp_path / "bad.tif")
    model = numnet.Network.from_sizes([784, 10, 10], seed=0).save(tmp_path / "m.npz")
    rc = main(["predict", str(model), str(tmp_path / "bad.tif")])
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith("numnet: error: ") and err.count("\n") == 1 and "NaN" in err
    assert "Traceback" not in out + err
