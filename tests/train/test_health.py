"""GradientHealth: per-epoch gradient norms, update/weight ratios, dead ReLU and saturated sigmoid/tanh units,
recorded and warned about with a remedy."""
import warnings

import numpy as np
import pytest

import numnet
from numnet import GradientHealth, GradientHealthWarning, Network


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    return X, y


def _fit(net, health, lr=0.1, epochs=2, **kw):
    X, y = _data(**kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y, epochs=epochs, batch_size=32, optimizer=numnet.SGD(lr), seed=0, verbose=0, callbacks=[health])
    return [w for w in caught if issubclass(w.category, GradientHealthWarning)]


def test_records_every_epoch_and_matches_a_direct_measure():
    net = Network.from_sizes([6, 8, 3], activation="relu", init="he", cost="log_likelihood", seed=0)
    h = GradientHealth()
    assert _fit(net, h) == []  # a healthy network: no warnings
    assert [r["epoch"] for r in h.records] == [1, 2]
    r = h.records[-1]
    assert set(r["grad_norm"]) == {"0.W", "0.b", "2.W", "2.b"} and all(v > 0 for v in r["grad_norm"].values())
    assert 1e-5 < r["update_ratio"]["0.W"] < 1e-1
    assert set(r["dead_fraction"]) == {"1"} and r["saturated_fraction"] == {}
    assert r["warnings"] == []
    # the ratio of the first step is ‖lr·g‖/‖W‖ for plain SGD
    net2 = Network.from_sizes([6, 8, 3], activation="relu", init="he", cost="log_likelihood", seed=0)
    X, y = _data()
    W0 = net2.layers[0].W.copy()
    _, g0 = net2.copy().loss_and_grads(X, y)  # one batch holds every example: the step's gradient
    assert len(X) <= 256
    h2 = GradientHealth()
    net2.fit(X, y, epochs=1, batch_size=256, optimizer=numnet.SGD(0.1), seed=0, verbose=0, callbacks=[h2])
    assert h2.records[0]["update_ratio"]["0.W"] == pytest.approx(
        np.linalg.norm(net2.layers[0].W - W0) / np.linalg.norm(W0), rel=1e-5)
    assert h2.records[0]["grad_norm"]["0.W"] == pytest.approx(np.linalg.norm(g0[0]["W"]), rel=1e-5)


def test_dead_relu_units_warn_with_remedy():
    net = Network.from_sizes([6, 10, 3], activation="relu", cost="log_likelihood", seed=0)
    net.layers[0].b[:7] = -100.0  # 7 of 10 units can never be active
    h = GradientHealth()
    caught = _fit(net, h)
    assert h.records[0]["dead_fraction"]["1"] == pytest.approx(0.7)
    messages = [str(w.message) for w in caught]
    assert sum("dead" in m for m in messages) == 1  # warned once, not every epoch
    assert any("leaky_relu" in m and "learning rate" in m for m in messages)
    assert all("dead" in m for m in h.records[1]["warnings"])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturated_units_warn(activation):
    net = Network.from_sizes([6, 10, 3], activation=activation, cost="log_likelihood", init="large", seed=0)
    net.layers[0].W[...] *= 50
    h = GradientHealth()
    caught = _fit(net, h, lr=0.01)
    assert h.records[0]["saturated_fraction"]["1"] > 0.5
    assert any("saturated" in str(w.message) and "standardize" in str(w.message) for w in caught)


def test_large_and_tiny_updates_warn():
    net = Network.from_sizes([6, 8, 3], activation="tanh", cost="log_likelihood", seed=0)
    caught = _fit(net, GradientHealth(), lr=50.0, epochs=1)
    assert any("lower the learning rate" in str(w.message) for w in caught)
    net = Network.from_sizes([6, 8, 3], activation="tanh", cost="log_likelihood", seed=0)
    caught = _fit(net, GradientHealth(), lr=1e-9, epochs=1)
    assert any("raise the learning rate" in str(w.message) for w in caught)


def test_vanishing_gradients_in_a_deep_sigmoid_network():
    net = Network.from_sizes([6] + [12] * 6 + [3], activation="sigmoid", cost="log_likelihood", seed=0)
    h = GradientHealth()
    caught = _fit(net, h, epochs=1)
    norms = h.records[0]["grad_norm"]
    assert norms["0.W"] < norms["12.W"] / 100
    assert any("vanish" in str(w.message) and "0.W" in str(w.message) for w in caught)


