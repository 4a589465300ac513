"""Bias / variance / data mismatch (issue #11): the error ladder, the training-dev split, the curve rules on a
History, the deterministic shifts, `numnet diagnose` and the curve reading printed by train and plot."""
import numpy as np
import pytest

import numnet
from numnet import History
from numnet.cli import main
from numnet.data import SHIFTS, shift_images, train_dev_split
from numnet.report.diagnosis import check_human_error, error_ladder, read_curves, trend
from numnet.runs import run


def history(train, val):
    h = History()
    for e, (t, v) in enumerate(zip(train, val), 1):
        h.record(e, train_cost=t, val_cost=v, lr=0.1, epoch_time=0.0)
    return h


def test_ladder_gaps_and_largest():
    lad = error_ladder(human=0.002, train=0.005, train_dev=0.012, dev=0.030, test=0.032)
    g = lad.gaps
    assert g["avoidable bias"] == pytest.approx(0.003) and g["variance"] == pytest.approx(0.007)
    assert g["data mismatch"] == pytest.approx(0.018) and g["overfitting to dev"] == pytest.approx(0.002)
    assert lad.largest == "data mismatch"
    assert any("synthesis" in r for r in lad.remedies())
    text = lad.format()
    assert "largest gap: data mismatch" in text and "training-dev error" in text


@pytest.mark.parametrize("errors, largest, remedy", [
    (dict(human=0.01, train=0.08, dev=0.10), "avoidable bias", "bigger network"),
    (dict(human=0.01, train=0.015, dev=0.11), "variance", "more training data"),
    (dict(human=0.0, train=0.01, train_dev=0.012, dev=0.013, test=0.05), "overfitting to dev", "bigger dev set"),
])
def test_ladder_names_the_notes_remedy(errors, largest, remedy):
    lad = error_ladder(**errors)
    assert lad.largest == largest and any(remedy in r for r in lad.remedies())


def test_without_train_dev_variance_is_dev_minus_train():
    lad = error_ladder(0.0, 0.02, None, 0.05)
    assert lad.gaps["variance"] == pytest.approx(0.03) and lad.gaps["data mismatch"] is None
    assert "not told apart" in lad.format()


@pytest.mark.parametrize("bad", [-0.1, 100.5, float("nan"), "x"])
def test_human_error_outside_0_100(bad):
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        check_human_error(bad)
    assert check_human_error(0.2) == pytest.approx(0.002)


