"""Optimizers against their update formulas on hand-computed two-step examples; in-place updates; state keyed
by parameter identity; state round trips; argument validation."""
import math

import numpy as np
import pytest

import numnet
from numnet.optimizers import OPTIMIZERS, SGD, Adam, Momentum, RMSprop, make_optimizer

W0 = [1.0, -2.0, 0.5]
G1 = [0.5, -1.0, 0.0]
G2 = [0.2, 0.4, -0.3]


def _run(opt, grads=(G1, G2), w0=W0):
    p = np.array(w0, dtype=np.float64)
    obj = p
    out = []
    for g in grads:
        opt.step([p], [np.array(g, dtype=np.float64)])
        assert p is obj
        out.append(p.copy())
    return out


# ------------------------------------------------------------------------------------------ formulas
def test_sgd_two_steps_hand_computed():
    w1, w2 = _run(SGD(0.1))
    # W1 = W0 − 0.1·G1,  W2 = W1 − 0.1·G2
    np.testing.assert_allclose(w1, [0.95, -1.9, 0.5], rtol=1e-15)
    np.testing.assert_allclose(w2, [0.93, -1.94, 0.53], rtol=1e-15)


def test_momentum_two_steps_hand_computed():
    w1, w2 = _run(Momentum(lr=0.1, beta=0.9))
    # V1 = 0.1·G1 = [0.05, −0.1, 0];            W1 = W0 − 0.1·V1 = [0.995, −1.99, 0.5]
    # V2 = 0.9·V1 + 0.1·G2 = [0.065, −0.05, −0.03]; W2 = W1 − 0.1·V2 = [0.9885, −1.985, 0.503]
    np.testing.assert_allclose(w1, [0.995, -1.99, 0.5], rtol=1e-15)
    np.testing.assert_allclose(w2, [0.9885, -1.985, 0.503], rtol=1e-14)


def test_momentum_beta_zero_is_sgd():
    a = _run(Momentum(lr=0.3, beta=0.0))
    b = _run(SGD(0.3))
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-15)


def test_rmsprop_two_steps_hand_computed():
    lr, beta, eps = 0.01, 0.9, 1e-8
    w1, w2 = _run(RMSprop(lr=lr, beta=beta, eps=eps))
    # entry 0: S1 = 0.1·0.25 = 0.025; W1 = 1 − 0.01·0.5/(√0.025 + ε)
    #          S2 = 0.9·0.025 + 0.1·0.04 = 0.0265; W2 = W1 − 0.01·0.2/(√0.0265 + ε)
    e0_1 = 1.0 - 0.01 * 0.5 / (math.sqrt(0.025) + eps)
    e0_2 = e0_1 - 0.01 * 0.2 / (math.sqrt(0.0265) + eps)
    # entry 1: S1 = 0.1; S2 = 0.09 + 0.016 = 0.106
    e1_1 = -2.0 + 0.01 * 1.0 / (math.sqrt(0.1) + eps)
    e1_2 = e1_1 - 0.01 * 0.4 / (math.sqrt(0.106) + eps)
    # entry 2: zero gradient first (S1 = 0, no move), then S2 = 0.1·0.09 = 0.009
    e2_1 = 0.5
    e2_2 = 0.5 + 0.01 * 0.3 / (math.sqrt(0.009) + eps)
    np.testing.assert_allclose(w1, [e0_1, e1_1, e2_1], rtol=1e-14)
    np.testing.assert_allclose(w2, [e0_2, e1_2, e2_2], rtol=1e-14)
    # about α per step in the direction of −sign(dW) on the first step
    np.testing.assert_allclose(w1 - np.array(W0), [-0.01 / math.sqrt(0.1), 0.01 / math.sqrt(0.1), 0], rtol=1e-6)


def _adam_reference(w0, grads, lr, b1, b2, eps):
    """Plain-Python Adam by the module docstring, scalar by scalar."""
    w = list(w0)
    v = [0.0] * len(w)
    s = [0.0] * len(w)
    out = []
    for t, g in enumerate(grads, start=1):
        for i in range(len(w)):
            v[i] = b1 * v[i] + (1 - b1) * g[i]
            s[i] = b2 * s[i] + (1 - b2) * g[i] ** 2
            v_hat = v[i] / (1 - b1 ** t)
            s_hat = s[i] / (1 - b2 ** t)
            w[i] = w[i] - lr * v_hat / (math.sqrt(s_hat) + eps)
        out.append(list(w))
    return out


