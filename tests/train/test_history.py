import json

import numpy as np
import pytest

from numnet.history import FIELDS, History, ewa, format_table


def make_history(n=3, validation=True):
    h = History()
    for e in range(1, n + 1):
        h.record(e, train_cost=1.0 / e, train_accuracy=None,
                 val_cost=(1.2 / e if validation else None),
                 val_accuracy=([0.80, 0.90, 0.85, 0.90][e - 1] if validation else None),
                 lr=0.1 / e, epoch_time=1.5 + e, batch_cost=np.array([2.0 / e, 1.5 / e, 1.0 / e]))
    return h


# ----------------------------------------------------------------------------- recording

def test_record_and_access():
    h = make_history()
    assert len(h) == 3
    assert h["epoch"] == [1, 2, 3]
    assert h.val_accuracy == h["val_accuracy"] == [0.80, 0.90, 0.85]
    assert h.train_accuracy == [None, None, None]
    assert h.batch_cost[1] == [1.0, 0.75, 0.5]
    assert all(type(c) is float for c in h.batch_cost[0])
    last = h.last
    assert set(last) == set(FIELDS)
    assert last["epoch"] == 3 and last["lr"] == pytest.approx(0.1 / 3)


def test_accessors_return_copies():
    h = make_history()
    h["lr"].append(5.0)
    h.batch_cost[0].append(9.0)
    assert len(h["lr"]) == 3 and len(h.batch_cost[0]) == 3


def test_numpy_scalars_stored_as_python_floats():
    h = History()
    h.record(1, train_cost=np.float32(0.5), lr=np.float64(0.1), epoch_time=np.float64(2.0))
    assert type(h.train_cost[0]) is float and type(h.lr[0]) is float
    json.dumps(h.to_dict())


def test_unknown_field_access():
    h = History()
    with pytest.raises(KeyError, match="val_acc"):
        h["val_acc"]
    with pytest.raises(AttributeError):
        h.val_acc


def test_last_on_empty():
    with pytest.raises(ValueError, match="empty"):
        History().last


@pytest.mark.parametrize("kwargs, field", [
    (dict(epoch=0), "epoch"),
    (dict(epoch=1.0), "epoch"),
    (dict(train_cost=float("nan")), "train_cost"),
    (dict(val_cost=float("inf")), "val_cost"),
    (dict(train_accuracy=1.5), "train_accuracy"),
    (dict(val_accuracy=-0.1), "val_accuracy"),
    (dict(lr=-0.1), "lr"),
    (dict(lr=None), "lr"),
    (dict(epoch_time=-1.0), "epoch_time"),
    (dict(batch_cost=[0.1, float("nan")]), "batch_cost"),
    (dict(batch_cost=[[0.1]]), "batch_cost"),
    (dict(batch_cost=["a"]), "batch_cost"),
])
def test_record_rejects_bad_values(kwargs, field):
    args = dict(epoch=1, lr=0.1, epoch_time=1.0) | kwargs
    h = History()
    with pytest.raises(ValueError, match=field):
        h.record(args.pop("epoch"), **args)
    assert len(h) == 0


def test_record_rejects_non_increasing_epoch():
    h = make_history(2)
    with pytest.raises(ValueError, match="epoch must increase"):
        h.record(2, lr=0.1, epoch_time=1.0)


# ----------------------------------------------------------------------------- best / truncate

def test_best_epoch():
    h = make_history(4)
    assert h.best_epoch() == 2                       # 0.90 first reached in epoch 2
    assert h.best_epoch("val_cost", "min") == 4
    assert h.best_epoch("train_cost", mode="max") == 1


def test_best_epoch_errors():
    h = make_history(3, validation=False)
    with pytest.raises(ValueError, match="no values recorded for 'val_accuracy'"):
        h.best_epoch()
    with pytest.raises(ValueError, match="unknown metric"):
        h.best_epoch("accuracy")
    with pytest.raises(ValueError, match="mode"):
        h.best_epoch("train_cost", mode="lowest")


