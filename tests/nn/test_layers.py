"""Layers: forward against the formulas on hand values, backward against the derivative formulas and finite
differences, numerical stability, initializers, and whole-network gradient checks (float64) for every
activation x cost x output combination, dropout, batch norm, L2 and deep nets."""
import math
import warnings

import numpy as np
import pytest

import numnet
from numnet import gradcheck
from numnet.initializers import INITIALIZERS, initialize
from conftest import bwd, fwd
from numnet.layers import (ELU, BatchNorm, Dense, Dropout, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh,
                           make_activation)

Z = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0],
              [1.5, -3.0, 0.25, -0.1, 2.0]])


def _map(f, z):
    return np.array([[f(float(v)) for v in row] for row in z])


# ------------------------------------------------------------------------------------------ forward formulas
def test_sigmoid_forward_formula():
    a = Sigmoid()(Z.copy())
    np.testing.assert_allclose(a, _map(lambda v: 1.0 / (1.0 + math.exp(-v)), Z), rtol=1e-15, atol=0)
    assert Sigmoid()(np.array([[0.0]]))[0, 0] == 0.5


def test_tanh_forward_formula():
    a = Tanh()(Z.copy())
    np.testing.assert_allclose(a, _map(lambda v: (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)), Z),
                               rtol=1e-14, atol=1e-16)


def test_relu_forward_formula():
    a = ReLU()(Z.copy())
    expected = np.array([[0.0, 0.0, 0.0, 0.5, 3.0], [1.5, 0.0, 0.25, 0.0, 2.0]])
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("alpha", [0.01, 0.2])
def test_leaky_relu_forward_formula(alpha):
    a = LeakyReLU(alpha)(Z.copy())
    np.testing.assert_allclose(a, _map(lambda v: v if v > 0 else alpha * v, Z), rtol=1e-15)
    assert LeakyReLU().alpha == 0.01


@pytest.mark.parametrize("alpha", [1.0, 1.7])
def test_elu_forward_formula(alpha):
    a = ELU(alpha)(Z.copy())
    np.testing.assert_allclose(a, _map(lambda v: v if v > 0 else alpha * (math.exp(v) - 1), Z), rtol=1e-14)
    # the negative side saturates at -alpha
    assert ELU(alpha)(np.array([[-50.0]]))[0, 0] == pytest.approx(-alpha)


def test_softmax_forward_formula():
    a = Softmax()(Z.copy())
    expected = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(a, expected, rtol=1e-14)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-15)
    # invariant to a per-row shift
    np.testing.assert_allclose(Softmax()(Z + np.array([[100.0], [-7.0]])), expected, rtol=1e-12)
    # hand case: equal logits -> uniform
    np.testing.assert_allclose(Softmax()(np.array([[3.0, 3.0, 3.0, 3.0]])), 0.25)


def test_identity_forward_and_alias():
    np.testing.assert_array_equal(Identity()(Z.copy()), Z)
    assert isinstance(make_activation("linear"), Identity)
    assert isinstance(make_activation("Leaky-ReLU"), LeakyReLU)
    assert isinstance(make_activation(Tanh), Tanh)
    t = Tanh()
    assert make_activation(t) is t


def test_unknown_activation_and_bad_alpha():
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swish")
    for bad in (-0.1, 1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="alpha"):
            LeakyReLU(bad)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="alpha"):
            ELU(bad)


