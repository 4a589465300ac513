"""The explicit, batchable training state (issue 19): a population of K networks stored as one set of arrays with
a leading member axis computes what each member computes alone; optimizers take per-member hyperparameters and
save/restore what they declare; a new optimizer and a new device are each one class or one registration,
made here from a test file."""
import numpy as np
import pytest

import numnet
from numnet import Adam, Momentum, Network, RMSprop, SGD
from numnet.cli import main
from numnet.train.optimizers import OPTIMIZERS, Optimizer
from numnet.utils import backend as B

import strict_xp

SEEDS = [1, 2, 3]


def members(**kw):
    return [Network.from_sizes([5, 7, 6, 3], cost="log_likelihood", seed=s, dtype="float64", **kw) for s in SEEDS]


def population(nets):
    """One network whose every parameter and buffer is the members' arrays stacked on a new leading axis."""
    pop = nets[0].copy()
    for i, layer in enumerate(pop.layers):
        for store in ("params", "buffers"):
            for k in getattr(layer, store):
                getattr(layer, store)[k] = np.stack([getattr(n.layers[i], store)[k] for n in nets])
    return pop


def batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), np.eye(3)[rng.integers(0, 3, n)]


@pytest.mark.parametrize("kw", [dict(activation="relu"), dict(activation="tanh", batch_norm=True),
                                dict(activation="maxout", pieces=3), dict(activation="sigmoid", output="sigmoid")])