@pytest.mark.parametrize("train, val, verdict", [
    ([1.0, 0.8, 0.6, 0.5, 0.4], [1.1, 0.9, 0.7, 0.6, 0.5], "learning"),
    ([1.0, 0.8, 0.6, 0.5, 0.4], [0.50, 0.51, 0.50, 0.50, 0.51], "overfitting"),
    ([1.0, 0.8, 0.6, 0.5, 0.4], [0.5, 0.55, 0.6, 0.7, 0.8], "overfitting"),
    ([1.0, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [1.1, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6], "bottleneck"),
    ([0.5, 0.5, 0.5, 0.5, 0.5], [0.9, 0.8, 0.7, 0.6, 0.5], "look at the data"),
    ([0.5, 0.6, 0.8, 1.0, 1.5], [0.5, 0.6, 0.8, 1.0, 1.5], "diverging"),
])
def test_curve_rules(train, val, verdict):
    r = read_curves(history(train, val))
    assert r.verdict == verdict, r
    advice = {"overfitting": "dropout", "bottleneck": "batch size", "diverging": "bug"}
    if verdict in advice:
        assert advice[verdict] in r.advice


def test_curve_rules_fall_back_to_batch_costs_and_need_three_epochs():
    h = History()
    for e, (b, v) in enumerate(zip([[1.0, 0.9], [0.7, 0.6], [0.5, 0.4]], [0.5, 0.6, 0.7]), 1):
        h.record(e, val_cost=v, lr=0.1, epoch_time=0.0, batch_cost=b)
    assert read_curves(h).verdict == "overfitting"
    assert read_curves(history([1, 0.5], [1, 0.5])).verdict is None
    assert trend([1.0, 1.0, 1.0]) == "flat"


def test_train_dev_split_is_seeded_and_disjoint():
    X = np.arange(100).reshape(100, 1)
    y = np.arange(100)
    (Xa, ya), (Xb, yb) = train_dev_split(X, y, 10, seed=1)
    assert len(yb) == 10 and len(ya) == 90 and not set(ya) & set(yb)
    assert np.all(np.diff(ya) > 0)  # the training part keeps its order
    (_, _), (_, yb2) = train_dev_split(X, y, 10, seed=1)
    assert np.array_equal(yb, yb2)
    assert len(train_dev_split(X, y, 0.25, seed=0)[1][1]) == 25
    with pytest.raises(ValueError):
        train_dev_split(X, y, 100)


def test_shifts_are_deterministic_and_change_the_images():
    X = numnet.load_mnist()[2][0][:50]
    for kind in SHIFTS:
        a, b = shift_images(X, kind), shift_images(X, kind)
        assert a.dtype == X.dtype and a.shape == X.shape and np.array_equal(a, b)
        assert not np.allclose(a, X)
    assert shift_images(X, "thick").sum() > X.sum() > shift_images(X, "thin").sum()
    np.testing.assert_allclose(shift_images(X, "invert"), 1 - X)
    with pytest.raises(ValueError, match="unknown shift"):
        shift_images(X, "blur")


def test_run_with_train_dev_reports_the_ladder_errors():
    r = run(overrides={"sizes": [784, 16, 10], "epochs": 3, "train_size": 2000, "validation_size": 500,
                       "train_dev_size": 300, "seed": 0}, out=None, verbose=0)
    assert set(r.errors) == {"train", "train_dev", "dev", "test"}
    assert all(0 <= v <= 1 for v in r.errors.values())
    assert r.summary()["errors"] == r.errors
    assert r.curves().verdict is not None


def test_cli_train_prints_curves_and_ladder_then_diagnose(capsys, tmp_path):
    m = tmp_path / "m.npz"
    rc = main(["train", "--train-size", "2000", "--validation-size", "1000", "--epochs", "3", "--sizes", "784,16,10",
               "--seed", "4", "--train-dev-size", "200", "--out", str(m)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "curves: training cost" in out and "training-dev error" in out
    assert "bigger network" not in out  # human-level error unknown: the avoidable bias is not guessed
    rc = main(["diagnose", str(m), "--human-error", "0.2", "--train-size", "2000", "--train-dev-size", "200",
               "--seed", "4"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "human-level error      0.20%" in out and "training-dev error" in out and "largest gap:" in out
    rc = main(["diagnose", str(m), "--human-error", "0.2", "--shift", "invert"])
    out, err = capsys.readouterr()
    assert rc == 0 and "shifted: invert" in out
    for bad in ("-1", "101"):
        rc = main(["diagnose", str(m), "--human-error", bad])
        _, err = capsys.readouterr()
        assert rc == 2 and err.startswith("numnet: error: ") and "[0, 100]" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------- issue 25
def hist(train, val, lr=None):
    h = History()
    for e, (t, v) in enumerate(zip(train, val), 1):
        h.record(e, train_cost=t, val_cost=v, lr=0.1 if lr is None else lr[e - 1], epoch_time=0.0)
    return h


def nielsen_like(n=60, turn=12):
    """Training cost falling all along; validation cost falling to `turn`, then rising slowly (Nielsen ch.3)."""
    e = np.arange(1, n + 1)
    train = 2.0 * np.exp(-e / 8) + 0.002
    val = np.where(e <= turn, 1.17 + 0.9 * (turn - e) / turn, 1.17 + 0.55 * (1 - np.exp(-(e - turn) / 80)))
    return train, val


def test_each_rule_on_a_synthetic_history_with_its_evidence():
    cases = [
        (1, "learning", [1.0, 0.8, 0.6, 0.5, 0.4, 0.35], [1.1, 0.9, 0.7, 0.6, 0.55, 0.5]),
        (2, "overfitting", [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], [0.9, 0.7, 0.6, 0.62, 0.65, 0.7, 0.8, 0.9]),
        (3, "bottleneck", [1.0, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [1.1, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]),
        (4, "look at the data", [2.3, 2.3, 2.3, 2.3, 2.3, 2.3], [2.2, 2.1, 2.0, 1.9, 1.8, 1.7]),
        (5, "diverging", [0.5, 0.6, 0.8, 1.0, 1.5, 2.0], [0.5, 0.6, 0.8, 1.0, 1.5, 2.2]),
    ]
    for rule, verdict, t, v in cases:
        r = read_curves(hist(t, v))
        assert (r.rule, r.verdict) == (rule, verdict), (rule, r.format())
        assert r.best_epoch == int(np.argmin(v)) + 1 and f"at epoch {r.best_epoch}" in r.format()
    text = read_curves(hist(*cases[1][2:])).format()
    assert "best validation cost 0.6 at epoch 3, 0.9 at epoch 8 (+50%)" in text and "gap" in text


def test_the_books_overfitting_shape_reads_overfitting_whatever_the_last_epochs_do():
    train, val = nielsen_like(400)
    r = read_curves(hist(train, val))
    assert r.verdict == "overfitting" and r.best_epoch == 12, r.format()
    assert "smaller network" in r.advice and "bigger" not in r.advice and "learning rate" not in r.advice
    assert r.val == "rising"


def test_a_slowly_but_steadily_falling_validation_cost_is_learning_not_overfitting():
    e = np.arange(1, 21)
    r = read_curves(hist(1.0 / e, 0.5 - 0.0015 * e))  # validation falls 0.3% per epoch, training much faster
    assert r.verdict == "learning" and r.val == "falling", r.format()


def test_a_resumed_run_at_a_low_rate_is_read_on_the_whole_history():
    train, val = nielsen_like(40)
    train = np.concatenate([train, np.full(20, train[-1])])
    val = np.concatenate([val, np.full(20, val[-1])])
    lr = [0.5] * 40 + [0.0005] * 20
    r = read_curves(hist(train, val, lr))
    assert r.verdict == "overfitting" and "lower the learning rate" not in r.advice, r.format()
    assert "epochs 41-60 at lr 0.0005 (was 0.5)" in r.format()
    # a run that had converged, resumed at a low rate: rule 3 without asking for a lower rate again
    t = [1.0, 0.6, 0.5] + [0.45] * 12
    v = [1.1, 0.7, 0.6] + [0.55] * 12
    r = read_curves(hist(t, v, [0.5] * 5 + [0.005] * 10))
    assert r.verdict == "bottleneck" and r.advice.startswith("converged") and "100x" in r.advice, r.format()


def test_a_cost_that_never_moved_is_not_told_to_lower_the_rate():
    r = read_curves(hist([2.3] * 6, [2.3] * 6))
    assert r.verdict == "bottleneck" and "nothing is learned" in r.advice


def test_plateau_is_reported_when_learning_resumes_after_it():
    t = [2.0, 1.5, 1.2, 1.2, 1.2, 1.2, 1.2, 1.0, 0.8, 0.6, 0.5, 0.45]
    v = [2.1, 1.6, 1.3, 1.3, 1.3, 1.3, 1.3, 1.1, 0.9, 0.7, 0.6, 0.55]
    assert "training cost flat (under 0.5% per epoch) over epochs 3-7" in read_curves(hist(t, v)).format()


# real runs, one per rule (each a few seconds on 2 cores)
def _mnist_small(n=3000, n_val=1000):
    (X, y), (Xv, yv), _ = numnet.load_mnist()
    return X[:n], y[:n], Xv[:n_val], yv[:n_val]


def _fit(sizes, X, y, Xv, yv, lr, epochs, batch_size=20):
    net = numnet.Network.from_sizes(sizes, activation="sigmoid", cost="log_likelihood", seed=1)
    return net.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=numnet.SGD(lr), validation_data=(Xv, yv),
                   seed=1, monitor_training=True)


def test_real_run_rule_1_learning():
    X, y, Xv, yv = _mnist_small()
    assert read_curves(_fit([784, 30, 10], X, y, Xv, yv, 0.5, 5)).verdict == "learning"


def test_real_run_rule_2_nielsen_overfit_recipe_and_its_resume_at_a_low_rate(tmp_path):
    r = run("nielsen-overfit", overrides={"epochs": 30, "seed": 1}, out=None, verbose=0,
            checkpoint_dir=str(tmp_path / "ck"))
    c = r.curves()
    assert c.verdict == "overfitting" and c.rule == 2 and 8 <= c.best_epoch <= 20, c.format()
    resumed = run(overrides={"epochs": 40, "lr": 0.0005}, resume=str(tmp_path / "ck"), out=None, verbose=0)
    c = resumed.curves()
    assert len(resumed.history) == 40 and c.verdict == "overfitting", c.format()
    assert "lower the learning rate" not in c.format() and "at lr 0.0005" in c.format()


def test_real_run_rule_3_bottleneck_a_two_unit_network():
    X, y, Xv, yv = _mnist_small(5000, 2000)
    r = read_curves(_fit([784, 2, 10], X, y, Xv, yv, 0.5, 15, batch_size=50))
    assert r.verdict == "bottleneck", r.format()


def test_real_run_rule_4_look_at_the_data_when_most_training_labels_are_wrong():
    X, y, Xv, yv = _mnist_small(10000, 2000)
    rng = np.random.default_rng(0)
    wrong = rng.random(len(y)) < 0.9
    y = y.copy()
    y[wrong] = rng.integers(0, 10, wrong.sum())
    r = read_curves(_fit([784, 30, 10], X, y, Xv, yv, 0.1, 10, batch_size=50))
    assert r.verdict == "look at the data", r.format()


def test_real_run_rule_5_diverging_at_a_huge_rate():
    X, y, Xv, yv = _mnist_small()
    r = read_curves(_fit([784, 30, 10], X, y, Xv, yv, 30.0, 8))
    assert r.verdict == "diverging" and r.rule == 5, r.format()
