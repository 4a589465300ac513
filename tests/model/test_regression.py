"""Regression: an identity output with the quadratic cost takes real-valued targets; NaN targets are rejected;
evaluate_regression reports MSE and R²."""
import numpy as np
import pytest

import numnet
from numnet import Dense, Identity, Network, Tanh, gradcheck


def _linear(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = X @ np.array([[2.0, -1.0], [0.5, 3.0], [-4.0, 0.0]]) + np.array([10.0, -20.0])
    return X, Y


def reg_net(n_out=2, seed=0, dtype="float32"):
    return Network.from_sizes([3, 8, n_out], activation="tanh", output="identity", cost="quadratic", seed=seed,
                              dtype=dtype)


def test_regression_is_declared_by_cost_and_output():
    assert reg_net().regression
    assert Network([Dense(3, 2)], "quadratic").regression  # a bare Dense output is unbounded too
    assert not Network.from_sizes([3, 4, 2], output="sigmoid", cost="quadratic").regression
    assert not Network.from_sizes([3, 4, 2], output="identity", cost="cross_entropy").regression
    assert not Network.from_sizes([3, 4, 2], cost="log_likelihood").regression


def test_real_targets_accepted_only_for_regression():
    X, Y = _linear(10)
    Yp, labels = reg_net().prepare_targets(Y, 10)
    assert labels is None and Yp.dtype == np.float32 and Yp.min() < -20
    with pytest.raises(ValueError, match="identity output and the quadratic cost"):
        Network.from_sizes([3, 4, 2], output="sigmoid", cost="quadratic").prepare_targets(Y, 10)
    one_hot = np.eye(2)[[0, 1, 1, 0, 1, 0, 0, 1, 1, 0]]
    _, labels = reg_net().prepare_targets(one_hot, 10)  # one-hot targets still give class labels
    np.testing.assert_array_equal(labels, one_hot.argmax(axis=1))


def test_one_output_takes_a_vector_of_reals():
    X, Y = _linear(10)
    net = reg_net(1)
    Yp, labels = net.prepare_targets(Y[:, 0], 10)
    assert Yp.shape == (10, 1) and labels is None
    np.testing.assert_allclose(Yp[:, 0], Y[:, 0], rtol=1e-6)
    Yp, labels = net.prepare_targets(np.array([0, 1] * 5), 10)  # 0/1 stay binary labels
    np.testing.assert_array_equal(labels, [0, 1] * 5)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_targets_rejected(bad):
    X, Y = _linear(10)
    Y[3, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        reg_net().prepare_targets(Y, 10)
    with pytest.raises(ValueError, match="NaN or infinite"):
        reg_net(1).prepare_targets(Y[:, 1], 10)
    with pytest.raises(ValueError, match="NaN or infinite"):
        reg_net().fit(X, Y, epochs=1)


def test_fit_and_evaluate_regression():
    X, Y = _linear(400)
    net = reg_net(seed=1).standardize(X)
    before = net.evaluate_regression(X, Y)
    net.fit(X, Y, epochs=80, batch_size=16, optimizer=numnet.Adam(0.03), seed=0)
    ev = net.evaluate_regression(X, Y)
    assert ev.r2 > 0.98 > before.r2
    A = net.predict_proba(X).astype(np.float64)
    assert ev.mse == pytest.approx(np.mean((A - Y) ** 2), rel=1e-5)
    assert ev.cost == pytest.approx(0.5 * np.sum((A - Y) ** 2) / len(X), rel=1e-5)
    assert ev.cost == pytest.approx(net.evaluate(X, Y).cost, rel=1e-5)
    r2 = [1 - np.sum((A[:, j] - Y[:, j]) ** 2) / np.sum((Y[:, j] - Y[:, j].mean()) ** 2) for j in range(2)]
    assert ev.r2 == pytest.approx(np.mean(r2), rel=1e-9)


def test_r2_of_constant_targets_and_errors():
    net = Network([Dense(1, 1, dtype="float64"), Identity()], "quadratic")
    net.layers[0].W[...] = 0
    net.layers[0].b[...] = 5.0
    X = np.zeros((4, 1))
    assert net.evaluate_regression(X, np.full(4, 5.0)).r2 == 1.0  # perfect on constant targets
    assert net.evaluate_regression(X, np.full(4, 6.0)).r2 == 0.0
    with pytest.raises(ValueError, match="empty"):
        net.evaluate_regression(np.zeros((0, 1)), np.zeros(0))


def test_gradcheck_with_real_targets_and_save(tmp_path):
    X, Y = _linear(6)
    net = Network([Dense(3, 4, seed=1, dtype="float64"), Tanh(), Dense(4, 2, seed=2, dtype="float64"), Identity()],
                  "quadratic")
    assert gradcheck(net, X, Y).passed()
    back = numnet.load(net.save(tmp_path / "r.npz"))
    assert back.regression and back.evaluate_regression(X, Y) == net.evaluate_regression(X, Y)


def test_the_notes_regression_program_runs_as_a_recipe(tmp_path, capsys):
    """The activation notes' program (a two-layer net fitted to random data by the squared loss) as a recipe:
    the fit improves by orders of magnitude; `numnet evaluate --data` reports MSE and R² for the model."""
    from numnet.cli import main
    from numnet.runs import run

    r = run(recipe="notes-regression", out=tmp_path / "m.npz", verbose=0)  # 2000 full-batch steps, about 2 s
    assert r.model.regression and r.model.sizes == [1000, 100, 10]
    costs = [c for epoch in r.history.batch_cost for c in epoch]
    assert costs[-1] < costs[0] / 20
    assert r.test.r2 > 0.9 and r.summary()["test_r2"] == r.test.r2
    X, Y = numnet.data.make_random_regression(64, 1000, 10, seed=1)
    np.savez(tmp_path / "d.npz", X=X, y=Y)
    assert main(["evaluate", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz")]) == 0
    out = capsys.readouterr().out
    assert f"MSE {r.test.mse:.6g}, R² {r.test.r2:.4f}" in out
    assert main(["evaluate", str(tmp_path / "m.npz")]) == 2
    assert "give --data FILE.npz" in capsys.readouterr().err
    assert main(["train", "--data", "random"]) == 2
    assert "invalid choice" in capsys.readouterr().err
