"""Multi-task learning with missing labels (issue #11) and softmax regression with two classes.

J = (1/m) Σ_i Σ_(j labelled) L(ŷ_ij, y_ij) with L the binary cross-entropy; missing entries are NaN."""
import numpy as np
import pytest

import numnet
from numnet import CrossEntropyCost, Dense, Network, Sigmoid, Softmax
from numnet.train import TaskAccuracy
from numnet.data.multitask import ATTRIBUTES, digit_attributes, hide_labels


def _net(cost="cross_entropy", sizes=(5, 4, 3), dtype="float64", seed=0):
    return Network.from_sizes(list(sizes), activation="tanh", cost=cost, seed=seed, dtype=dtype)


def _targets(n=8, k=3, seed=0, missing=0.4):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, k)) > 0.5).astype(float)
    Y[rng.random((n, k)) < missing] = np.nan
    Y[0, 0] = 1.0  # at least one label
    return Y


def test_cost_sums_over_labelled_entries_only():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((6, 3))
    a = 1 / (1 + np.exp(-z))
    Y = _targets(6, 3, seed=2)
    lab = ~np.isnan(Y)
    y0 = np.where(lab, Y, 0)
    manual = -np.sum(np.where(lab, y0 * np.log(a) + (1 - y0) * np.log(1 - a), 0)) / 6
    cost = CrossEntropyCost()
    assert cost.value(a, Y, z) == pytest.approx(manual, rel=1e-12)
    assert cost.value(a, Y) == pytest.approx(manual, rel=1e-10)
    g = cost.grad(a, Y)
    assert np.all(g[~lab] == 0) and np.allclose(g[lab], ((a - y0) / (a * (1 - a)) / 6)[lab])
    d = cost.delta(a, Y)
    assert np.all(d[~lab] == 0) and np.allclose(d[lab], ((a - y0) / 6)[lab])


def test_missing_entries_contribute_no_gradient():
    X = np.random.default_rng(0).random((8, 5))
    Y = _targets()
    net = _net()
    _, g = net.loss_and_grads(X, Y)
    _, g2 = net.loss_and_grads(X, np.where(np.isnan(Y), 0.0, Y))  # a 0 where the label was missing changes it
    assert any(not np.array_equal(u[k], v[k]) for u, v in zip(g, g2) for k in u)
    one_layer = Network([Dense(5, 3, rng=np.random.default_rng(1), dtype="float64"), Sigmoid()], "cross_entropy")
    _, grads = one_layer.loss_and_grads(X, Y)
    a = one_layer.predict_proba(X)
    delta = np.where(np.isnan(Y), 0, a - np.nan_to_num(Y)) / len(X)
    np.testing.assert_allclose(grads[0]["W"], X.T @ delta, rtol=1e-12)


def test_gradcheck_float64_with_missing_entries():
    X = np.random.default_rng(3).random((10, 5))
    Y = _targets(10, 3, seed=4, missing=0.5)
    assert np.isnan(Y).sum() >= 10
    for sizes in ((5, 4, 3), (5, 3)):
        res = numnet.gradcheck(_net(sizes=sizes), X, Y)
        assert res.max_error < 1e-7, res
    with_l2 = numnet.gradcheck(_net(), X, Y, l2=0.5, n_train=20)
    assert with_l2.max_error < 1e-7


@pytest.mark.parametrize("cost", ["quadratic", "log_likelihood"])
def test_nan_targets_for_a_cost_that_cannot_skip_them(cost):
    net = _net(cost=cost)
    X = np.zeros((8, 5))
    with pytest.raises(ValueError, match="cannot skip") as e:
        net.fit(X, _targets(), epochs=1)
    assert "\n" not in str(e.value)


def test_all_labels_missing_is_an_error():
    with pytest.raises(ValueError, match="every label is missing"):
        _net().fit(np.zeros((4, 5)), np.full((4, 3), np.nan), epochs=1)


def test_accuracy_counts_labelled_entries():
    net = _net()
    X = np.random.default_rng(5).random((40, 5))
    Y = _targets(40, 3, seed=6)
    lab = ~np.isnan(Y)
    right = (net.predict_proba(X) > 0.5) == (Y > 0.5)
    assert net.evaluate(X, Y).accuracy == pytest.approx(right[lab].mean())
    per_task = net.task_accuracy(X, Y)
    np.testing.assert_allclose(per_task, [right[lab[:, j], j].mean() for j in range(3)])
    with pytest.raises(ValueError, match="one column per task"):
        _net(sizes=(5, 4, 2)).task_accuracy(X, np.zeros(40, dtype=int))


