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
    ([0.5, 0.5, 0.5, 0.5, 0.5], [0.6, 0.6, 0.6, 0.6, 0.6], "bottleneck"),
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