def test_truncate():
    h = make_history(4)
    h.truncate(2)
    assert len(h) == 2 and h.epoch == [1, 2] and len(h.batch_cost) == 2
    h.record(3, lr=0.01, epoch_time=1.0)             # resuming continues from epoch 3
    assert h.epoch == [1, 2, 3]
    h.truncate(0)
    assert len(h) == 0
    for bad in (-1, 5, 1.0):
        with pytest.raises(ValueError, match="n_epochs"):
            make_history(4).truncate(bad)


# ----------------------------------------------------------------------------- serialisation

def test_dict_round_trip():
    h = make_history()
    clone = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert clone.to_dict() == h.to_dict()


def test_save_load_keeps_full_precision(tmp_path):
    h = History()
    h.record(1, train_cost=0.1 + 0.2, val_accuracy=1 / 3, lr=np.pi / 7, epoch_time=1e-7,
             batch_cost=[np.e, 1 / 7])
    path = tmp_path / "history.json"
    h.save(path)
    loaded = History.load(path)
    assert loaded.to_dict() == h.to_dict()
    assert loaded.train_cost[0] == 0.1 + 0.2
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]   # no temp files left


def test_load_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        History.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        History.load(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"epoch": [1]}))
    with pytest.raises(ValueError, match="wrong.json.*missing"):
        History.load(wrong)


def bad_dict(**changes):
    d = make_history(2).to_dict()
    d.update(changes)
    return d


@pytest.mark.parametrize("d, field", [
    (bad_dict(extra=[1, 2]), "extra"),
    ({k: v for k, v in bad_dict().items() if k != "lr"}, "lr"),
    (bad_dict(val_cost=[0.1]), "val_cost"),
    (bad_dict(val_cost=(0.1, 0.2)), "val_cost"),
    (bad_dict(train_cost=[0.1, "x"]), "train_cost"),
    (bad_dict(val_accuracy=[0.5, float("nan")]), "val_accuracy"),
    (bad_dict(epoch=[2, 1]), "epoch"),
    (bad_dict(batch_cost=[[0.1], 0.2]), "batch_cost"),
    ([1, 2], "dict"),
])
def test_from_dict_validation(d, field):
    with pytest.raises(ValueError, match=field):
        History.from_dict(d)


# ----------------------------------------------------------------------------- ewa

def test_ewa_hand_computed():
    # β = 0.5, θ = 4, 8, 2:  v = 2, 5, 3.5;  corrected / (0.5, 0.75, 0.875) = 4, 20/3, 4
    assert ewa([4, 8, 2], beta=0.5, bias_correction=False) == pytest.approx([2.0, 5.0, 3.5])
    assert ewa([4, 8, 2], beta=0.5) == pytest.approx([4.0, 20 / 3, 4.0], rel=1e-14)


def test_ewa_constant_sequence_stays_constant_with_bias_correction():
    for beta in (0.0, 0.5, 0.9, 0.98, 0.999):
        v = ewa(np.full(500, 37.5), beta=beta)
        assert np.max(np.abs(v - 37.5)) <= 1e-12 * 37.5


def test_ewa_without_bias_correction_starts_low():
    v = ewa([10.0, 10.0], beta=0.9, bias_correction=False)
    assert v[0] == pytest.approx(0.1 * 10.0) and v[1] == pytest.approx(1.9)


def test_ewa_empty_and_type():
    out = ewa([])
    assert isinstance(out, np.ndarray) and out.shape == (0,)


@pytest.mark.parametrize("kwargs, word", [
    (dict(values=[1.0], beta=1.0), "beta"),
    (dict(values=[1.0], beta=-0.1), "beta"),
    (dict(values=[1.0], beta=float("nan")), "beta"),
    (dict(values=[1.0, float("nan")]), "values"),
    (dict(values=[[1.0, 2.0]]), "values"),
])
def test_ewa_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ewa(**kwargs)


# ----------------------------------------------------------------------------- table

def test_format_table():
    table = format_table(make_history(2))
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["epoch", "train", "cost", "train", "acc", "val", "cost",
                                "val", "acc", "lr", "time"]
    assert lines[2].split() == ["1", "1.0000", "-", "1.2000", "80.00%", "0.1", "2.5s"]
    assert len({len(line) for line in lines}) == 1
    assert format_table(make_history(2).to_dict()) == table
    assert len(format_table(History()).splitlines()) == 2
