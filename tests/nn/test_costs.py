"""Costs: values against hand-computed numbers, the logit (z) path against the activation (a) path, gradients
against finite differences of the value, saturated outputs, and the name/class/instance registry."""
import math
import warnings

import numpy as np
import pytest
from conftest import softmax as _softmax

import numnet
from numnet.costs import COSTS, CrossEntropyCost, LogLikelihoodCost, QuadraticCost, make_cost
from numnet.layers import Dense, Identity, Sigmoid, Softmax


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))




# ------------------------------------------------------------------------------------------ hand values
def test_quadratic_value_hand_computed():
    a = np.array([[0.2, 0.8], [0.6, 0.4]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    # example 1: ½(0.2² + 0.2²) = 0.04; example 2: ½(0.4² + 0.4²) = 0.16; mean 0.10
    assert QuadraticCost().value(a, Y) == pytest.approx(0.10, rel=1e-14)
    # one example, three outputs: ½(1² + 2² + 0²) = 2.5
    assert QuadraticCost().value(np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 0.0, 3.0]])) == pytest.approx(2.5)


def test_cross_entropy_value_hand_computed():
    a = np.array([[0.9], [0.2]])
    Y = np.array([[1.0], [0.0]])
    expected = (-math.log(0.9) - math.log(0.8)) / 2
    assert CrossEntropyCost().value(a, Y) == pytest.approx(expected, rel=1e-14)
    # several units and soft targets: −Σ_j [y ln a + (1 − y) ln(1 − a)]
    a2 = np.array([[0.7, 0.1]])
    Y2 = np.array([[0.25, 1.0]])
    expected2 = -(0.25 * math.log(0.7) + 0.75 * math.log(0.3) + math.log(0.1))
    assert CrossEntropyCost().value(a2, Y2) == pytest.approx(expected2, rel=1e-14)


def test_log_likelihood_value_hand_computed():
    a = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    Y = np.eye(3)[[0, 2]]
    assert LogLikelihoodCost().value(a, Y) == pytest.approx((-math.log(0.7) - math.log(0.6)) / 2, rel=1e-14)


def test_logit_values_hand_computed():
    # cross-entropy from sigmoid logits: softplus(z) − y z
    z = np.array([[0.0], [2.0]])
    Y = np.array([[1.0], [0.0]])
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert CrossEntropyCost().value(_sigmoid(z), Y, z) == pytest.approx(expected, rel=1e-14)
    # log-likelihood from softmax logits: ln Σ e^z − z_y
    z = np.array([[1.0, 2.0, 3.0]])
    Y = np.array([[0.0, 1.0, 0.0]])
    expected = math.log(math.e + math.e ** 2 + math.e ** 3) - 2.0
    assert LogLikelihoodCost().value(_softmax(z), Y, z) == pytest.approx(expected, rel=1e-14)


# ------------------------------------------------------------------------------------------ z path == a path
def test_cross_entropy_z_path_equals_a_path():
    rng = np.random.default_rng(0)
    z = rng.uniform(-6, 6, (20, 4))
    Y = (rng.random((20, 4)) < 0.5).astype(float)
    Y[:5] = rng.random((5, 4))  # soft targets too
    a = _sigmoid(z)
    c = CrossEntropyCost()
    assert c.value(a, Y, z) == pytest.approx(c.value(a, Y), rel=1e-12)


def test_log_likelihood_z_path_equals_a_path():
    rng = np.random.default_rng(1)
    z = rng.uniform(-8, 8, (20, 5))
    Y = np.eye(5)[rng.integers(0, 5, 20)]
    a = _softmax(z)
    c = LogLikelihoodCost()
    assert c.value(a, Y, z) == pytest.approx(c.value(a, Y), rel=1e-12)


