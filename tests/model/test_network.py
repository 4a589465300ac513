"""Network: architecture from sizes, forward/predict/evaluate against manual computations, dtypes, copies,
weights, vectorization, and input validation with clear messages."""
import numpy as np
import pytest
from conftest import softmax as _softmax

import numnet
from numnet import Network
from numnet.layers import ELU, BatchNorm, Dense, Dropout, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))




def _data(n=10, n_in=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, n_in))


# ------------------------------------------------------------------------------------------ construction
def test_from_sizes_default_architecture():
    net = Network.from_sizes([4, 5, 3, 2], seed=0)
    assert [type(l) for l in net.layers] == [Dense, Sigmoid, Dense, Sigmoid, Dense, Sigmoid]
    assert net.sizes == [4, 5, 3, 2]
    assert net.n_in == 4 and net.n_out == 2
    assert net.cost.name == "cross_entropy"
    assert [(l.n_in, l.n_out) for l in net.layers if isinstance(l, Dense)] == [(4, 5), (5, 3), (3, 2)]
    assert net.n_params == 4 * 5 + 5 + 5 * 3 + 3 + 3 * 2 + 2


@pytest.mark.parametrize("act,cls", [("relu", ReLU), ("tanh", Tanh), ("leaky_relu", LeakyReLU), ("elu", ELU),
                                     ("identity", Identity), ("softmax", Softmax)])
def test_from_sizes_hidden_activation(act, cls):
    net = Network.from_sizes([3, 4, 4, 2], activation=act, seed=0)
    assert type(net.layers[1]) is cls and type(net.layers[3]) is cls
    assert type(net.layers[-1]) is Sigmoid


def test_from_sizes_output_defaults_by_cost():
    assert type(Network.from_sizes([3, 4, 2], cost="log_likelihood").layers[-1]) is Softmax
    assert type(Network.from_sizes([3, 4, 2], cost="quadratic").layers[-1]) is Sigmoid
    assert type(Network.from_sizes([3, 4, 2], cost="cross_entropy").layers[-1]) is Sigmoid
    assert type(Network.from_sizes([3, 4, 2], cost="quadratic", output="identity").layers[-1]) is Identity
    assert type(Network.from_sizes([3, 2], cost="log_likelihood").layers[-1]) is Softmax


def test_from_sizes_dropout():
    net = Network.from_sizes([4, 6, 5, 2], keep_prob=0.8, seed=0)
    drops = [l for l in net.layers if isinstance(l, Dropout)]
    assert len(drops) == 2 and all(d.keep_prob == 0.8 for d in drops)
    assert [type(l) for l in net.layers] == [Dense, Sigmoid, Dropout, Dense, Sigmoid, Dropout, Dense, Sigmoid]
    net = Network.from_sizes([4, 6, 5, 2], keep_prob=[0.5, 1.0], seed=0)
    assert [type(l) for l in net.layers] == [Dense, Sigmoid, Dropout, Dense, Sigmoid, Dense, Sigmoid]
    assert net.layers[2].keep_prob == 0.5
    assert not any(isinstance(l, Dropout) for l in Network.from_sizes([4, 6, 2], keep_prob=1.0).layers)
    with pytest.raises(ValueError, match="keep_prob"):
        Network.from_sizes([4, 6, 5, 2], keep_prob=[0.5])
    with pytest.raises(ValueError, match="keep_prob"):
        Network.from_sizes([4, 6, 2], keep_prob=0.0)


def test_from_sizes_batch_norm():
    net = Network.from_sizes([4, 6, 5, 2], activation="relu", batch_norm=True, seed=0)
    assert [type(l) for l in net.layers] == [Dense, BatchNorm, ReLU, Dense, BatchNorm, ReLU, Dense, Sigmoid]
    assert not net.layers[0].bias and not net.layers[3].bias and net.layers[6].bias  # β replaces the bias
    assert net.layers[1].n == 6 and net.layers[4].n == 5
    assert net.sizes == [4, 6, 5, 2]


@pytest.mark.parametrize("bad", [[784], [], [3, 0, 2], [3, -1, 2], [3, 2.5, 2], [3, True, 2], "34", None, 784,
                                 [3, "4", 2]])
def test_from_sizes_bad_sizes(bad):
    with pytest.raises(ValueError, match="sizes"):
        Network.from_sizes(bad)


def test_unknown_activation_rejected():
    with pytest.raises(ValueError, match="unknown activation"):
        Network.from_sizes([3, 4, 2], activation="swish")
    with pytest.raises(ValueError, match="unknown activation"):
        Network.from_sizes([3, 4, 2], output="swish")


