"""Tests for numnet.images: user digit images to MNIST-style vectors and back."""
import numpy as np
import pytest
from PIL import Image, ImageDraw

from numnet import datasets as ds
from numnet import images as im


def _centre_of_mass(x):
    img = np.asarray(x, dtype=np.float64).reshape(28, 28)
    mass = img.sum()
    return (img.sum(axis=1) @ np.arange(28)) / mass, (img.sum(axis=0) @ np.arange(28)) / mass


def _ink_box(x, threshold=0.05):
    rows, cols = np.nonzero(np.asarray(x).reshape(28, 28) > threshold)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.fixture(scope="module")
def mnist_test_images():
    return ds.load_mnist_raw()[2][:8]


def test_mnist_png_round_trip(tmp_path, mnist_test_images):
    for i, original in enumerate(mnist_test_images):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(original).save(path)
        x = im.load_digit(path)
        assert x.shape == (784,) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert np.corrcoef(x, original.reshape(784))[0, 1] > 0.9
        r, c = _centre_of_mass(x)
        assert abs(r - 14) <= 1 and abs(c - 14) <= 1


def _drawing(size=(200, 120)):
    """A thick dark stroke (a '7'-like shape) on white paper, off-centre to the upper right."""
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    draw.line([(120, 15), (175, 15), (140, 100)], fill=20, width=12)
    return img


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_dark_on_white_drawing(tmp_path, fmt):
    path = tmp_path / f"drawing.{fmt}"
    _drawing().save(path)
    x = im.load_digit(path).reshape(28, 28)
    assert x.max() > 0.9  # bright ink...
    corners = np.concatenate([x[:4, :4], x[:4, -4:], x[-4:, :4], x[-4:, -4:]])
    assert corners.max() == 0.0 and np.mean(x == 0) > 0.7  # ...on black
    assert 18 <= max(_ink_box(x)) <= 21
    r, c = _centre_of_mass(x)
    assert abs(r - 14) <= 1 and abs(c - 14) <= 1


def test_jpeg_matches_png(tmp_path):
    _drawing().save(tmp_path / "d.png")
    _drawing().save(tmp_path / "d.jpg", quality=90)
    a, b = im.load_digit(tmp_path / "d.png"), im.load_digit(tmp_path / "d.jpg")
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_rgba_and_color_images(tmp_path, mnist_test_images):
    # A dark digit drawn on a transparent canvas: alpha is composited on white first.
    rgba = Image.new("RGBA", (60, 80), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse([10, 10, 50, 70], outline=(0, 0, 90, 255), width=6)
    rgba.save(tmp_path / "ring.png")
    x = im.load_digit(tmp_path / "ring.png")
    assert x.max() > 0.9 and x.reshape(28, 28)[0].max() == 0
    assert max(_ink_box(x)) in (19, 20, 21)
    # An RGB version of an MNIST digit behaves like the grayscale one.
    original = mnist_test_images[0]
    Image.fromarray(original).convert("RGB").save(tmp_path / "rgb.png")
    assert np.corrcoef(im.load_digit(tmp_path / "rgb.png"), original.reshape(784))[0, 1] > 0.9


def test_invert_forced(tmp_path, mnist_test_images):
    original = mnist_test_images[1]
    Image.fromarray(255 - original).save(tmp_path / "negative.png")  # dark ink on white
    auto = im.load_digit(tmp_path / "negative.png")
    forced = im.load_digit(tmp_path / "negative.png", invert=True, dtype="float64")
    assert forced.dtype == np.float64
    np.testing.assert_allclose(auto, forced, atol=1e-6)
    assert np.corrcoef(auto, original.reshape(784))[0, 1] > 0.9
    with pytest.raises(ValueError, match="invert"):
        im.load_digit(tmp_path / "negative.png", invert="yes")
    with pytest.raises(ValueError, match="dtype"):
        im.load_digit(tmp_path / "negative.png", dtype="int32")


def test_blank_image(tmp_path):
    Image.new("L", (50, 40), 200).save(tmp_path / "blank.png")
    with pytest.raises(ValueError, match="blank"):
        im.load_digit(tmp_path / "blank.png")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    with pytest.raises(ValueError, match="notes.png"):
        im.load_digit(path)
    truncated = tmp_path / "cut.png"
    _drawing().save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(ValueError, match="cut.png"):
        im.load_digit(truncated)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-digit.png"):
        im.load_digit(tmp_path / "no-such-digit.png")


def test_load_digits(tmp_path, mnist_test_images):
    paths = []
    for i, original in enumerate(mnist_test_images[:3]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(original).save(paths[-1])
    batch = im.load_digits(paths)
    assert batch.shape == (3, 784) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1], im.load_digit(paths[1]))
    assert im.load_digits(str(paths[0])).shape == (1, 784)
    with pytest.raises(ValueError, match="no image"):
        im.load_digits([])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        im.load_digits([paths[0], tmp_path / "missing.png"])


