"""Error analysis (issue #11): sampled mistakes, the contact sheet, the tagged CSV and its ceilings, the
model/data identity check, per-class precision/recall/F1 and the confusion PNG."""
import csv

import numpy as np
import pytest

import numnet
from numnet.cli import main
from numnet.report.analysis import class_report, confusion_matrix
from numnet.report.errors import (check_tags_match, data_identity, model_fingerprint, read_errors_csv,
                                  sample_mistakes, tag_summary, write_error_sheet, write_errors_csv)

PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def user_error(rc, err, *words):
    assert rc == 2 and err.startswith("numnet: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


@pytest.fixture(scope="module")
def mnist():
    return numnet.load_mnist()


@pytest.fixture(scope="module")
def model(mnist, tmp_path_factory):
    (X, y), _, _ = mnist
    net = numnet.Network.from_sizes([784, 16, 10], activation="relu", init="he", cost="log_likelihood", seed=0)
    net.fit(X[:2000], y[:2000], epochs=2, batch_size=32, optimizer=numnet.SGD(0.1), seed=0, verbose=0)
    path = tmp_path_factory.mktemp("errors") / "m.npz"
    net.save(path)
    return net, path


def fill_tags(path, tagger):
    rows = list(csv.DictReader(open(path)))
    for k, r in enumerate(rows):
        r["tags"] = tagger(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def test_sample_mistakes_are_mistakes_and_seeded(model, mnist):
    net, _ = model
    Xv, yv = mnist[1]
    s = sample_mistakes(net, Xv, yv, 100, seed=3)
    assert len(s) == 100 and np.all(np.diff(s.index) > 0)
    pred = net.predict(Xv)
    assert np.all(pred[s.index] != yv[s.index]) and np.all(s.predicted == pred[s.index])
    assert s.n_errors == int(np.sum(pred != yv)) and s.n_examples == len(yv)
    np.testing.assert_array_equal(s.index, sample_mistakes(net, Xv, yv, 100, seed=3).index)
    assert not np.array_equal(s.index, sample_mistakes(net, Xv, yv, 100, seed=4).index)
    everything = sample_mistakes(net, Xv[:50], yv[:50], 1000)
    assert len(everything) == everything.n_errors  # fewer mistakes than asked: all of them


def test_csv_round_trip_and_ceiling(model, mnist, tmp_path):
    net, _ = model
    Xv, yv = mnist[1]
    s = sample_mistakes(net, Xv, yv, 40, seed=0, data_name="validation")
    path = write_errors_csv(s, tmp_path / "errors.csv")
    assert list(csv.DictReader(open(path)))[0]["tags"] == ""
    fill_tags(path, lambda k: "thin stroke" if k < 10 else ("rotated;thin stroke" if k < 15 else ""))
    tagged = read_errors_csv(path)
    check_tags_match(tagged, net, Xv, yv, "validation")
    rows = {r["tag"]: r for r in tag_summary(tagged)}
    assert rows["thin stroke"]["count"] == 15 and rows["rotated"]["count"] == 5
    assert rows["(untagged)"]["count"] == 25
    e = s.n_errors / len(yv)
    assert rows["thin stroke"]["share"] == pytest.approx(15 / 40)
    assert rows["thin stroke"]["error_if_fixed"] == pytest.approx(e * (1 - 15 / 40))


def test_tags_for_another_model_or_data_are_detected(model, mnist, tmp_path):
    net, _ = model
    Xv, yv = mnist[1]
    path = write_errors_csv(sample_mistakes(net, Xv, yv, 20, data_name="validation"), tmp_path / "e.csv")
    tagged = read_errors_csv(path)
    other = net.copy()
    other.layers[0].params["W"][0, 0] += 1
    assert model_fingerprint(other) != model_fingerprint(net)
    with pytest.raises(ValueError, match="another model"):
        check_tags_match(tagged, other, Xv, yv, "validation")
    Xt, yt = mnist[2]
    with pytest.raises(ValueError, match="other data"):
        check_tags_match(tagged, net, Xt, yt, "test")
    assert data_identity(Xv, yv, "v") == data_identity(Xv.copy(), yv.copy(), "v")


def test_cli_errors_sheet_csv_and_tags(capsys, model, tmp_path):
    _, path = model
    rc, out, err = run(capsys, "errors", path, "--sample", "30", "--out", tmp_path / "E", "--split", "test")
    assert rc == 0, err
    png, table = tmp_path / "E" / "errors.png", tmp_path / "E" / "errors.csv"
    assert png.read_bytes().startswith(PNG)
    rows = fill_tags(table, lambda k: "thin stroke" if k % 2 == 0 else "")
    assert len(rows) == 30
    rc, out, err = run(capsys, "errors", "--tags", table)
    assert rc == 0, err
    assert "thin stroke" in out and "15" in out and "would lower the error from" in out
    rc, out, err = run(capsys, "errors", path, "--tags", table, "--split", "test")  # checked against the model
    assert rc == 0, err
    rc, out, err = run(capsys, "errors", path, "--tags", table, "--split", "validation")
    user_error(rc, err, "other data")


@pytest.mark.parametrize("damage, words", [
    (lambda r: r.__setitem__("index", "999999"), ["outside the data"]),
    (lambda r: r.__setitem__("index", "x"), ["index must be an integer"]),
    (lambda r: r.__setitem__("model", "0123456789abcdef"), ["different models"]),
    (lambda r: r.__setitem__("predicted", r["true"]), ["not a mistake"]),
])
def test_cli_bad_tags_csv_is_one_line(capsys, model, mnist, tmp_path, damage, words):
    net, _ = model
    path = write_errors_csv(sample_mistakes(net, *mnist[2], 5, data_name="test"), tmp_path / "e.csv")
    rows = list(csv.DictReader(open(path)))
    damage(rows[0])
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    rc, out, err = run(capsys, "errors", "--tags", path)
    user_error(rc, err, *words)


def test_cli_tags_for_another_model(capsys, model, mnist, tmp_path):
    net, _ = model
    path = write_errors_csv(sample_mistakes(net, *mnist[2], 5, data_name="test"), tmp_path / "e.csv")
    other = net.copy()
    other.layers[-2].params["b"] += 0.01
    other.save(tmp_path / "other.npz")
    rc, out, err = run(capsys, "errors", tmp_path / "other.npz", "--tags", path, "--split", "test")
    user_error(rc, err, "another model")


def test_cli_errors_on_a_data_file(capsys, model, mnist, tmp_path):
    _, path = model
    Xt, yt = mnist[2]
    np.savez(tmp_path / "d.npz", X=(Xt[:300] * 255).astype(np.uint8), y=yt[:300])
    rc, out, err = run(capsys, "errors", path, "--data", tmp_path / "d.npz", "--out", tmp_path / "F")
    assert rc == 0, err
    assert "300" in out and (tmp_path / "F" / "errors.csv").exists()
    rc, out, err = run(capsys, "errors", path)
    user_error(rc, err, "--tags")


def test_contact_sheet_rejects_non_images(tmp_path):
    class S:
        index, true, predicted, confidence = [0], [1], [2], [0.5]
    with pytest.raises(ValueError, match="28"):
        write_error_sheet(S, np.zeros((3, 10)), tmp_path / "x.png")


def test_class_report_values():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 1, 1, 0, 0])
    rep = class_report(confusion_matrix(y, p, classes=3))
    assert rep[0]["precision"] == pytest.approx(2 / 4) and rep[0]["recall"] == pytest.approx(2 / 3)
    assert rep[0]["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert rep[1]["precision"] == pytest.approx(1 / 2) and rep[1]["recall"] == pytest.approx(1 / 2)
    assert rep[2]["precision"] is None and rep[2]["recall"] == 0 and rep[2]["f1"] is None
    assert [r["support"] for r in rep] == [3, 2, 1]


def test_cli_evaluate_per_class_and_confusion_png(capsys, model, mnist, tmp_path):
    net, path = model
    rc, out, err = run(capsys, "evaluate", path, "--confusion-png", tmp_path / "c.png")
    assert rc == 0, err
    Xt, yt = mnist[2]
    rep = class_report(confusion_matrix(yt, net.predict(Xt), classes=10))
    lines = out.splitlines()
    row3 = next(l for l in lines if l.split()[:1] == ["3"])
    assert row3.split()[1:4] == [f"{100 * rep[3][k]:.2f}%" for k in ("precision", "recall", "f1")]
    assert any(l.startswith("macro") for l in lines)
    assert (tmp_path / "c.png").read_bytes().startswith(PNG)