def test_layers_must_chain_and_be_layers():
    with pytest.raises(ValueError, match="chain"):
        Network([Dense(3, 4), Sigmoid(), Dense(5, 2)])
    with pytest.raises(ValueError, match="chain"):
        Network([Dense(3, 4), BatchNorm(5), Sigmoid()])
    with pytest.raises(ValueError, match="not a numnet Layer"):
        Network([Dense(3, 4), np.tanh, Dense(4, 2)])
    with pytest.raises(ValueError, match="not a numnet Layer"):
        Network([Dense(3, 4), "sigmoid"])
    with pytest.raises(ValueError, match="at least one"):
        Network([])
    with pytest.raises(ValueError, match="Dense"):
        Network([Sigmoid()])
    with pytest.raises(ValueError, match="dtype"):
        Network([Dense(3, 4, dtype="float32"), Dense(4, 2, dtype="float64")])


# ------------------------------------------------------------------------------------------ forward / predict
def _manual_forward(net, X):
    w = net.get_weights()
    a = _sigmoid(X @ w["0.W"] + w["0.b"])
    return _softmax(a @ w["2.W"] + w["2.b"])


def test_forward_and_predict_match_manual_computation():
    net = Network.from_sizes([4, 6, 3], cost="log_likelihood", seed=1, dtype="float64")
    X = _data(12)
    a = net.forward(X)
    np.testing.assert_allclose(a, _manual_forward(net, X), rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X), _manual_forward(net, X).argmax(axis=1))
    np.testing.assert_allclose(net.predict_proba(X, batch_size=5), a, rtol=1e-12)
    assert net.predict(X).dtype.kind == "i"


def test_predict_single_output_threshold():
    d = Dense(1, 1, dtype="float64")
    d.W[...] = 1.0
    d.b[...] = 0.0
    net = Network([d, Sigmoid()], "cross_entropy")
    X = np.array([[-2.0], [-0.001], [0.0], [0.001], [3.0]])
    # σ(0) = 0.5 is not > 0.5
    np.testing.assert_array_equal(net.predict(X), [0, 0, 0, 1, 1])


def test_single_example_1d_input():
    net = Network.from_sizes([4, 5, 3], seed=2, dtype="float64")
    X = _data(3)
    np.testing.assert_allclose(net.forward(X[0]), net.forward(X[:1]), rtol=0)
    assert net.forward(X[0]).shape == (1, 3)