# ------------------------------------------------------------------------------------------ saturation
def _net(dtype, W, b, out, cost):
    d = Dense(*np.shape(W), dtype=dtype)
    d.W[...] = W
    d.b[...] = b
    return numnet.Network([d, out], cost)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_saturated_sigmoid_is_exact(dtype):
    net = _net(dtype, [[1.0]], [0.0], Sigmoid(), "cross_entropy")
    X = np.array([[1000.0], [-1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            wrong = net.evaluate(X, [0, 1])
            right = net.evaluate(X, [1, 0])
            loss, grads = net.loss_and_grads(X, [0, 1])
    # each example: softplus(±1000) − y z = 1000 (wrong side); ≈ e^-1000 ≈ 0 on the right side
    assert wrong.cost == pytest.approx(1000.0, rel=1e-6) and wrong.accuracy == 0.0
    assert loss == pytest.approx(1000.0, rel=1e-6)
    assert right.cost == pytest.approx(0.0, abs=1e-12) and right.accuracy == 1.0
    # δ = (a − y)/n is finite: dW = Σ x δ = (1000·1 + (−1000)·(−1))/2 = 1000
    assert np.isfinite(grads[0]["W"]).all()
    assert grads[0]["W"][0, 0] == pytest.approx(1000.0, rel=1e-6)
    assert grads[0]["b"][0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_likelihood_saturated_softmax_is_exact(dtype):
    net = _net(dtype, [[1.0, -1.0]], [0.0, 0.0], Softmax(), "log_likelihood")
    X = np.array([[1000.0], [-1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            wrong = net.evaluate(X, [1, 0])
            right = net.evaluate(X, [0, 1])
            _, grads = net.loss_and_grads(X, [1, 0])
    # logits (1000, −1000): −ln a_1 = lse − z_1 = 1000 − (−1000) = 2000
    assert wrong.cost == pytest.approx(2000.0, rel=1e-6)
    assert right.cost == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(grads[0]["W"]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_path_clips_instead_of_log_zero(dtype):
    a = np.array([[0.0, 1.0]], dtype=dtype)
    Y = np.array([[1.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            ce = CrossEntropyCost().value(a, Y)
            ll = LogLikelihoodCost().value(a, Y)
            g_ce = CrossEntropyCost().grad(a, Y)
            g_ll = LogLikelihoodCost().grad(a, Y)
    for v in (ce, ll):
        assert math.isfinite(v) and v > 50  # a huge but finite penalty
    assert np.isfinite(g_ce).all() and np.isfinite(g_ll).all()


def test_quadratic_cost_of_saturated_network_is_finite():
    net = _net("float32", [[1.0]], [0.0], Sigmoid(), "quadratic")
    with np.errstate(all="raise"):
        ev = net.evaluate([[1000.0], [-1000.0]], [0, 0])
    assert ev.cost == pytest.approx(0.25)  # ½·1² for the first, 0 for the second, mean 0.25


# ------------------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("cost", [QuadraticCost(), CrossEntropyCost(), LogLikelihoodCost()], ids=repr)
def test_grad_matches_finite_differences_of_value(cost):
    rng = np.random.default_rng(2)
    a = rng.uniform(0.05, 0.95, (4, 3))
    Y = np.eye(3)[[0, 2, 1, 1]]
    g = cost.grad(a.copy(), Y)
    assert g.shape == a.shape
    h = 1e-6
    num = np.empty_like(a)
    for idx in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[idx] += h
        am[idx] -= h
        num[idx] = (cost.value(ap, Y) - cost.value(am, Y)) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-10)


def test_quadratic_grad_formula():
    a = np.array([[0.2, 0.8], [0.6, 0.4]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(QuadraticCost().grad(a.copy(), Y), (a - Y) / 2)
    # grad must not modify its input
    a0 = a.copy()
    QuadraticCost().grad(a, Y)
    np.testing.assert_array_equal(a, a0)


def test_fused_output_delta_equals_chain_rule():
    """δ^L = (a − y)/n for (sigmoid, cross-entropy) and (softmax, log-likelihood) must equal grad ∘ backward."""

    class PlainSigmoid(Sigmoid):  # a subclass is not fused: goes through cost.grad and Sigmoid.backward
        pass

    class PlainSoftmax(Softmax):
        pass

    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 4))
    y = np.array([0, 1, 2, 1, 0, 2])
    for out, plain, cost in ((Sigmoid, PlainSigmoid, "cross_entropy"), (Softmax, PlainSoftmax, "log_likelihood")):
        d_a, d_b = Dense(4, 3, seed=5, dtype="float64"), Dense(4, 3, seed=5, dtype="float64")
        fused = numnet.Network([d_a, out()], cost)
        chain = numnet.Network([d_b, plain()], cost)
        assert fused.cost.fuses(fused.layers[-1]) and not chain.cost.fuses(chain.layers[-1])
        (ca, ga), (cb, gb) = fused.loss_and_grads(X, y), chain.loss_and_grads(X, y)
        assert ca == pytest.approx(cb, rel=1e-12)
        np.testing.assert_allclose(ga[0]["W"], gb[0]["W"], rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ga[0]["b"], gb[0]["b"], rtol=1e-9, atol=1e-14)


def test_fuses_only_the_matching_output():
    assert CrossEntropyCost().fuses(Sigmoid()) and not CrossEntropyCost().fuses(Softmax())
    assert LogLikelihoodCost().fuses(Softmax()) and not LogLikelihoodCost().fuses(Sigmoid())
    assert not QuadraticCost().fuses(Sigmoid()) and not QuadraticCost().fuses(Identity())


def test_network_cost_is_mean_over_examples():
    """Doubling the data set (same examples twice) leaves the mean cost unchanged."""
    net = numnet.Network.from_sizes([3, 4, 2], cost="quadratic", seed=1, dtype="float64")
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    c1 = net.evaluate(X, y).cost
    c2 = net.evaluate(np.vstack([X, X]), np.concatenate([y, y])).cost
    assert c1 == pytest.approx(c2, rel=1e-12)
    a = net.forward(X)
    assert c1 == pytest.approx(0.5 * np.sum((a - np.eye(2)[y]) ** 2) / 5, rel=1e-12)


# ------------------------------------------------------------------------------------------ registry
@pytest.mark.parametrize("name,cls", [("quadratic", QuadraticCost), ("cross_entropy", CrossEntropyCost),
                                      ("log_likelihood", LogLikelihoodCost), ("mse", QuadraticCost),
                                      ("cross-entropy", CrossEntropyCost), ("nll", LogLikelihoodCost),
                                      ("Log_Likelihood", LogLikelihoodCost)])
def test_make_cost_accepts_names(name, cls):
    assert type(make_cost(name)) is cls


@pytest.mark.parametrize("cls", [QuadraticCost, CrossEntropyCost, LogLikelihoodCost])
def test_make_cost_accepts_classes_and_instances(cls):
    assert type(make_cost(cls)) is cls
    inst = cls()
    assert make_cost(inst) is inst
    assert COSTS[inst.name] is cls
    for spec in (cls, inst, inst.name):
        net = numnet.Network([Dense(2, 2), Sigmoid()], spec)
        assert type(net.cost) is cls
        net2 = numnet.Network.from_sizes([2, 3, 2], cost=spec)
        assert type(net2.cost) is cls


@pytest.mark.parametrize("bad", ["hinge", "", None, 3])
def test_unknown_cost_is_value_error(bad):
    with pytest.raises(ValueError, match="unknown cost"):
        make_cost(bad)
    with pytest.raises(ValueError, match="unknown cost"):
        numnet.Network([Dense(2, 2), Sigmoid()], bad)
    with pytest.raises(ValueError, match="unknown cost"):
        numnet.Network.from_sizes([2, 2], cost=bad)
