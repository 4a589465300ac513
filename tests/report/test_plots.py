import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from numnet.history import History  # noqa: E402
from numnet.plots import plot_curves, plot_decision_boundary, plot_history  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    data = path.read_bytes()
    return len(data) > 100 and data.startswith(PNG)


def make_history(validation=True, train_accuracy=True):
    h = History()
    for e in range(1, 4):
        h.record(e, train_cost=1.0 / e, train_accuracy=(0.5 + 0.1 * e if train_accuracy else None),
                 val_cost=(1.1 / e if validation else None),
                 val_accuracy=(0.45 + 0.1 * e if validation else None),
                 lr=0.1, epoch_time=0.5, batch_cost=[1.5 / e, 1.2 / e, 1.0 / e, 0.9 / e])
    return h


def test_plot_history(tmp_path):
    out = tmp_path / "figures" / "run1"           # created if missing
    paths = plot_history(make_history(), out)
    assert [p.name for p in paths] == ["cost.png", "accuracy.png"]
    assert all(is_png(p) for p in paths)
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "cost.png"]   # no temp files


def test_plot_history_without_validation_from_dict(tmp_path):
    paths = plot_history(make_history(validation=False).to_dict(), tmp_path)
    assert [p.name for p in paths] == ["cost.png", "accuracy.png"]
    assert all(is_png(p) for p in paths)


def test_plot_history_skips_accuracy_when_never_measured(tmp_path):
    h = History()
    h.record(1, lr=0.1, epoch_time=1.0, batch_cost=[0.9, 0.8])
    h.record(2, lr=0.1, epoch_time=1.0, batch_cost=[0.7, 0.6])
    paths = plot_history(h, tmp_path)
    assert [p.name for p in paths] == ["cost.png"] and is_png(paths[0])


def test_plot_history_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_history(History(), tmp_path)
    with pytest.raises(ValueError, match="History"):
        plot_history([1, 2], tmp_path)
    with pytest.raises(ValueError, match="lr"):
        plot_history({"epoch": [1]}, tmp_path)


def test_plot_curves(tmp_path):
    path = tmp_path / "compare.png"
    result = plot_curves({"sgd": [1.0, 0.7, 0.5], "adam": np.array([1.0, 0.4, 0.2]),
                          "diverged": [1.0, 5.0, float("nan")]},
                         path, title="optimizers", logy=True)
    assert result == path and is_png(path)


@pytest.mark.parametrize("curves, word", [
    ({}, "non-empty"),
    ([1.0, 2.0], "dict"),
    ({"a": []}, "'a'"),
    ({"a": [[1.0, 2.0]]}, "'a'"),
    ({"a": ["x"]}, "'a'"),
])
def test_plot_curves_bad_input(tmp_path, curves, word):
    with pytest.raises(ValueError, match=word):
        plot_curves(curves, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_plot_curves_log_scale_needs_positive(tmp_path):
    with pytest.raises(ValueError, match="logy"):
        plot_curves({"a": [1.0, 0.0]}, tmp_path / "c.png", logy=True)


def blobs():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal((-1, -1), 0.4, (20, 2)), rng.normal((1, 1), 0.4, (20, 2))])
    y = np.repeat([0, 1], 20)
    return X, y


def test_plot_decision_boundary(tmp_path):
    X, y = blobs()
    calls = []

    def predict(grid):
        calls.append(grid.shape)
        return (grid.sum(axis=1) > 0).astype(int)

    path = plot_decision_boundary(predict, X, y, tmp_path / "boundary.png", title="blobs", resolution=50)
    assert is_png(path)
    assert calls == [(2500, 2)]


def test_plot_decision_boundary_three_classes_float_labels(tmp_path):
    X, _ = blobs()
    y = (np.arange(40) % 3).astype(float)

    def predict(grid):
        return (np.digitize(grid[:, 0], [-0.5, 0.5])).reshape(-1, 1)

    assert is_png(plot_decision_boundary(predict, X, y, tmp_path / "b.png", resolution=20))