def test_dense_forward_backward_formulas():
    rng = np.random.default_rng(0)
    d = Dense(3, 2, dtype="float64", seed=1)
    W = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    b = np.array([0.01, -0.02])
    d.params["W"][...] = W
    d.params["b"][...] = b
    X = rng.standard_normal((4, 3))
    Zd, cache = fwd(d, X)
    # z_j = sum_k x_k w_kj + b_j, written out
    for i in range(4):
        for j in range(2):
            assert Zd[i, j] == pytest.approx(sum(X[i, k] * W[k, j] for k in range(3)) + b[j], rel=1e-13)
    dz = rng.standard_normal((4, 2))
    dx, grads = bwd(d, cache, dz)
    np.testing.assert_allclose(grads["W"].value(), X.T @ dz, rtol=1e-13)
    np.testing.assert_allclose(grads["b"], dz.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(dx, dz @ W.T, rtol=1e-13)
    assert d.params["W"] is d.W and d.params["b"] is d.b


def test_dense_without_bias():
    d = Dense(3, 2, bias=False, dtype="float64")
    assert d.b is None and "b" not in d.params
    X = np.ones((2, 3))
    np.testing.assert_allclose(d(X), X @ d.W)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_dense_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive integer"):
        Dense(bad, 3)
    with pytest.raises(ValueError, match="positive integer"):
        Dense(3, bad)


# ------------------------------------------------------------------------------------------ backward formulas
DERIVATIVES = {
    "sigmoid": (Sigmoid, lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z)))),
    "tanh": (Tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (ReLU, lambda z: (z > 0).astype(float)),
    "leaky_relu": (lambda: LeakyReLU(0.2), lambda z: np.where(z > 0, 1.0, 0.2)),
    "elu": (lambda: ELU(1.5), lambda z: np.where(z > 0, 1.0, 1.5 * np.exp(z))),
    "identity": (Identity, lambda z: np.ones_like(z)),
}


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_elementwise_backward_is_derivative(name):
    make, deriv = DERIVATIVES[name]
    layer = make()
    rng = np.random.default_rng(3)
    z = rng.uniform(-3, 3, (5, 4))
    z[np.abs(z) < 1e-3] = 0.5  # stay off the kink
    _, cache = fwd(layer, z.copy(), training=True)
    dy = rng.standard_normal(z.shape)
    dz, grads = bwd(layer, cache, dy)
    assert grads == {}
    np.testing.assert_allclose(dz, dy * deriv(z), rtol=1e-12, atol=1e-15)
    # and by central differences of the forward pass
    h = 1e-6
    num = (make()(z + h) - make()(z - h)) / (2 * h)
    np.testing.assert_allclose(dz, dy * num, rtol=1e-6, atol=1e-8)


def test_softmax_backward_is_jacobian_product():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((3, 4))
    s = Softmax()
    a, cache = fwd(s, z.copy())
    dy = rng.standard_normal(z.shape)
    dz, _ = bwd(s, cache, dy)
    for i in range(3):
        J = np.diag(a[i]) - np.outer(a[i], a[i])  # da_j/dz_k = a_j (δ_jk − a_k)
        np.testing.assert_allclose(dz[i], J.T @ dy[i], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------ dropout / batch norm
def test_dropout_inference_is_identity_and_training_is_inverted():
    x = np.arange(1, 20001, dtype=np.float64).reshape(200, 100) / 100
    d = Dropout(0.8)
    np.testing.assert_array_equal(d(x), x)
    out, mask = fwd(d, x, training=True, rng=np.random.default_rng(0))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.8, rtol=1e-15)
    assert abs(kept.mean() - 0.8) < 0.01
    # backward applies the same mask and scale
    dy = np.ones_like(x)
    np.testing.assert_allclose(bwd(d, mask, dy)[0], kept / 0.8)
    # keep_prob = 1 is exactly a no-op, also in training
    np.testing.assert_array_equal(fwd(Dropout(1.0), x, training=True)[0], x)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, float("nan"), "x"])
def test_dropout_bad_keep_prob(bad):
    with pytest.raises(ValueError, match="keep_prob"):
        Dropout(bad)