def test_digit_to_image(tmp_path, mnist_test_images):
    x = mnist_test_images[2].reshape(784) / 255.0
    img = im.digit_to_image(x)
    assert img.mode == "L" and img.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(img), mnist_test_images[2])
    big = im.digit_to_image(x, tmp_path / "big.png", scale=4)
    assert big.size == (112, 112)
    with Image.open(tmp_path / "big.png") as saved:
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(big))
    assert [p.name for p in tmp_path.iterdir()] == ["big.png"]  # no temporary left behind
    back = im.load_digit(tmp_path / "big.png")
    assert np.corrcoef(back, x)[0, 1] > 0.9
    for bad in (np.zeros(700), np.full(784, np.nan)):
        with pytest.raises(ValueError, match="digit"):
            im.digit_to_image(bad)
    with pytest.raises(ValueError, match="scale"):
        im.digit_to_image(x, scale=0)


# ---------------------------------------------------------------------------------------------- issue 24: lined paper
def _pencil_two(size=280):
    from PIL import ImageDraw, ImageFilter
    img = Image.new("L", (size, size), 0)
    pts = [(95, 110), (105, 80), (135, 65), (170, 72), (185, 100), (178, 130), (150, 160), (115, 195), (95, 215),
           (140, 213), (190, 212)]
    ImageDraw.Draw(img).line(pts, fill=255, width=9, joint="curve")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float64) / 255


def _on_paper(mask, lines, shadow):
    h, w = mask.shape
    paper = np.full((h, w), 0.92)
    if lines:
        for y in range(18, h, 34):
            paper[y:y + 2, :] = 0.66                          # ruled lines: darker than the paper
    if shadow:                                                # lower left darker by up to 38%, soft edge
        yy, xx = np.mgrid[0:h, 0:w]
        paper = paper * (1 - 0.38 / (1 + np.exp((xx - 0.9 * yy + 40) / 18.0)))
    img = paper * (1 - 0.55 * mask) + np.random.default_rng(0).normal(0, 0.01, (h, w))   # grey pencil
    return Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))


@pytest.mark.parametrize("lines, shadow", [(True, False), (False, True)])
def test_pencil_digit_on_lined_paper_or_in_a_shadow_reads_like_on_plain_paper(tmp_path, lines, shadow):
    """The ruled lines are not ink (removed when two or more cross the page); a shadow's gradient is lighting."""
    mask = _pencil_two()
    _on_paper(mask, False, False).save(tmp_path / "plain.png")
    _on_paper(mask, lines, shadow).save(tmp_path / "page.png")
    plain, page = im.load_digit(tmp_path / "plain.png"), im.load_digit(tmp_path / "page.png")
    assert np.corrcoef(plain, page)[0, 1] > 0.95
    rows = page.reshape(28, 28)
    assert rows[:4].max() < 0.2 and rows[-4:].max() < 0.2    # no line left above or below the digit


def test_one_long_stroke_is_kept_as_the_digit():
    ink = np.zeros((40, 40), dtype=np.float32)
    ink[30:33, 2:38] = 1.0                                     # the bar of a tightly cropped 2: one long mark
    ink[5:30, 30:33] = 1.0
    assert np.array_equal(im._without_ruled_lines(ink, 0.01), ink)
    ink[10:12, :] = 0.5                                        # two lines across the page: lined paper
    out = im._without_ruled_lines(ink, 0.01)
    assert out[10:12, :5].max() == 0 and out[31, :].max() == 0 and out[20, 31] == 1.0