def test_frozen_layers_are_not_watched_and_warn_false_is_silent():
    net = Network.from_sizes([6, 8, 3], activation="relu", cost="log_likelihood", seed=0).freeze(1)
    net.layers[0].b[:] = -100.0
    h = GradientHealth(warn=False)
    assert _fit(net, h) == []
    assert set(h.records[0]["grad_norm"]) == {"2.W", "2.b"}
    assert h.records[0]["warnings"]  # still recorded


def test_state_and_bad_arguments():
    h = GradientHealth()
    h.load_state_dict({"records": [{"epoch": 1}]})
    assert h.state_dict() == {"records": [{"epoch": 1}]}
    for kw in ({"probe": 0}, {"dead": 2.0}, {"margin": 0.0}, {"ratio": (1e-3, 1e-6)}):
        with pytest.raises(ValueError):
            GradientHealth(**kw)


def test_checkpoint_resume_keeps_records(tmp_path):
    X, y = _data()
    net = Network.from_sizes([6, 8, 3], activation="relu", init="he", cost="log_likelihood", seed=0)
    h = GradientHealth()
    net.fit(X, y, epochs=2, batch_size=32, seed=0, verbose=0, callbacks=[h], checkpoint_dir=tmp_path)
    h2 = GradientHealth()
    net.fit(X, y, epochs=3, batch_size=32, seed=0, verbose=0, callbacks=[h2], resume=tmp_path)
    assert [r["epoch"] for r in h2.records] == [1, 2, 3]


def test_log_instead_of_warnings_and_run_layer():
    lines = []
    net = Network.from_sizes([6, 10, 3], activation="relu", cost="log_likelihood", seed=0)
    net.layers[0].b[:7] = -100.0
    assert _fit(net, GradientHealth(log=lines.append)) == []
    assert len(lines) == 1 and lines[0].startswith("gradient health, epoch 1: layer 1 (relu)")
    from numnet.runs.run import run

    X, y = _data(64)
    lines = []
    run(overrides={"gradient_health": True, "sizes": [6, 4, 3], "epochs": 1, "batch_size": 8, "lr": 1e3, "seed": 0,
                   "activation": "tanh"}, data=((X, y), (X[:0], y[:0]), (X[:8], y[:8])), out=None, verbose=0,
        log=lines.append)
    assert any("gradient health" in line and "lower the learning rate" in line for line in lines)
    with pytest.raises(ValueError, match="gradient_health"):
        run(overrides={"gradient_health": "yes"}, data=((X, y), (X[:0], y[:0]), (X[:8], y[:8])), out=None, verbose=0)


def test_cli_flag(tmp_path, capsys):
    from numnet.cli import main

    rc = main(["train", "--gradient-health", "--activation", "sigmoid", "--init", "large", "--sizes", "784,16,10",
               "--epochs", "1", "--train-size", "200", "--validation-size", "50", "--out", str(tmp_path / "m.npz")])
    out = capsys.readouterr().out
    assert rc == 0 and "gradient health, epoch 1" in out and "saturated" in out


def test_gradient_health_goes_into_history_and_its_plot(tmp_path):
    """With the callback, History.gradient_health holds each epoch's record (saved and loaded with it), and
    plot_history draws gradient-health.png from it; without it the field is None."""
    pytest.importorskip("matplotlib")
    from numnet.report.plots import plot_history

    rng = np.random.default_rng(0)
    X = rng.random((120, 6)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    net = numnet.Network.from_sizes([6, 8, 8, 2], activation="sigmoid", cost="log_likelihood", init="large", seed=0)
    health = numnet.GradientHealth(warn=False)
    h = net.fit(X, y, epochs=3, batch_size=20, optimizer=numnet.SGD(0.1), seed=1, callbacks=[health])
    assert [r["epoch"] for r in h.gradient_health] == [1, 2, 3]
    assert h.gradient_health[-1]["grad_norm"] == health.records[-1]["grad_norm"]
    h.save(tmp_path / "h.json")
    assert numnet.History.load(tmp_path / "h.json").gradient_health == h.gradient_health
    paths = plot_history(h, tmp_path / "plots")
    assert [p.name for p in paths] == ["cost.png", "gradient-health.png"] and all(p.stat().st_size > 0 for p in paths)
    plain = numnet.Network.from_sizes([6, 8, 2], seed=0).fit(X, y, epochs=1)
    assert plain.gradient_health == [None]