def test_batchnorm_training_and_running_stats():
    rng = np.random.default_rng(5)
    x = rng.normal(3.0, 2.0, (64, 4))
    bn = BatchNorm(4, momentum=0.9, eps=1e-5, dtype="float64")
    def train_pass(x):  # a training pass returns the new running statistics; the network stores them
        out, cache = fwd(bn, x, training=True)
        bn.buffers.update(bn.updates(cache))
        return out

    out = train_pass(x)
    mu, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(out, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    # running = momentum * running + (1 - momentum) * batch, from (0, 1)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * mu, rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * var, rtol=1e-12)
    # gamma/beta scale and shift
    bn.params["gamma"][...] = 2.0
    bn.params["beta"][...] = -1.0
    out2 = train_pass(x)
    np.testing.assert_allclose(out2, 2 * (x - mu) / np.sqrt(var + 1e-5) - 1, rtol=1e-12)
    # inference uses the running statistics and works on one example
    rm, rv = bn.buffers["running_mean"].copy(), bn.buffers["running_var"].copy()
    one = bn(x[:1])
    np.testing.assert_allclose(one, 2 * (x[:1] - rm) / np.sqrt(rv + 1e-5) - 1, rtol=1e-12)
    np.testing.assert_array_equal(bn.buffers["running_mean"], rm)  # inference does not update them
    with pytest.raises(ValueError, match="at least 2"):
        fwd(bn, x[:1], training=True)


# ------------------------------------------------------------------------------------------ stability
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_and_softmax_saturate_without_warnings(dtype):
    d = Dense(1, 1, dtype=dtype)
    d.W[...] = 1
    d.b[...] = 0
    sig = numnet.Network([d, Sigmoid()], "cross_entropy")
    X = np.array([[1000.0], [-1000.0], [0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            a = sig.forward(X)
    assert a.dtype == np.dtype(dtype)
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a[:, 0], [1.0, 0.0, 0.5])

    d2 = Dense(1, 3, dtype=dtype)
    d2.W[...] = [[1.0, -1.0, 0.5]]
    d2.b[...] = 0
    soft = numnet.Network([d2, Softmax()], "log_likelihood")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            p = soft.forward(X)
            soft.predict(X)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0], atol=1e-30)  # e^-500 ~ 7e-218
    np.testing.assert_allclose(p[1], [0.0, 1.0, 0.0], atol=1e-30)
    np.testing.assert_allclose(p[2], [1 / 3, 1 / 3, 1 / 3], rtol=1e-6)


# ------------------------------------------------------------------------------------------ initializers
STDS = {"large": lambda i, o: 1.0, "default": lambda i, o: math.sqrt(1 / i), "normal": lambda i, o: 0.01,
        "xavier": lambda i, o: math.sqrt(2 / (i + o)), "he": lambda i, o: math.sqrt(2 / i)}


RANDOM = [name for name in INITIALIZERS if name != "zeros"]  # "zeros" (the symmetry demonstration) draws nothing


def test_zeros_initializer_is_all_zeros_whatever_the_seed():
    d = Dense(4, 3, init="zeros", seed=1)
    assert not d.W.any() and not d.b.any()
    np.testing.assert_array_equal(Dense(4, 3, init="zeros", seed=2).W, d.W)


@pytest.mark.parametrize("name", RANDOM)
def test_initializer_std_and_biases(name):
    n_in, n_out = 400, 2500
    d = Dense(n_in, n_out, init=name, seed=11)
    W, b = d.W, d.b
    assert W.shape == (n_in, n_out) and b.shape == (n_out,)
    assert W.dtype == np.float32
    expected = STDS[name](n_in, n_out)
    assert abs(W.std() / expected - 1) < 0.05
    assert abs(W.mean()) < 0.05 * expected
    if name in ("large", "default"):
        assert abs(b.std() - 1.0) < 0.05 and abs(b.mean()) < 0.1
    else:
        np.testing.assert_array_equal(b, 0)


def test_initializer_is_case_insensitive_and_rejects_unknown():
    W, b = initialize("HE", 10, 5, np.random.default_rng(0), "float64")
    assert W.dtype == np.float64 and W.shape == (10, 5)
    with pytest.raises(ValueError, match="unknown initializer"):
        initialize("orthogonal", 10, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown initializer"):
        Dense(3, 2, init="glorot_fancy")
    with pytest.raises(ValueError, match="unknown initializer"):
        numnet.Network.from_sizes([3, 4, 2], init="bogus")


@pytest.mark.parametrize("init", RANDOM)
def test_seed_reproducibility(init):
    a = numnet.Network.from_sizes([5, 7, 3], init=init, seed=42)
    b = numnet.Network.from_sizes([5, 7, 3], init=init, seed=42)
    c = numnet.Network.from_sizes([5, 7, 3], init=init, seed=43)
    wa, wb, wc = a.get_weights(), b.get_weights(), c.get_weights()
    assert wa.keys() == wb.keys() == wc.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa if k.endswith("W"))
    # the two layers of one network do not share draws
    assert not np.array_equal(a.layers[0].W[:3, :3], a.layers[2].W[:3, :3])
    np.testing.assert_array_equal(Dense(4, 3, seed=9).W, Dense(4, 3, seed=9).W)


# ------------------------------------------------------------------------------------------ gradient checks
TOL = 1e-7
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax", "identity"]
COMBOS = [  # (cost, output activation)
    ("quadratic", "sigmoid"), ("quadratic", "softmax"), ("quadratic", "identity"),
    ("cross_entropy", "sigmoid"), ("cross_entropy", "softmax"),
    ("log_likelihood", "softmax"), ("log_likelihood", "sigmoid"),
]


def _data(n=6, n_in=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in))