def test_adam_two_steps_hand_computed():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    w1, w2 = _run(Adam(lr=lr, beta1=b1, beta2=b2, eps=eps))
    # step 1 with bias correction: V̂ = G1, Ŝ = G1², so W1 = W0 − α·G1/(|G1| + ε) ≈ W0 − α·sign(G1)
    np.testing.assert_allclose(w1, [0.9, -1.9, 0.5], rtol=1e-7)
    # step 2, entry 0: V2 = 0.9·0.05 + 0.1·0.2 = 0.065, V̂ = 0.065/0.19
    #                  S2 = 0.999·0.00025 + 0.001·0.04 = 0.00028975, Ŝ = S2/(1 − 0.999²) = S2/0.001999
    e0 = (1 - 0.1 * 0.5 / (0.5 + eps)) - 0.1 * (0.065 / 0.19) / (math.sqrt(0.00028975 / 0.001999) + eps)
    assert w2[0] == pytest.approx(e0, rel=1e-13)
    ref = _adam_reference(W0, [G1, G2], lr, b1, b2, eps)
    np.testing.assert_allclose(w1, ref[0], rtol=1e-13)
    np.testing.assert_allclose(w2, ref[1], rtol=1e-13)


def test_adam_other_hyperparameters_and_more_steps():
    rng = np.random.default_rng(0)
    grads = [list(rng.standard_normal(3) * 10 ** rng.uniform(-3, 1)) for _ in range(6)]
    args = dict(lr=0.03, beta1=0.5, beta2=0.8, eps=1e-3)
    got = _run(Adam(**args), grads)
    ref = _adam_reference(W0, grads, args["lr"], args["beta1"], args["beta2"], args["eps"])
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12)


def test_defaults():
    assert (Momentum().lr, Momentum().beta) == (0.01, 0.9)
    assert (RMSprop().lr, RMSprop().beta, RMSprop().eps) == (0.001, 0.9, 1e-8)
    a = Adam()
    assert (a.lr, a.beta1, a.beta2, a.eps) == (0.001, 0.9, 0.999, 1e-8)


# ------------------------------------------------------------------------------------------ in place, identity
ALL = [lambda: SGD(0.1), lambda: Momentum(0.1), lambda: RMSprop(0.01), lambda: Adam(0.01)]


@pytest.mark.parametrize("make", ALL)
def test_updates_in_place_on_a_network(make):
    net = numnet.Network.from_sizes([3, 4, 2], seed=0)
    layer = net.layers[0]
    p = layer.params["W"]
    before = p.copy()
    X = np.random.default_rng(1).standard_normal((5, 3))
    opt = make()
    for _ in range(2):
        _, grads = net.loss_and_grads(X, [0, 1, 1, 0, 1])
        opt.step(net.param_arrays(), [g for lg in grads for g in lg.values()])
    assert p is layer.params["W"] and layer.W is p
    assert not np.array_equal(p, before)
    assert p.dtype == np.float32 and all(q.dtype == np.float32 for q in net.param_arrays())


@pytest.mark.parametrize("make", ALL)
def test_state_is_keyed_by_identity_not_position(make):
    rng = np.random.default_rng(2)
    a0, b0 = rng.standard_normal(4), rng.standard_normal(4)
    grads = [(rng.standard_normal(4), rng.standard_normal(4)) for _ in range(3)]
    # one optimizer over two parameters, with the list order changing between steps
    shared = make()
    a, b = a0.copy(), b0.copy()
    for i, (ga, gb) in enumerate(grads):
        if i % 2:
            shared.step([b, a], [gb, ga])
        else:
            shared.step([a, b], [ga, gb])
    # versus one optimizer per parameter
    oa, ob = make(), make()
    a2, b2 = a0.copy(), b0.copy()
    for ga, gb in grads:
        oa.step([a2], [ga])
        ob.step([b2], [gb])
    np.testing.assert_allclose(a, a2, rtol=1e-15)
    np.testing.assert_allclose(b, b2, rtol=1e-15)


def test_equal_valued_distinct_arrays_get_separate_state():
    opt = Momentum(0.1, beta=0.5)
    a, b = np.ones(2), np.ones(2)
    opt.step([a, b], [np.array([1.0, 1.0]), np.array([-1.0, -1.0])])
    opt.step([a, b], [np.zeros(2), np.zeros(2)])
    # a: V1 = 0.5, W1 = 0.95; V2 = 0.25, W2 = 0.925.  b mirrors it.
    np.testing.assert_allclose(a, 0.925)
    np.testing.assert_allclose(b, 1.075)


def test_same_array_passed_twice():
    # SGD: two updates of one array add up
    p = np.array([1.0, 2.0])
    SGD(0.1).step([p, p], [np.array([1.0, 0.0]), np.array([0.0, 2.0])])
    np.testing.assert_allclose(p, [0.9, 1.8])
    # Momentum: one state for the one array, applied in sequence
    p = np.array([1.0])
    opt = Momentum(0.1, beta=0.5)
    opt.step([p, p], [np.array([1.0]), np.array([3.0])])
    # V = 0.5·1 = 0.5, W = 1 − 0.05 = 0.95; V = 0.25 + 1.5 = 1.75, W = 0.95 − 0.175 = 0.775
    np.testing.assert_allclose(p, [0.775])
    st = opt.state_dict([p, p])
    np.testing.assert_allclose(st[0]["V"], [1.75])
    np.testing.assert_allclose(st[1]["V"], [1.75])
    # Adam on a shared array: finite, updated in place
    p = np.array([1.0, -1.0])
    obj = p
    Adam(0.01).step([p, p], [np.array([1.0, 1.0]), np.array([1.0, 1.0])])
    assert p is obj and np.isfinite(p).all() and np.all(p < [1.0, -1.0])


