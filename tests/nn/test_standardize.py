"""Input standardization: x̂ = (x − μ)/σ fitted on training data, constant features, saving, the run layer."""
import numpy as np
import pytest

import numnet
from numnet import LAYERS, Network, Standardize, gradcheck
from numnet.cli import main
from numnet.runs.run import run


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(5.0, 3.0, (n, 4))
    X[:, 2] = 7.0  # a constant feature (an always-black pixel)
    y = (X[:, 0] > 5).astype(int) + (X[:, 1] > 5)
    return X, y


def test_fit_mean_std_and_constant_feature():
    X, _ = _data()
    layer = Standardize.fitted(X)
    assert layer.buffers["mean"].dtype == np.float64
    np.testing.assert_allclose(layer.buffers["mean"], X.mean(axis=0))
    assert layer.buffers["std"][2] == 1.0
    out = layer(X)
    np.testing.assert_allclose(out[:, [0, 1, 3]].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out[:, [0, 1, 3]].std(axis=0), 1, atol=1e-12)
    np.testing.assert_array_equal(out[:, 2], 0.0)  # constant: no division by zero, no NaN


def test_nearly_constant_float32_column_is_treated_as_constant():
    X = np.full((1000, 2), 0.1, dtype=np.float32)
    X[:, 0] = np.arange(1000)
    layer = Standardize.fitted(X)
    assert layer.buffers["std"][1] == 1.0 and np.isfinite(layer(X)).all()


def test_empty_set_and_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="empty"):
        Standardize(3).fit(np.zeros((0, 3)))
    net = Network.from_sizes([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="empty"):
        net.standardize(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        Standardize(3).fit(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        Standardize(1).fit(np.array([[np.nan]]))


def test_network_standardize_inserts_once_and_refits():
    X, y = _data()
    net = Network.from_sizes([4, 6, 3], activation="tanh", cost="log_likelihood", seed=1)
    n_params = net.n_params
    assert net.standardize(X) is net
    assert isinstance(net.layers[0], Standardize) and net.layers[0].buffers["mean"].dtype == np.float32
    assert net.sizes == [4, 6, 3] and net.n_params == n_params
    net.standardize(X[:10])
    assert sum(isinstance(l, Standardize) for l in net.layers) == 1
    np.testing.assert_allclose(net.layers[0].buffers["mean"], X[:10].mean(axis=0), rtol=1e-6)
    net.fit(X, y, epochs=2, batch_size=8, optimizer=numnet.SGD(0.1), seed=0)
    np.testing.assert_allclose(net.layers[0].buffers["mean"], X[:10].mean(axis=0), rtol=1e-6)  # not trained


def test_save_load_round_trip(tmp_path):
    X, y = _data()
    net = Network.from_sizes([4, 6, 3], activation="relu", cost="log_likelihood", seed=2).standardize(X)
    assert LAYERS.get("standardize") is Standardize
    back = numnet.load(net.save(tmp_path / "s.npz"))
    assert isinstance(back.layers[0], Standardize)
    np.testing.assert_array_equal(back.layers[0].buffers["std"], net.layers[0].buffers["std"])
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    assert back.evaluate(X, y) == net.evaluate(X, y)


def test_standardize_helps_badly_scaled_inputs():
    X, y = _data(200)
    X = X * [1000.0, 0.001, 1.0, 1.0]
    plain = Network.from_sizes([4, 8, 3], activation="tanh", cost="log_likelihood", seed=3)
    std = Network.from_sizes([4, 8, 3], activation="tanh", cost="log_likelihood", seed=3).standardize(X)
    for net in (plain, std):
        net.fit(X, y, epochs=30, batch_size=16, optimizer=numnet.SGD(0.1), seed=0)
    assert std.accuracy(X, y) > 0.9 > plain.accuracy(X, y)


def test_gradcheck_through_standardize_anywhere():
    X, y = _data(8)
    layers = [Standardize.fitted(X), numnet.Dense(4, 5, seed=1, dtype="float64"), numnet.Tanh(),
              Standardize(5, dtype="float64"), numnet.Dense(5, 3, seed=2, dtype="float64"), numnet.Softmax()]
    layers[3].buffers["std"][...] = [0.5, 2.0, 1.0, 3.0, 0.7]
    assert gradcheck(Network(layers, "log_likelihood"), X, y).passed()


def test_run_layer_fits_on_training_data_only(tmp_path):
    X, y = _data(60)
    Xv = X[:10] + 100.0  # validation/test data must not move the statistics
    data = ((X, y), (Xv, y[:10]), (Xv, y[:10]))
    r = run(overrides={"standardize": True, "sizes": [4, 5, 3], "epochs": 1, "batch_size": 8, "seed": 1, "lr": 0.05},
            data=data, out=tmp_path / "m.npz", verbose=0)
    layer = r.model.layers[0]
    assert isinstance(layer, Standardize)
    np.testing.assert_allclose(layer.buffers["mean"], X.mean(axis=0), rtol=1e-5)
    assert isinstance(numnet.load(tmp_path / "m.npz").layers[0], Standardize)
    r = run(overrides={"sizes": [4, 5, 3], "epochs": 1, "batch_size": 8, "seed": 1, "lr": 0.05}, data=data, out=None,
            verbose=0)
    assert not isinstance(r.model.layers[0], Standardize)
    with pytest.raises(ValueError, match="standardize"):
        run(overrides={"standardize": 1}, data=data, out=None, verbose=0)


def test_cli_flag_and_evaluate(tmp_path, capsys):
    out = tmp_path / "m.npz"
    rc = main(["train", "--standardize", "--sizes", "784,16,10", "--epochs", "1", "--train-size", "300",
               "--validation-size", "100", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr()
    net = numnet.load(out)
    assert isinstance(net.layers[0], Standardize)
    assert (net.layers[0].buffers["std"] == 1).any()  # MNIST's always-black border pixels
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    assert "accuracy" in capsys.readouterr().out