@pytest.mark.parametrize("cost,output", COMBOS)
@pytest.mark.parametrize("activation", HIDDEN)
def test_gradcheck_activation_cost_output(activation, cost, output):
    net = numnet.Network.from_sizes([4, 5, 3], activation=activation, output=output, cost=cost, seed=1,
                                    dtype="float64")
    X = _data()
    y = np.array([0, 1, 2, 1, 0, 2])
    r = gradcheck(net, X, y)
    assert r.checked > 0
    assert r.max_error < TOL, r.errors


@pytest.mark.parametrize("alpha", [0.3])
def test_gradcheck_leaky_and_elu_custom_alpha(alpha):
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    for act in (LeakyReLU(alpha), ELU(alpha + 1)):
        d1, d2 = Dense(4, 5, seed=2, dtype="float64"), Dense(5, 3, seed=3, dtype="float64")
        net = numnet.Network([d1, act, d2, Softmax()], "log_likelihood")
        assert gradcheck(net, X, y).max_error < TOL


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_gradcheck_single_output_binary(cost):
    net = numnet.Network.from_sizes([4, 6, 1], activation="tanh", output="sigmoid", cost=cost, seed=2,
                                    dtype="float64")
    X = _data(8)
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    assert gradcheck(net, X, y).max_error < TOL
    # the same as a (n, 1) column of 0/1 targets
    assert gradcheck(net, X, y.reshape(-1, 1).astype(float)).max_error < TOL


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_gradcheck_multilabel_and_one_hot_targets(cost):
    net = numnet.Network.from_sizes([4, 5, 3], activation="elu", output="sigmoid", cost=cost, seed=3,
                                    dtype="float64")
    X = _data()
    multi = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    assert gradcheck(net, X, multi).max_error < TOL
    one_hot = np.eye(3)[[0, 1, 2, 1, 0, 2]]
    assert gradcheck(net, X, one_hot).max_error < TOL
    soft = numnet.Network.from_sizes([4, 5, 3], activation="tanh", cost="log_likelihood", seed=3, dtype="float64")
    assert gradcheck(soft, X, one_hot).max_error < TOL


def test_gradcheck_dropout_fixed_mask():
    net = numnet.Network.from_sizes([4, 8, 6, 3], activation="relu", cost="log_likelihood", keep_prob=0.6,
                                    seed=4, dtype="float64")
    assert any(isinstance(l, Dropout) for l in net.layers)
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    r = gradcheck(net, X, y)
    assert r.max_error < TOL, r.errors


def test_gradcheck_dropout_mask_really_drops():
    """The check must run on the dropped function: with keep_prob < 1 the checked cost differs from inference."""
    net = numnet.Network.from_sizes([4, 8, 3], activation="tanh", cost="log_likelihood", keep_prob=0.5, seed=4,
                                    dtype="float64")
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    net64 = net.astype("float64")
    drop = next(l for l in net64.layers if isinstance(l, Dropout))
    train_cost, _ = net64.loss_and_grads(X, y, training=True, rng=np.random.default_rng(0))
    assert drop.keep_prob == 0.5
    assert train_cost != pytest.approx(net64.evaluate(X, y).cost)
    assert gradcheck(net, X, y).max_error < TOL


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_gradcheck_batchnorm_training(activation):
    net = numnet.Network.from_sizes([4, 6, 5, 3], activation=activation, cost="log_likelihood", batch_norm=True,
                                    seed=5, dtype="float64")
    assert any(isinstance(l, BatchNorm) for l in net.layers)
    for l in net.layers:  # non-trivial gamma/beta
        if isinstance(l, BatchNorm):
            l.params["gamma"][...] = np.linspace(0.5, 1.5, l.n)
            l.params["beta"][...] = np.linspace(-0.3, 0.3, l.n)
    X, y = _data(8), np.array([0, 1, 2, 1, 0, 2, 2, 1])
    r = gradcheck(net, X, y, training=True)
    assert r.max_error < TOL, r.errors
    assert any(k.endswith("gamma") for k in r.errors) and any(k.endswith("beta") for k in r.errors)