def test_forward_is_vectorized_over_the_batch():
    net = Network.from_sizes([4, 7, 6, 3], activation="tanh", cost="log_likelihood", seed=3, dtype="float64")
    X = _data(9)
    batch = net.forward(X)
    single = np.vstack([net.forward(X[i:i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(batch, single, rtol=1e-13, atol=1e-15)


def test_forward_in_training_mode_uses_batchnorm_statistics():
    net = Network.from_sizes([4, 5, 2], batch_norm=True, seed=3, dtype="float64")
    X = _data(16) * 5 + 2
    out_train = net.forward(X, training=True)
    out_eval = net.forward(X)
    assert not np.allclose(out_train, out_eval)


# ------------------------------------------------------------------------------------------ evaluate
def test_evaluate_matches_manual_cost_and_accuracy():
    net = Network.from_sizes([4, 6, 3], cost="log_likelihood", seed=4, dtype="float64")
    X = _data(15)
    y = np.random.default_rng(9).integers(0, 3, 15)
    a = _manual_forward(net, X)
    cost = -np.mean(np.log(a[np.arange(15), y]))
    acc = np.mean(a.argmax(axis=1) == y)
    ev = net.evaluate(X, y)
    assert isinstance(ev, numnet.Evaluation)
    assert ev.cost == pytest.approx(cost, rel=1e-12)
    assert ev.accuracy == pytest.approx(acc, abs=0)
    assert net.accuracy(X, y) == ev.accuracy
    # the same with one-hot targets and in small chunks
    ev2 = net.evaluate(X, np.eye(3)[y], batch_size=4)
    assert ev2.cost == pytest.approx(cost, rel=1e-12) and ev2.accuracy == acc
    # L2 adds (λ/2n) Σ w² over weights only
    w = net.get_weights()
    pen = 0.5 * 2.0 / 100 * (np.sum(w["0.W"] ** 2) + np.sum(w["2.W"] ** 2))
    assert net.evaluate(X, y, l2=2.0, n_train=100).cost == pytest.approx(cost + pen, rel=1e-12)


def test_evaluate_single_output_and_multilabel():
    net = Network.from_sizes([4, 5, 1], cost="quadratic", seed=5, dtype="float64")
    X = _data(20)
    y = (X[:, 0] > 0).astype(int)
    a = net.forward(X)[:, 0]
    ev = net.evaluate(X, y)
    assert ev.cost == pytest.approx(0.5 * np.mean((a - y) ** 2), rel=1e-12)
    assert ev.accuracy == np.mean((a > 0.5) == (y == 1))

    net3 = Network.from_sizes([4, 5, 3], cost="cross_entropy", seed=6, dtype="float64")
    Y = (np.random.default_rng(1).random((20, 3)) < 0.5).astype(float)
    A = net3.forward(X)
    ev3 = net3.evaluate(X, Y)
    ce = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / 20
    assert ev3.cost == pytest.approx(ce, rel=1e-10)
    assert ev3.accuracy == pytest.approx(np.mean((A > 0.5) == (Y > 0.5)), rel=1e-12)


def test_evaluate_empty_set():
    net = Network.from_sizes([4, 3], seed=0)
    with pytest.raises(ValueError, match="empty"):
        net.evaluate(np.zeros((0, 4)), np.zeros(0, dtype=int))


# ------------------------------------------------------------------------------------------ dtypes and copies
def test_float32_default_carried_through():
    net = Network.from_sizes([4, 5, 3], seed=0)
    assert net.dtype == np.float32
    assert all(p.dtype == np.float32 for p in net.param_arrays())
    out = net.forward(_data(3))  # float64 input
    assert out.dtype == np.float32
    assert net.predict_proba(_data(3)).dtype == np.float32
    assert Network.from_sizes([4, 3], dtype="float64").forward(_data(2).astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("bad", ["float16", "int32", None, "complex128", "nope"])
def test_bad_dtype(bad):
    with pytest.raises(ValueError, match="dtype"):
        Network.from_sizes([4, 3], dtype=bad)


def test_astype_is_an_independent_copy():
    net = Network.from_sizes([4, 5, 3], seed=0)
    net64 = net.astype("float64")
    assert net64 is not net and net64.dtype == np.float64
    assert all(p.dtype == np.float64 for p in net64.param_arrays())
    _, grads = net64.loss_and_grads(_data(3), [0, 1, 2])
    assert all(g.dtype == np.float64 for lg in grads for g in lg.values())
    for k, v in net.get_weights().items():
        np.testing.assert_array_equal(net64.get_weights()[k], v.astype(np.float64))
    X = _data(6)
    np.testing.assert_allclose(net64.forward(X), net.forward(X), rtol=1e-5)
    before = net.get_weights()
    net64.layers[0].W[...] += 1.0
    net64.loss_and_grads(X, [0, 1, 2, 0, 1, 2])
    for k, v in net.get_weights().items():
        np.testing.assert_array_equal(v, before[k])
    assert net.dtype == np.float32
    back = net64.astype("float32")
    assert back.dtype == np.float32 and back.forward(X).dtype == np.float32


def test_copy_is_independent_and_equal():
    net = Network.from_sizes([4, 5, 3], activation="relu", keep_prob=0.7, batch_norm=True, seed=0)
    net.layers[1].buffers["running_mean"][...] = 0.3
    cp = net.copy()
    assert [type(l) for l in cp.layers] == [type(l) for l in net.layers]
    assert cp.cost == net.cost
    X = _data(5)
    np.testing.assert_array_equal(cp.forward(X), net.forward(X))
    for k, v in net.get_weights().items():
        np.testing.assert_array_equal(cp.get_weights()[k], v)
        assert not np.shares_memory(cp.arrays()[k], net.arrays()[k])
    cp.layers[0].W[...] = 0
    assert not np.all(net.layers[0].W == 0)


def test_get_and_set_weights():
    net = Network.from_sizes([4, 5, 3], seed=0)
    w = net.get_weights()
    assert set(w) == {"0.W", "0.b", "2.W", "2.b"}
    w["0.W"][...] = 7.0  # a copy: the network is untouched
    assert not np.any(net.layers[0].W == 7.0)
    other = Network.from_sizes([4, 5, 3], seed=1)
    W_obj = other.layers[0].W
    other.set_weights(net.get_weights())
    assert other.layers[0].W is W_obj  # copied in place, not rebound
    for k, v in net.get_weights().items():
        np.testing.assert_array_equal(other.get_weights()[k], v)
    X = _data(4)
    np.testing.assert_array_equal(other.forward(X), net.forward(X))
    bad = net.get_weights()
    bad["2.W"] = np.zeros((5, 4))
    with pytest.raises(ValueError, match="shape"):
        other.set_weights(bad)
    missing = net.get_weights()
    del missing["0.b"]
    with pytest.raises(ValueError, match="0.b"):
        other.set_weights(missing)


def test_parameters_are_the_layer_arrays():
    net = Network.from_sizes([4, 5, 3], seed=0)
    params = net.param_arrays()
    assert params[0] is net.layers[0].W and params[1] is net.layers[0].b
    assert params[2] is net.layers[2].params["W"]
    _, grads = net.loss_and_grads(_data(4), [0, 1, 2, 0])
    assert [g.shape for lg in grads for g in lg.values()] == [p.shape for p in params]
    assert not any(hasattr(layer, "grads") for layer in net.layers)  # gradients belong to the caller


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture
def net3():
    return Network.from_sizes([4, 5, 3], seed=0)


@pytest.mark.parametrize("X,match", [
    (np.zeros((5, 3)), "shape"),
    (np.zeros((5, 5)), "shape"),
    (np.zeros((5, 4, 1)), "shape"),
    (np.zeros(3), "shape"),
    (np.zeros((2, 2, 4)), "shape"),
    (np.array([[0.0, np.nan, 0, 0]]), "NaN"),
    (np.array([[0.0, np.inf, 0, 0]]), "infinite"),
    (np.array([[0.0, -np.inf, 0, 0]]), "infinite"),
    (np.array([[None, 1, 2, 3]], dtype=object), "numeric"),
    (np.array([["a", "b", "c", "d"]]), "numeric"),
    (np.ones((2, 4), dtype=complex), "real"),
])
def test_bad_X(net3, X, match):
    with pytest.raises(ValueError, match=match):
        net3.forward(X)
    with pytest.raises(ValueError, match=match):
        net3.predict(X)
    with pytest.raises(ValueError, match=match):
        net3.evaluate(X, np.zeros(len(X), dtype=int))


@pytest.mark.parametrize("y,match", [
    (np.array([0, 1, 3]), "outside"),
    (np.array([0, -1, 2]), "outside"),
    (np.array([0.0, 1.5, 2.0]), "integer"),
    (np.array([0.0, np.nan, 2.0]), "integer"),
    (np.array([0, 1]), "entries"),
    (np.array([0, 1, 2, 0]), "entries"),
    (np.zeros((3, 2)), "shape"),
    (np.zeros((3, 4)), "shape"),
    (np.zeros((3, 3, 1)), "shape"),
    (np.array([0, 1, None], dtype=object), "numeric"),
    (np.array(["a", "b", "c"]), "integer"),
    (np.array([[0, 1.5, 0], [1, 0, 0], [0, 0, 1]]), r"\[0, 1\]"),
    (np.array([[0, -0.5, 0], [1, 0, 0], [0, 0, 1]]), r"\[0, 1\]"),
    (np.array([[0, np.inf, 0], [1, 0, 0], [0, 0, 1]]), "infinite"),  # NaN = missing for cross-entropy: test_multitask
    (np.array(2), "entries"),
])
def test_bad_y(net3, y, match):
    X = np.zeros((3, 4))
    with pytest.raises(ValueError, match=match):
        net3.evaluate(X, y)
    with pytest.raises(ValueError, match=match):
        net3.loss_and_grads(X, y)
    with pytest.raises(ValueError, match=match):
        net3.fit(X, y, epochs=1)


def test_float_integer_labels_are_accepted(net3):
    X = _data(3)
    assert net3.evaluate(X, np.array([0.0, 1.0, 2.0])) == net3.evaluate(X, np.array([0, 1, 2]))


def test_binary_network_label_range():
    net = Network.from_sizes([4, 3, 1], seed=0)
    X = np.zeros((3, 4))
    net.evaluate(X, [0, 1, 1])
    with pytest.raises(ValueError, match="outside"):
        net.evaluate(X, [0, 1, 2])


def test_inference_runs_in_chunks_that_bound_memory():
    """A wide layer evaluates in chunks (issue 23 item 7: 784-60,000-10 peaked at 7.6 GB on 10,000 images);
    usual networks keep 10,000-row chunks, so their sums and results are unchanged."""
    from numnet.model.evaluation import INFERENCE_BYTES, INFERENCE_ROWS

    assert Network.from_sizes([784, 256, 10], seed=0).inference_rows() == INFERENCE_ROWS
    wide = Network([Dense(20, 60000, seed=0), ReLU(), Dense(60000, 3, seed=1), Softmax()], "log_likelihood")
    rows = wide.inference_rows()
    assert rows * 4 * (60000 * 2 + 3 * 2) <= INFERENCE_BYTES < (rows + 1) * 4 * (60000 * 2 + 3 * 2)
    X = np.random.default_rng(0).standard_normal((3 * rows + 7, 20)).astype(np.float32)
    np.testing.assert_allclose(wide.predict_proba(X), wide.predict_proba(X, batch_size=len(X)), rtol=1e-5)
