"""Transfer learning (issue #11): transfer() replaces the output layer, frozen parameters stay bit-identical
through training (run layer and CLI), fine-tuning unfreezes, and bad requests are one-line errors."""
import numpy as np
import pytest

import numnet
from numnet import BatchNorm, Dense, Network, Sigmoid
from numnet.cli import main
from numnet.model import output_head, reinitialize, transfer
from numnet.runs import RunError, run

DATA = {"train_size": 1500, "validation_size": 500, "epochs": 2, "batch_size": 32}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """[784, 32, 16, 10] trained briefly on digits 0-4."""
    path = tmp_path_factory.mktemp("transfer") / "pre.npz"
    r = run(overrides={**DATA, "sizes": [784, 32, 16, 10], "classes": [0, 1, 2, 3, 4], "seed": 0}, out=path,
            verbose=0)
    return r.model, path


def test_transfer_replaces_the_head_and_freezes(pretrained):
    net, _ = pretrained
    new = transfer(net, replace_head=5, freeze=2, seed=1)
    assert new.sizes == [784, 32, 16, 5] and new.n_out == 5
    assert [l.trainable for l in new.layers if l.params] == [False, False, True]
    for a, b in zip(new.layers[:4], net.layers[:4]):
        for k in a.params:
            assert np.array_equal(a.params[k], b.params[k])
    assert type(new.layers[-1]) is type(net.layers[-1]) and new.layers[-1] is not net.layers[-1]
    again = transfer(net, replace_head=5, freeze=2, seed=1)
    assert np.array_equal(again.layers[-2].W, new.layers[-2].W)  # the new head is seeded
    assert all(l.trainable for l in net.layers)  # the source model is untouched


def test_reinitialize_keeps_the_architecture():
    net = Network.from_sizes([6, 5, 3], batch_norm=True, seed=0)
    fresh = reinitialize(net, seed=1)
    assert fresh.architecture() == net.architecture()
    assert not np.array_equal(fresh.layers[0].W, net.layers[0].W)


def test_errors_for_bad_transfer_requests(pretrained):
    net, _ = pretrained
    with pytest.raises(ValueError, match="cannot freeze 3"):
        transfer(net, replace_head=5, freeze=3)
    with pytest.raises(ValueError, match="replace_head"):
        transfer(net, replace_head=0)
    headless = Network([Dense(4, 3), Sigmoid(), Dense(3, 2), BatchNorm(2)], "quadratic")
    with pytest.raises(ValueError, match="no output layer"):
        output_head(headless)


def test_frozen_parameters_stay_bit_identical_through_training(pretrained):
    net, path = pretrained
    r = run(overrides={**DATA, "init_from": str(path), "replace_head": 5, "freeze": 2, "classes": [5, 6, 7, 8, 9],
                       "seed": 3, "optimizer": "adam", "lr": 0.01}, out=None, verbose=0)
    trained = r.model
    for i in (0, 2):  # the two frozen Dense layers
        for k in ("W", "b"):
            assert trained.layers[i].params[k].tobytes() == net.layers[i].params[k].tobytes()
    head = transfer(net, replace_head=5, freeze=2, seed=3).layers[4]
    assert not np.array_equal(trained.layers[4].W, head.W)  # the head did learn
    assert r.test.accuracy > 0.4  # digits 5-9 (chance 0.2) from 1500 images through frozen 0-4 features (0.62)


def test_fine_tuning_unfreezes_after_the_head(pretrained):
    net, path = pretrained
    r = run(overrides={**DATA, "init_from": str(path), "replace_head": 5, "freeze": 2, "classes": [5, 6, 7, 8, 9],
                       "seed": 3, "fine_tune_lr": 0.01, "fine_tune_epochs": 1}, out=None, verbose=0)
    assert len(r.history) == 3 and r.history.lr[-1] == pytest.approx(0.01)
    assert all(l.trainable for l in r.model.layers)
    assert not np.array_equal(r.model.layers[0].W, net.layers[0].W)


def test_cli_transfer_and_one_line_errors(capsys, pretrained, tmp_path):
    _, path = pretrained
    common = ["train", "--train-size", "1000", "--validation-size", "500", "--epochs", "1", "--classes", "5,6,7,8,9",
              "--seed", "1", "--out", str(tmp_path / "t.npz")]
    rc = main([*common, "--init-from", str(path), "--replace-head", "5", "--freeze", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "transfer from" in out and "1 layer(s) frozen" in out
    assert numnet.load(tmp_path / "t.npz").layers[0].trainable is False
    headless = Network([Dense(784, 3), Sigmoid(), Dense(3, 2), BatchNorm(2)], "quadratic")
    headless.save(tmp_path / "headless.npz")
    for extra, words in [(["--init-from", str(path), "--replace-head", "5", "--freeze", "9"], "cannot freeze 9"),
                         (["--init-from", str(tmp_path / "headless.npz"), "--replace-head", "5"], "no output layer"),
                         (["--replace-head", "5"], "--init-from"),
                         (["--init-from", str(path), "--sizes", "784,10,5"], "--sizes"),
                         (["--init-from", str(path), "--replace-head", "5", "--freeze", "-1"], "freeze")]:
        rc = main([*common, *extra])
        out, err = capsys.readouterr()
        assert rc == 2 and err.startswith("numnet: error: ") and err.count("\n") == 1, err
        assert words in err, err


def test_transfer_settings_are_checked():
    with pytest.raises(ValueError, match="classes"):
        run(overrides={**DATA, "classes": [1, 1]}, out=None, verbose=0)
    with pytest.raises(RunError, match="--init-from"):
        run(overrides={**DATA, "freeze": 1}, out=None, verbose=0)