# ------------------------------------------------------------------------------------------ state round trip
@pytest.mark.parametrize("make", ALL)
def test_state_dict_round_trip_gives_identical_next_steps(make):
    rng = np.random.default_rng(3)
    p = rng.standard_normal((3, 2)).astype(np.float32)
    q = rng.standard_normal(2).astype(np.float32)
    gs = [(rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32))
          for _ in range(5)]
    a = make()
    for gp, gq in gs[:3]:
        a.step([p, q], [gp, gq])
    state = a.state_dict([p, q])
    p2, q2 = p.copy(), q.copy()
    b = make()
    b.load_state_dict([p2, q2], state)
    for gp, gq in gs[3:]:
        a.step([p, q], [gp, gq])
        b.step([p2, q2], [gp, gq])
    np.testing.assert_array_equal(p, p2)
    np.testing.assert_array_equal(q, q2)


@pytest.mark.parametrize("make", ALL[1:])
def test_state_matters_and_is_a_copy(make):
    p = np.array([1.0, 2.0])
    opt = make()
    opt.step([p], [np.array([0.5, -0.5])])
    st = opt.state_dict([p])
    for v in st[0].values():
        if isinstance(v, np.ndarray):
            v[...] = 123.0  # mutating the export does not touch the optimizer
    st2 = opt.state_dict([p])
    assert all(not np.any(v == 123.0) for v in st2[0].values() if isinstance(v, np.ndarray))
    # a fresh optimizer (no state) takes a different second step than one with the state
    p_with, p_without = p.copy(), p.copy()
    with_state, without = make(), make()
    with_state.load_state_dict([p_with], st2)
    g = np.array([0.1, 0.1])
    with_state.step([p_with], [g])
    without.step([p_without], [g])
    assert not np.allclose(p_with, p_without)


def test_state_dict_of_unseen_parameter_is_empty():
    opt = Adam()
    p, q = np.ones(2), np.ones(2)
    opt.step([p], [np.ones(2)])
    st = opt.state_dict([p, q])
    assert st[1] == {} and st[0]["t"] == 1


def test_load_state_dict_rejects_mismatches():
    p = np.ones((2, 2))
    opt = Adam()
    opt.step([p], [np.ones((2, 2))])
    st = opt.state_dict([p])
    with pytest.raises(ValueError, match="entries"):
        Adam().load_state_dict([p, p.copy()], st)
    with pytest.raises(ValueError, match="shape"):
        Adam().load_state_dict([np.ones(3)], st)
    broken = [{k: v for k, v in st[0].items() if k != "S"}]
    with pytest.raises(ValueError, match="S"):
        Adam().load_state_dict([p], broken)


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("cls", [SGD, Momentum, RMSprop, Adam])
@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan"), float("inf"), "x", None])
def test_invalid_learning_rate(cls, lr):
    with pytest.raises(ValueError, match="learning rate"):
        cls(lr)


@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5, float("nan"), "x", None])
def test_invalid_betas(beta):
    with pytest.raises(ValueError, match="beta"):
        Momentum(0.1, beta=beta)
    with pytest.raises(ValueError, match="beta"):
        RMSprop(0.1, beta=beta)
    with pytest.raises(ValueError, match="beta1"):
        Adam(0.1, beta1=beta)
    with pytest.raises(ValueError, match="beta2"):
        Adam(0.1, beta2=beta)


@pytest.mark.parametrize("eps", [0, 0.0, -1e-8, float("nan"), float("inf"), "x", None])
def test_invalid_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        RMSprop(0.1, eps=eps)
    with pytest.raises(ValueError, match="eps"):
        Adam(0.1, eps=eps)


def test_make_optimizer():
    opt = make_optimizer("adam", lr=0.02, beta2=0.99)
    assert type(opt) is Adam and opt.lr == 0.02 and opt.beta2 == 0.99
    assert type(make_optimizer("Momentum", lr=0.1)) is Momentum
    assert type(make_optimizer("sgd", lr=0.1)) is SGD
    inst = RMSprop()
    assert make_optimizer(inst) is inst
    assert set(OPTIMIZERS) >= {"sgd", "momentum", "rmsprop", "adam"}
    for name in OPTIMIZERS:
        cfg = dict(make_optimizer(name, lr=0.05).config())
        rebuilt = make_optimizer(cfg.pop("name"), **cfg)
        assert rebuilt.config() == make_optimizer(name, lr=0.05).config()
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adagrad", lr=0.1)
    with pytest.raises(ValueError, match="unknown parameter"):
        make_optimizer("sgd", lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="unknown parameter"):
        make_optimizer("adam", beta=0.9)
    with pytest.raises(ValueError, match="learning rate"):
        make_optimizer("adam", lr=-1)