def test_digit_attributes_and_hiding():
    y = np.arange(10)
    A = digit_attributes(y)
    assert A.shape == (10, len(ATTRIBUTES))
    assert list(A[:, ATTRIBUTES.index("even")]) == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert list(A[:, ATTRIBUTES.index("prime")]) == [0, 0, 1, 1, 0, 1, 0, 1, 0, 0]
    assert list(A[:, ATTRIBUTES.index("at_least_5")]) == [0] * 5 + [1] * 5
    H = hide_labels(np.tile(A, (50, 1)), 0.5, seed=0)
    assert 0.4 < np.isnan(H).mean() < 0.6
    assert np.array_equal(H, hide_labels(np.tile(A, (50, 1)), 0.5, seed=0), equal_nan=True)


def test_multitask_training_on_mnist_attributes_with_missing_labels():
    (X, y), (Xv, yv), _ = numnet.load_mnist(validation_size=2000)
    A = hide_labels(digit_attributes(y[:4000]), 0.5, seed=0)
    net = Network.from_sizes([784, 64, len(ATTRIBUTES)], activation="relu", init="he", cost="cross_entropy", seed=0)
    tasks = TaskAccuracy(Xv, digit_attributes(yv))
    h = net.fit(X[:4000], A, epochs=4, batch_size=32, optimizer=numnet.Adam(0.002), seed=0, verbose=0,
                validation_data=(Xv, digit_attributes(yv)), callbacks=[tasks])
    acc = net.task_accuracy(Xv, digit_attributes(yv))
    assert np.all(acc > 0.85), acc
    assert len(tasks.values) == 4 and np.allclose(tasks.values[-1], acc)
    assert h.val_accuracy[-1] == pytest.approx(acc.mean(), abs=1e-9)


# ---------------------------------------------------------------------------------------------- C = 2
def test_softmax_regression_with_two_classes_is_logistic_regression():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((12, 4))
    y = rng.integers(0, 2, 12)
    soft = Network([Dense(4, 2, rng=rng, dtype="float64"), Softmax()], "log_likelihood")
    W, b = soft.layers[0].W, soft.layers[0].b
    logi = Network([Dense(4, 1, rng=rng, dtype="float64"), Sigmoid()], "cross_entropy")
    logi.layers[0].params["W"][:] = (W[:, 1] - W[:, 0])[:, None]
    logi.layers[0].params["b"][:] = b[1] - b[0]
    p_soft, p_logi = soft.predict_proba(X), logi.predict_proba(X)
    np.testing.assert_allclose(p_soft[:, 1], p_logi[:, 0], rtol=1e-12)
    np.testing.assert_allclose(p_soft.sum(axis=1), 1, rtol=1e-12)
    (c_soft, g_soft), (c_logi, g_logi) = soft.loss_and_grads(X, y), logi.loss_and_grads(X, y)
    assert c_soft == pytest.approx(c_logi, rel=1e-12)
    gW, gb = g_soft[0]["W"], g_soft[0]["b"]
    np.testing.assert_allclose(gW[:, 1], g_logi[0]["W"][:, 0], rtol=1e-10)
    np.testing.assert_allclose(gW[:, 0], -gW[:, 1], rtol=1e-12)
    np.testing.assert_allclose(gb[1], g_logi[0]["b"][0], rtol=1e-10)
    assert np.array_equal(soft.predict(X), logi.predict(X))


def test_history_records_per_task_validation_accuracy(tmp_path):
    """Multi-task targets (NaN = missing): History.val_task_accuracy holds each task's accuracy every epoch,
    equal to Network.task_accuracy, and survives save/load; class-label runs record None."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    Y = np.stack([(X[:, 0] > 0), (X[:, 1] + X[:, 2] > 0), (X[:, 3] > 0.5)], axis=1).astype(np.float32)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    net = numnet.Network.from_sizes([4, 8, 3], activation="tanh", cost="cross_entropy", seed=1)
    h = net.fit(X[:150], Y[:150], epochs=3, batch_size=16, optimizer=numnet.SGD(0.5), validation_data=(X[150:], Y[150:]),
                seed=2)
    assert len(h.val_task_accuracy) == 3 and all(len(v) == 3 for v in h.val_task_accuracy)
    np.testing.assert_allclose(h.val_task_accuracy[-1], net.task_accuracy(X[150:], Y[150:]))
    h.save(tmp_path / "h.json")
    assert numnet.History.load(tmp_path / "h.json").val_task_accuracy == h.val_task_accuracy
    labels = (X[:, 0] > 0).astype(int)
    net2 = numnet.Network.from_sizes([4, 8, 2], activation="tanh", cost="log_likelihood", seed=1)
    h2 = net2.fit(X, labels, epochs=1, validation_data=(X, labels))
    assert h2.val_task_accuracy == [None]
    old = {k: v for k, v in h2.to_dict().items() if k != "val_task_accuracy"}  # a file from before the field
    assert numnet.History.from_dict(old).val_task_accuracy == [None]