@pytest.mark.parametrize("change, word", [
    (dict(X=np.zeros((5, 3))), "X must have shape"),
    (dict(X=np.zeros(5)), "X must have shape"),
    (dict(X=np.zeros((0, 2)), y=np.zeros(0, int)), "X must have shape"),
    (dict(X=np.full((5, 2), np.nan)), "finite"),
    (dict(y=np.zeros(4, int)), "y must be class indices of shape"),
    (dict(y=np.full(5, 0.5)), "integer"),
    (dict(resolution=1), "resolution"),
    (dict(resolution=10.0), "resolution"),
    (dict(predict=lambda g: np.zeros(3, int)), "predict"),
    (dict(predict=lambda g: np.full(len(g), 0.3)), "predict"),
    (dict(predict="model"), "predict"),
])
def test_plot_decision_boundary_bad_input(tmp_path, change, word):
    args = dict(predict=lambda g: np.zeros(len(g), int), X=np.random.default_rng(0).random((5, 2)),
                y=np.zeros(5, int), path=tmp_path / "b.png", resolution=10) | change
    with pytest.raises(ValueError, match=word):
        plot_decision_boundary(**args)
    assert not (tmp_path / "b.png").exists()


def test_missing_matplotlib_message(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'numnet\[plot\]'"):
        plot_curves({"a": [1.0]}, tmp_path / "c.png")


# ---------------------------------------------------------------------------------------------- issue 24: plots
def _capture(monkeypatch):
    from numnet.report import plots
    figures = []
    real = plots.save_figure

    def keep(fig, path):
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_confusion_colours_show_the_errors_not_the_diagonal(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from numnet.report.plots import plot_confusion
    figures = _capture(monkeypatch)
    C = np.array([[990, 10, 0], [2, 995, 3], [0, 1, 999]])
    plot_confusion(C, tmp_path / "c.png")
    image = figures[0].axes[0].get_images()[0]
    data = image.get_array()
    assert data.mask.diagonal().all() and not data.mask[0, 1]          # the correct cells carry no colour
    assert image.norm.vmax == pytest.approx(0.01)                       # scaled to the largest error share, 10/1000
    low, high = image.cmap(image.norm(0.002)), image.cmap(image.norm(0.01))
    assert np.abs(np.subtract(low, high)).sum() > 0.5                   # a 0.2% and a 1% confusion look different
    assert any("%" in t.get_text() for t in figures[0].axes[1].get_yticklabels()) or figures[0].axes[1].get_ylabel()


def test_gradient_health_plot_shows_dead_and_saturated_fractions(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from numnet.report.plots import plot_gradient_health
    figures = _capture(monkeypatch)
    health = [(e, {"grad_norm": {"0.W": 1.0 / e, "2.W": 0.5}, "dead_fraction": {"1": 0.1 * e},
                   "saturated_fraction": {"3": 0.7}}) for e in (1, 2, 3)]
    plot_gradient_health(health, tmp_path / "g.png")
    norms, units = figures[0].axes
    assert len(norms.get_lines()) == 2
    labels = {line.get_label(): list(line.get_ydata()) for line in units.get_lines()}
    assert labels["layer 1: dead"] == pytest.approx([10, 20, 30])
    assert labels["layer 3: saturated"] == pytest.approx([70, 70, 70])
    assert "warning level (50%)" in labels


def test_parallel_coordinate_axes_carry_their_values():
    from numnet.search.report import _axis_labels
    from numnet.search.space import Param
    assert _axis_labels(Param("lr", "log", 1e-4, 1.0)) == [(0.0, "0.0001"), (0.5, "0.01"), (1.0, "1")]
    assert _axis_labels(Param("hidden", "int", 32, 512))[1] == (0.5, "272")
    assert [t for _, t in _axis_labels(Param("optimizer", "choice", values=["sgd", "adam"]))] == ["sgd", "adam"]
    beta = _axis_labels(Param("beta", "one-minus-log", 0.9, 0.999))
    assert beta[0][1] == "0.9" and beta[1][1] == "0.99" and beta[2][1] == "0.999"