def test_gradcheck_batchnorm_inference_mode():
    """With training=False batch norm uses its running averages (constants): the gradient must follow."""
    net = numnet.Network.from_sizes([4, 6, 3], activation="tanh", cost="log_likelihood", batch_norm=True, seed=5,
                                    dtype="float64")
    bn = net.layers[1]
    bn.buffers["running_mean"][...] = np.linspace(-0.5, 0.5, 6)
    bn.buffers["running_var"][...] = np.linspace(0.5, 2.0, 6)
    X, y = _data(8), np.array([0, 1, 2, 1, 0, 2, 2, 1])
    r = gradcheck(net, X, y, training=False)
    assert r.max_error < TOL, r.errors


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy", "log_likelihood"])
def test_gradcheck_l2(cost):
    net = numnet.Network.from_sizes([4, 5, 3], activation="tanh", cost=cost, seed=6, dtype="float64")
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    r = gradcheck(net, X, y, l2=0.7, n_train=20)
    assert r.max_error < TOL, r.errors
    # the L2 term really is part of the checked gradient: with it the W gradients differ
    a, b = net.astype("float64"), net.astype("float64")
    _, ga = a.loss_and_grads(X, y)
    _, gb = b.loss_and_grads(X, y, l2=0.7, n_train=20)
    np.testing.assert_allclose(gb[0]["W"] - ga[0]["W"], 0.7 / 20 * a.layers[0].W, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(gb[0]["b"], ga[0]["b"])  # biases never decay


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "elu"])
def test_gradcheck_deep(activation):
    net = numnet.Network.from_sizes([5, 7, 6, 6, 5, 3], activation=activation, cost="log_likelihood", seed=7,
                                    dtype="float64", init="xavier")
    X, y = _data(7, 5), np.array([0, 1, 2, 1, 0, 2, 1])
    r = gradcheck(net, X, y)
    assert len(r.errors) == 10  # 5 Dense layers x (W, b)
    assert r.max_error < TOL, r.errors


def test_gradcheck_float32_network_is_checked_in_float64():
    net = numnet.Network.from_sizes([4, 5, 3], activation="tanh", seed=8)
    assert net.dtype == np.float32
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    assert gradcheck(net, X, y).max_error < TOL
    assert net.dtype == np.float32 and net.layers[0].W.dtype == np.float32  # the original is untouched


# --------------------------------------------------------------------------------- the checker can fail
def test_gradcheck_catches_scaled_activation_backward(monkeypatch):
    net = numnet.Network.from_sizes([4, 5, 3], activation="tanh", cost="log_likelihood", seed=9, dtype="float64")
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    assert gradcheck(net, X, y).max_error < TOL
    orig = Tanh.backward
    monkeypatch.setattr(Tanh, "backward", lambda self, v, cache, dy, need_dx=True: (
        orig(self, v, cache, dy)[0] * 1.01, {}))
    r = gradcheck(net, X, y)
    assert r.max_error > 1e-4
    assert r.errors["0.W"] > 1e-4 and r.errors["0.b"] > 1e-4
    assert r.errors["2.W"] < TOL  # the layer after the broken one is still right
    assert not r.passed()


def test_gradcheck_catches_wrong_bias_gradient(monkeypatch):
    net = numnet.Network.from_sizes([4, 5, 3], activation="sigmoid", cost="quadratic", seed=10, dtype="float64")
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    orig = Dense.backward

    def broken(self, v, cache, dz, need_dx=True):
        dx, grads = orig(self, v, cache, dz, need_dx)
        grads["b"] *= 1.01
        return dx, grads

    monkeypatch.setattr(Dense, "backward", broken)
    r = gradcheck(net, X, y)
    assert r.errors["0.b"] > 1e-4 and r.errors["2.b"] > 1e-4
    assert r.errors["0.W"] < TOL


def test_gradcheck_catches_missing_softmax_term(monkeypatch):
    """A classic bug: softmax backward as if it were elementwise a(1 − a)."""
    net = numnet.Network.from_sizes([4, 5, 3], activation="softmax", output="sigmoid", cost="quadratic", seed=11,
                                    dtype="float64")
    X, y = _data(), np.array([0, 1, 2, 1, 0, 2])
    monkeypatch.setattr(Softmax, "backward", lambda self, v, a, dy, need_dx=True: (dy * a * (1 - a), {}))
    assert gradcheck(net, X, y).max_error > 1e-4


def test_gradcheck_rejects_bad_arguments():
    net = numnet.Network.from_sizes([2, 2], seed=0)
    X, y = np.zeros((2, 2)), np.array([0, 1])
    with pytest.raises(ValueError):
        gradcheck("not a net", X, y)
    with pytest.raises(ValueError):
        gradcheck(net, X, y, eps=0.0)
    with pytest.raises(ValueError):
        gradcheck(net, X, y, max_checks=0)
