"""Issue 25: `numnet figures` (the listing, a few fast figures, bad input) and the pieces the notes asked for:
the zeros initializer, the k/√epoch schedule, mini-batches with replacement, single-number metrics in early
stopping, satisficing, `gradcheck --l2`."""
import numpy as np
import pytest

import numnet
from numnet.cli import main
from numnet.runs.figures import FIGURES, make
from numnet.train.metrics import ValidationMetric, precision_recall_f1, satisficing, weighted_error

pytest.importorskip("matplotlib")


def test_listing_names_every_figure_with_its_note_and_section(capsys):
    assert main(["figures"]) == 0
    out = capsys.readouterr().out
    for name in ("bowl", "zeros", "slowdown", "activations", "saito", "ewa", "batchnorm", "exploding", "labels",
                 "softmax2", "replacement", "plateaus", "metrics", "decay", "curves", "moons", "mismatch",
                 "transfer", "multitask", "blocks", "search"):
        assert name in FIGURES and f"\n{name}" in "\n" + out
    assert all(f.note and f.section and f.shows for f in FIGURES.values())


@pytest.mark.parametrize("name", ["bowl", "ewa", "softmax2", "slowdown"])
def test_fast_figures_write_a_png_and_a_table(tmp_path, name):
    r = make(name, tmp_path)
    pngs = [p for p in r["files"] if p.suffix == ".png"]
    mds = [p for p in r["files"] if p.suffix == ".md"]
    assert pngs and mds and all(p.stat().st_size > 1000 for p in pngs)
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "|---|" in mds[0].read_text()


def test_figures_say_what_the_notes_say(tmp_path):
    assert "diverged" in make("bowl", tmp_path)["summary"] or "f=8" in make("bowl", tmp_path)["summary"]
    assert "| GD α=1.05 (too large) | " in (tmp_path / "bowl.md").read_text()
    assert "yes |" in (tmp_path / "bowl.md").read_text()  # the too-large rate diverges
    diff = float(make("softmax2", tmp_path)["summary"].split()[-1])
    assert diff < 1e-12  # softmax with C = 2 is logistic regression
    s = make("slowdown", tmp_path)["summary"]
    quad, ce = [int(part.split("after ")[1].split()[0]) for part in s.split("; ")]
    assert quad > 5 * ce  # the quadratic cost's learning slowdown


def test_cli_figures_bad_input(capsys, tmp_path):
    assert main(["figures", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown figure 'nope'" in capsys.readouterr().err
    assert main(["figures", "bowl", "--all"]) == 2
    assert main(["figures", "ewa", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "ewa.png").is_file()


@pytest.mark.slow
def test_every_figure_draws(tmp_path):
    assert main(["figures", "--all", "--out", str(tmp_path)]) == 0


def test_zeros_init_keeps_every_hidden_unit_equal():
    (X, y), _, _ = numnet.load_mnist()
    net = numnet.Network.from_sizes([784, 8, 10], init="zeros", cost="log_likelihood", activation="sigmoid", seed=0)
    net.fit(X[:500], y[:500], epochs=2, batch_size=50, optimizer=numnet.SGD(0.5), seed=0, verbose=0)
    W = [v for k, v in net.get_weights().items() if k.endswith(".W")][0]
    assert np.abs(W).max() > 0 and np.allclose(W, W[:, :1])  # it learned, yet all 8 units are one


def test_inverse_sqrt_schedule():
    s = numnet.InverseSqrtDecay(k=2.0)
    assert s.lr(0, 0.1) == pytest.approx(0.2) and s.lr(3, 0.1) == pytest.approx(0.1)
    assert numnet.SCHEDULES.get("inverse_sqrt") is numnet.InverseSqrtDecay
    with pytest.raises(ValueError):
        numnet.InverseSqrtDecay(k=0)


def test_replacement_draws_with_repeats_and_leaves_seeded_runs_alone():
    rng = np.random.default_rng(0)
    order = numnet.train.epoch_order("replacement", 0, 1000, rng)
    assert order.shape == (1000,) and len(np.unique(order)) < 700  # about 1 - 1/e distinct
    X = np.random.default_rng(1).random((40, 3)).astype("float32")
    y = np.arange(40) % 2

    def weights(shuffle):
        net = numnet.Network.from_sizes([3, 4, 2], cost="log_likelihood", seed=0)
        net.fit(X, y, epochs=2, batch_size=8, seed=3, verbose=0, **({} if shuffle is None else {"shuffle": shuffle}))
        return net.get_weights()
    a, b, c = weights(None), weights(True), weights("replacement")
    assert all(np.array_equal(a[k], b[k]) for k in a) and not all(np.array_equal(a[k], c[k]) for k in a)
    with pytest.raises(ValueError, match="replacement"):
        weights("sometimes")


def test_metrics_and_early_stopping_on_f1():
    t = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([1, 1, 0, 1, 0, 0])
    m = precision_recall_f1(t, p, positive=1)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert weighted_error(t, p, {1: 10}) == pytest.approx(11 / 33)  # a missed 1 weighs 10, a false 1 weighs 1
    (X, y), (Xv, yv), _ = numnet.load_mnist()
    metric = ValidationMetric("f1", Xv[:500], yv[:500])
    stop = numnet.EarlyStopping(patience=1, monitor=metric)
    net = numnet.Network.from_sizes([784, 16, 10], cost="log_likelihood", seed=0)
    h = net.fit(X[:1000], y[:1000], epochs=30, batch_size=20, optimizer=numnet.SGD(3.0), seed=0, verbose=0,
                validation_data=(Xv[:500], yv[:500]), early_stopping=stop)
    assert stop.monitor == "val_f1" and stop.best == pytest.approx(max(stop.best, metric(net)))
    assert len(h) < 30 and 0 < stop.best <= 1
    with pytest.raises(ValueError, match="unknown metric"):
        ValidationMetric("auc", Xv, yv)


def test_satisficing_picks_the_best_under_the_limits():
    c = [{"acc": 0.9, "ms": 1.0}, {"acc": 0.95, "ms": 3.0}, {"acc": 0.97, "ms": 12.0}]
    best, ok = satisficing(c, "acc", ms=5.0)
    assert best["acc"] == 0.95 and len(ok) == 2
    assert satisficing(c, "acc", ms=0.5) == (None, [])
    with pytest.raises(ValueError, match="size"):
        satisficing(c, "acc", size=1)


def test_gradcheck_l2_on_a_saved_model(tmp_path, capsys):
    m = tmp_path / "m.npz"
    assert main(["train", "--sizes", "784,8,10", "--epochs", "1", "--train-size", "200", "--validation-size", "100",
                 "--out", str(m), "--quiet"]) == 0
    assert main(["gradcheck", "--model", str(m), "--l2", "5"]) == 0
    assert "all gradients agree" in capsys.readouterr().out
    assert main(["gradcheck", "--l2", "1"]) == 2  # --l2 checks a model