def test_a_population_pass_equals_each_member_alone(kw):
    nets = members(**kw)
    pop = population(nets)
    X, Y = batch()
    cost, grads = pop.backprop(X, Y, True, None, l2=0.3, n_train=50)
    assert cost.shape == (len(SEEDS),)
    for i, net in enumerate(nets):
        c, g = net.backprop(X, Y, True, None, l2=0.3, n_train=50)
        assert cost[i] == pytest.approx(c, rel=1e-12, abs=1e-12)
        for a, b in zip(grads, g):
            np.testing.assert_allclose(a[i], b, rtol=1e-10, atol=1e-12)
        for k, v in pop.arrays().items():  # batch-norm running statistics too
            np.testing.assert_allclose(v[i], net.arrays()[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [lambda lr: SGD(lr), lambda lr: Momentum(lr, beta=[0.9, 0.5, 0.99]),
                                  lambda lr: RMSprop(lr), lambda lr: Adam(lr, beta1=[0.9, 0.8, 0.95])])
def test_per_member_hyperparameters_step_each_member_by_its_own(make):
    rates = [0.1, 0.01, 0.3]
    nets = members(activation="relu")
    pop = population(nets)
    pop_opt = make(rates)
    alone = [make(r) for r in rates]
    for i, opt in enumerate(alone):  # a member's own optimizer: the i-th value of every per-member setting
        for k in opt.hyper:
            v = getattr(opt, k)
            if isinstance(v, np.ndarray):
                setattr(opt, k, float(v[i]))
    pop_state = pop_opt.init(pop.param_arrays(True))
    states = [opt.init(n.param_arrays(True)) for opt, n in zip(alone, nets)]
    for step in range(3):
        X, Y = batch(seed=step)
        _, grads = pop.backprop(X, Y)
        pop_opt.step(pop.param_arrays(True), grads, pop_state)
        for net, opt, state in zip(nets, alone, states):
            _, g = net.backprop(X, Y)
            opt.step(net.param_arrays(True), g, state)
    for i, net in enumerate(nets):
        for a, b in zip(pop.param_arrays(), net.param_arrays()):
            np.testing.assert_allclose(a[i], b, rtol=1e-10, atol=1e-13)


def test_hyperparameters_are_checked_per_member_and_saved_as_lists():
    opt = Adam(lr=[0.1, 0.01])
    assert opt.config() == {"name": "adam", "lr": [0.1, 0.01], "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    with pytest.raises(ValueError, match="learning rate"):
        SGD([0.1, -1.0])
    with pytest.raises(ValueError, match="beta"):
        Momentum(0.1, beta=[0.9, 1.5])
    with pytest.raises(ValueError, match="members"):
        SGD([0.1, 0.2]).step([np.ones((3, 2))], [np.ones((3, 2))])


def test_the_state_is_explicit_and_belongs_to_the_caller():
    net = Network.from_sizes([5, 4, 3], seed=0, dtype="float64")
    X, Y = batch()
    opt = Adam(0.01)
    params = net.param_arrays(True)
    s1, s2 = opt.init(params), opt.init(params)
    _, g = net.backprop(X, Y)
    opt.step(params, g, s1)
    assert all(s["t"] == 1 for s in s1) and all(s["t"] == 0 and not s["V"].any() for s in s2)
    assert not hasattr(net.layers[0], "grads") and not hasattr(net.layers[0], "_x")  # nothing hidden on layers
    tape = []
    net.forward_pass(X, True, None, tape)
    assert len(tape) == len(net.layers)


class Lion(Optimizer):
    """A toy optimizer defined outside the package: m ← β·m + (1 − β)·g; W ← W − α·sign(m). It declares its
    hyperparameters and its slot; config, flags, checkpoints and resume come from the declaration."""

    name = "test_lion"
    hyper = ("lr", "beta")
    slots = ("m",)
    default_lr = 0.01

    def __init__(self, lr=0.01, beta=0.9):
        super().__init__(lr)
        self.beta = float(beta)

    def _update(self, p, g, slot, d):
        m = slot["m"]
        m *= self.beta
        m += (1 - self.beta) * g
        np.sign(m, out=d)
        d *= self.h("lr", p)
        p -= d


@pytest.fixture
def lion():
    OPTIMIZERS.register(Lion)
    yield
    OPTIMIZERS.unregister("test_lion")


def test_a_new_optimizer_is_one_class_and_resumes_exactly(lion, tmp_path):
    X, y = np.random.default_rng(0).standard_normal((60, 5)), np.arange(60) % 3

    def net():
        return Network.from_sizes([5, 6, 3], activation="relu", cost="log_likelihood", seed=2)

    full = net()
    full.fit(X, y, epochs=4, batch_size=10, optimizer=numnet.train.optimizers.make_optimizer("test-lion", beta=0.8),
             seed=5)
    half = net()
    half.fit(X, y, epochs=2, batch_size=10, optimizer=Lion(beta=0.8), seed=5, checkpoint_dir=tmp_path)
    resumed = net()
    resumed.fit(X, y, epochs=4, batch_size=10, seed=5, resume=tmp_path)
    for k, v in full.get_weights().items():
        assert resumed.get_weights()[k].tobytes() == v.tobytes(), k
    assert Lion(beta=0.8).config() == {"name": "test_lion", "lr": 0.01, "beta": 0.8}
    out = tmp_path / "m.npz"
    assert main(["train", "--optimizer", "test-lion", "--beta", "0.7", "--sizes", "784,8,10", "--train-size", "200",
                 "--validation-size", "50", "--epochs", "1", "--quiet", "--out", str(out)]) == 0


@pytest.fixture
def toy_device():
    """A device registered from this file (a NumPy-backed stand-in that refuses host arrays, as CuPy does)."""
    toy = B.Backend("toy", strict_xp.StrictArray, strict_xp.MODULE, strict_xp.BACKEND.put, strict_xp.BACKEND.get)
    B.register_backend(toy)
    yield toy
    B.unregister_backend("toy")


def test_a_new_device_is_one_registration(toy_device, tmp_path):
    assert "toy" in B.known_devices() and "toy" in B.usable_devices()
    out = tmp_path / "m.npz"
    assert main(["train", "--device", "toy", "--sizes", "784,8,10", "--train-size", "200", "--validation-size",
                 "50", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert numnet.load(out).device == "cpu"  # files hold host arrays
    net = Network.from_sizes([5, 4, 3], seed=0).to("toy")
    assert net.device == "toy" and isinstance(net.layers[0].W, strict_xp.StrictArray)


def test_a_network_takes_inputs_of_the_shape_its_first_layer_accepts(tmp_path):
    """Images (n, 1, 4, 4) through Flatten: trained, gradient-checked, saved and loaded with their shape; flat rows
    of 16 features are reshaped for it (MNIST's loaders give rows)."""
    def net():
        return Network([numnet.Flatten((1, 4, 4)), numnet.Dense(16, 6, seed=1, dtype="float64"), numnet.ReLU(),
                        numnet.Dense(6, 3, seed=2, dtype="float64"), numnet.Softmax()], "log_likelihood")

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 1, 4, 4)), np.arange(40) % 3
    a = net()
    assert a.input_shape == (1, 4, 4) and a.n_in == 16 and a.sizes == [16, 6, 3]
    assert numnet.gradcheck(a, X[:6], y[:6]).max_error < 1e-7
    a.fit(X, y, epochs=2, batch_size=8, optimizer=SGD(0.1), seed=0)
    np.testing.assert_array_equal(a.predict(X.reshape(40, 16)), a.predict(X))
    a.save(tmp_path / "m.npz")
    b = numnet.load(tmp_path / "m.npz")
    assert b.input_shape == (1, 4, 4)
    np.testing.assert_array_equal(b.predict_proba(X), a.predict_proba(X))
    with pytest.raises(ValueError, match=r"shape \(n, 1, 4, 4\)"):
        a.predict(np.ones((2, 15)))
