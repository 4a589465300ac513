"""Maxout: f_j(x) = max_k (x W_k + b_k)_j, its gradients, saving, freezing, from_sizes, settings and the CLI."""
import numpy as np
from conftest import bwd, fwd
import pytest

import numnet
from numnet import LAYERS, Dense, Maxout, Network, Softmax, gradcheck
from numnet.cli import main
from numnet.runs.run import resolve_settings, run

TOL = 1e-7


def _batch(n=8, n_in=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), rng.integers(0, k, n)


def test_forward_is_max_of_pieces():
    layer = Maxout(4, 3, pieces=3, seed=0, dtype="float64")
    assert layer.params["W"].shape == (4, 9) and layer.params["b"].shape == (9,)
    X, _ = _batch()
    z = X @ layer.params["W"] + layer.params["b"]
    expected = np.stack([z[:, j * 3:(j + 1) * 3].max(axis=1) for j in range(3)], axis=1)
    np.testing.assert_array_equal(layer(X), expected)
    assert layer.output_size(4) == 3 and layer.changes_width and layer.decay == ("W",)
    assert layer.params["W"].dtype == np.float64


@pytest.mark.parametrize("pieces", [2, 3, 5])
def test_gradcheck_float64(pieces):
    net = Network([Maxout(4, 5, pieces=pieces, seed=1, dtype="float64"), Maxout(5, 4, pieces=pieces, seed=2,
                   dtype="float64"), Dense(4, 3, seed=3, dtype="float64"), Softmax()], "log_likelihood")
    X, y = _batch()
    r = gradcheck(net, X, y, l2=0.3, n_train=20)
    assert r.passed(TOL), r.errors
    assert {"0.W", "0.b", "1.W", "1.b"} <= set(r.errors)


def test_backward_routes_to_winning_piece_only():
    layer = Maxout(2, 1, pieces=2, dtype="float64")
    layer.params["W"][...] = [[1.0, -1.0], [0.0, 0.0]]
    layer.params["b"][...] = 0
    x = np.array([[2.0, 0.0], [-3.0, 0.0]])  # piece 0 wins for row 0, piece 1 for row 1
    _, cache = fwd(layer, x, training=True)
    dx, grads = bwd(layer, cache, np.array([[1.0], [1.0]]))
    np.testing.assert_array_equal(grads["W"].value(), [[2.0, -3.0], [0.0, 0.0]])
    np.testing.assert_array_equal(grads["b"], [1.0, 1.0])
    np.testing.assert_array_equal(dx, [[1.0, 0.0], [-1.0, 0.0]])
    assert bwd(layer, cache, np.array([[1.0], [1.0]]), need_dx=False)[0] is None


def test_frozen_maxout_keeps_gradients_at_zero():
    net = Network.from_sizes([4, 5, 3], activation="maxout", cost="log_likelihood", seed=1)
    net.freeze(1)
    X, y = _batch()
    W = net.layers[0].params["W"].copy()
    net.fit(X, y, epochs=2, batch_size=4, optimizer=numnet.SGD(0.5), seed=0)
    np.testing.assert_array_equal(net.layers[0].params["W"], W)
    _, grads = net.loss_and_grads(X, y)
    assert grads[0] == {}  # a frozen layer gets no gradient


def test_pieces_below_two_is_an_error():
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="pieces must be an integer >= 2"):
            Maxout(4, 3, pieces=bad)


def test_registered_and_saved(tmp_path):
    assert LAYERS.get("maxout") is Maxout
    net = Network.from_sizes([4, 6, 5, 3], activation="maxout", pieces=3, cost="log_likelihood", keep_prob=0.9, seed=2)
    assert [type(l).__name__ for l in net.layers] == ["Maxout", "Dropout", "Maxout", "Dropout", "Dense", "Softmax"]
    assert net.sizes == [4, 6, 5, 3]
    X, _ = _batch()
    back = numnet.load(net.save(tmp_path / "m.npz"))
    assert [l.config() for l in back.layers] == [l.config() for l in net.layers]
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_from_sizes_errors():
    with pytest.raises(ValueError, match="pieces applies to maxout"):
        Network.from_sizes([4, 5, 3], activation="relu", pieces=3)
    with pytest.raises(ValueError, match="batch_norm"):
        Network.from_sizes([4, 5, 3], activation="maxout", batch_norm=True)
    with pytest.raises(ValueError, match="pieces must be an integer >= 2"):
        Network.from_sizes([4, 5, 3], activation="maxout", pieces=1)


def test_maxout_learns_xor_like_moons():
    X, y = numnet.make_moons(200, noise=0.1, seed=0)
    net = Network.from_sizes([2, 16, 1], activation="maxout", pieces=3, output="sigmoid", cost="cross_entropy", seed=0)
    net.fit(X, y, epochs=60, batch_size=16, optimizer=numnet.Adam(0.01), seed=0)
    assert net.accuracy(X, y) > 0.95


def test_settings_and_run_layer():
    cfg = resolve_settings(overrides={"activation": "maxout", "pieces": 3, "sizes": [4, 5, 3], "seed": 1})
    assert cfg["pieces"] == 3
    with pytest.raises(ValueError, match="pieces"):
        resolve_settings(overrides={"pieces": 1})
    X, y = _batch(40)
    data = ((X, y), (X[:8], y[:8]), (X[:8], y[:8]))
    r = run(overrides={"activation": "maxout", "pieces": 3, "sizes": [4, 5, 3], "epochs": 1, "batch_size": 8,
                       "seed": 1}, data=data, out=None, verbose=0)
    assert isinstance(r.model.layers[0], Maxout) and r.model.layers[0].pieces == 3


def test_cli_flags(tmp_path, capsys):
    out = tmp_path / "m.npz"
    rc = main(["train", "--activation", "maxout", "--pieces", "3", "--sizes", "784,16,10", "--epochs", "1",
               "--train-size", "300", "--validation-size", "100", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr()
    assert numnet.load(out).layers[0].pieces == 3
    capsys.readouterr()
    rc = main(["train", "--activation", "nope", "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "maxout" in err and err.startswith("numnet: error:")
    rc = main(["train", "--activation", "relu", "--pieces", "3", "--epochs", "1", "--train-size", "100"])
    assert rc == 2 and "pieces applies to maxout" in capsys.readouterr().err
    rc = main(["gradcheck", "--model", str(out), "--examples", "4"])
    assert rc == 0 and "all gradients agree" in capsys.readouterr().out


def test_gradcheck_combinations_include_maxout():
    rows = dict(numnet.model.gradcheck_combinations(sizes=(4, 3, 2), examples=4))
    assert rows["maxout (3 pieces)"] < TOL
