"""Fused optimizer kernels (train/kernels.py) and elementwise kernels (nn/kernels.py): both paths (compiled with
Numba, NumPy fallback) give the bits of today's optimizers and layers, equal the formulas in float64 within
float32 rounding, and handle populations (hyperparameters with a leading axis of K members)."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from numnet.train import kernels as K
from numnet.train.optimizers import SGD, Adam, Momentum, RMSprop
from numnet.utils import jit

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
PATHS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed"))]
SHAPES = [(3, 7), (10,), (300, 200)]  # the last is above PARALLEL_MIN: the threaded loop


@pytest.fixture(params=PATHS)
def path(request):
    jit.set_enabled(request.param == "numba")
    yield request.param
    jit.set_enabled(None)


def test_the_parallel_size_is_exercised():
    assert 300 * 200 >= K.PARALLEL_MIN > 10


OPTS = {
    "sgd": (lambda: SGD(0.1), lambda p, g, v, s, t, l2: K.sgd_update(p, g, 0.1, l2=l2)),
    "momentum": (lambda: Momentum(0.1, 0.8),
                 lambda p, g, v, s, t, l2: K.momentum_update(p, g, v, 0.1, 0.8, l2=l2)),
    "rmsprop": (lambda: RMSprop(0.01, 0.9, 1e-6),
                lambda p, g, v, s, t, l2: K.rmsprop_update(p, g, s, 0.01, 0.9, 1e-6, l2=l2)),
    "adam": (lambda: Adam(0.01, 0.9, 0.99, 1e-7),
             lambda p, g, v, s, t, l2: K.adam_update(p, g, v, s, 0.01, 0.9, 0.99, 1e-7, t, l2=l2)),
}


@pytest.mark.parametrize("name", OPTS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("l2", [0.0, 0.003])
def test_kernels_give_the_bits_of_todays_optimizers(path, name, shape, dtype, l2):
    """Six steps of the kernel and of the optimizer's step (with L2 added to g first, as Network.backprop
    does): the same parameters, gradients and state, bit for bit."""
    make_opt, kernel = OPTS[name]
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(6)]
    p_ref, opt = p0.copy(), make_opt()
    p, v, s = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, 1):
        g_ref, g_k = g.copy(), g.copy()
        if l2:
            g_ref += l2 * p_ref
        opt.step([p_ref], [g_ref])
        kernel(p, g_k, v, s, t, l2)
        np.testing.assert_array_equal(g_k, g_ref)  # L2 is written into the gradient, as today
    np.testing.assert_array_equal(p, p_ref)
    slot = opt.state_for([p_ref])[0]
    for key, mine in (("V", v), ("S", s)):
        if key in slot:
            np.testing.assert_array_equal(mine, slot[key])


def _formula(name, p, g, v, s, t, lr, b1, b2, eps, l2):
    """One step of the textbook formula in float64 (course notation; Adam with V̂, Ŝ)."""
    g = g + l2 * p
    if name == "sgd":
        return p - lr * g, v, s
    if name == "momentum":
        v = b1 * v + (1 - b1) * g
        return p - lr * v, v, s
    if name == "rmsprop":
        s = b1 * s + (1 - b1) * g * g
        return p - lr * g / (np.sqrt(s) + eps), v, s
    v = b1 * v + (1 - b1) * g
    s = b2 * s + (1 - b2) * g * g
    vh, sh = v / (1 - b1 ** t), s / (1 - b2 ** t)
    return p - lr * vh / (np.sqrt(sh) + eps), v, s


def _kernel(name, p, g, v, s, t, lr, b1, b2, eps, l2):
    if name == "sgd":
        K.sgd_update(p, g, lr, l2=l2)
    elif name == "momentum":
        K.momentum_update(p, g, v, lr, b1, l2=l2)
    elif name == "rmsprop":
        K.rmsprop_update(p, g, s, lr, b1, eps, l2=l2)
    else:
        K.adam_update(p, g, v, s, lr, b1, b2, eps, t, l2=l2)


@pytest.mark.parametrize("name", OPTS)
@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_kernels_equal_the_formulas_within_rounding(path, name, dtype, rtol):
    rng = np.random.default_rng(5)
    shape = (300, 200)
    p = rng.standard_normal(shape)
    v = np.zeros(shape)
    s = np.zeros(shape)
    pk, vk, sk = p.astype(dtype), v.astype(dtype), s.astype(dtype)
    hp = dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8, l2=1e-3)
    for t in range(1, 5):
        g = rng.standard_normal(shape)
        p, v, s = _formula(name, p, g, v, s, t, **hp)
        _kernel(name, pk, g.astype(dtype), vk, sk, t, **hp)
    np.testing.assert_allclose(pk, p, rtol=rtol, atol=rtol)
    assert pk.dtype == dtype


@pytest.mark.parametrize("name", OPTS)
def test_population_members_step_with_their_own_hyperparameters(path, name):
    """p of shape (K, ...) with per-member lr and β (shape (K,) or (K, 1, 1)): member k equals a single
    network stepped with member k's numbers (within float32 rounding), and the formula."""
    Kn, shape = 4, (70, 130)
    rng = np.random.default_rng(7)
    lr = np.array([0.1, 0.01, 0.03, 0.003])
    b1 = np.array([0.9, 0.8, 0.95, 0.5]).reshape(Kn, 1, 1)
    P = rng.standard_normal((Kn, *shape)).astype(np.float32)
    V, S = np.zeros_like(P), np.zeros_like(P)
    single = [(P[k].copy(), np.zeros(shape, np.float32), np.zeros(shape, np.float32)) for k in range(Kn)]
    ref = [(P[k].astype(np.float64), np.zeros(shape), np.zeros(shape)) for k in range(Kn)]
    for t in range(1, 4):
        G = rng.standard_normal(P.shape).astype(np.float32)
        for k in range(Kn):
            pk, vk, sk = single[k]
            _kernel(name, pk, G[k].copy(), vk, sk, t, lr[k], float(b1[k, 0, 0]), 0.99, 1e-7, 1e-3)
            ref[k] = _formula(name, *ref[k][:1], G[k].astype(np.float64), *ref[k][1:], t, lr[k],
                              float(b1[k, 0, 0]), 0.99, 1e-7, 1e-3)
        _kernel(name, P, G, V, S, t, lr, b1, 0.99, 1e-7, 1e-3)
    for k in range(Kn):
        np.testing.assert_allclose(P[k], single[k][0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(P[k], ref[k][0], rtol=2e-5, atol=2e-5)
    assert not np.allclose(P[0], P[1])  # the members did move differently


def test_population_hyperparameters_must_have_one_value_per_member():
    p, g = np.zeros((3, 5), np.float32), np.ones((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"lr has shape \(4,\).*one value per member"):
        K.sgd_update(p, g, np.full(4, 0.1))
    with pytest.raises(ValueError, match="beta has shape"):
        K.momentum_update(p, g, np.zeros_like(p), 0.1, np.full((3, 5), 0.9))
    with pytest.raises(ValueError, match="adam step t"):
        K.adam_update(p, g, np.zeros_like(p), np.zeros_like(p), 0.1, 0.9, 0.999, 1e-8, 0)


def test_arrays_the_compiled_loop_cannot_take_fall_back_to_numpy(path):
    """A strided view, a Fortran-ordered array and mixed dtypes are updated correctly (by the fallback)."""
    rng = np.random.default_rng(9)
    base = rng.standard_normal((40, 60)).astype(np.float32)
    for p in (base[:, ::2], np.asfortranarray(base)):
        p0 = p.copy()
        g = rng.standard_normal(p.shape).astype(np.float32)
        K.sgd_update(p, g, 0.5)
        np.testing.assert_array_equal(p, p0 - g * np.float32(0.5))
    p = base.copy()
    K.sgd_update(p, rng.standard_normal(p.shape), 0.5)  # float64 gradient on float32 parameters
    assert p.dtype == np.float32 and not np.array_equal(p, base)


def test_import_numnet_does_not_import_numba():
    code = "import sys, numnet, numnet.train.kernels; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_numnet_jit_0_switches_the_compiled_loops_off():
    code = ("import numpy as np, sys; from numnet.train import kernels as K; p = np.zeros(5, np.float32); "
            "K.sgd_update(p, np.ones(5, np.float32), 0.5); print('numba' in sys.modules, p[0])")
    env_off = {**__import__("os").environ, "NUMNET_JIT": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env_off)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "-0.5"]


# ---------------------------------------------------------------------------------------------- nn/kernels.py
from numnet.nn import kernels as E  # noqa: E402
from numnet.nn.costs import LogLikelihoodCost  # noqa: E402
from numnet.nn.layers import Dropout, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402


@pytest.fixture(params=[(256, 800), (3, 5)], ids=["large", "small"])
def batch(request):
    """A pre-activation batch (large: the compiled loop; small: the fallback), with zeros, -0 and a NaN."""
    rng = np.random.default_rng(11)
    z = rng.standard_normal(request.param).astype(np.float32)
    z.flat[:3] = [0.0, -0.0, np.nan]
    return z, rng.standard_normal(z.shape).astype(np.float32)


def test_the_elementwise_parallel_size_is_exercised():
    assert 256 * 800 >= E.PARALLEL_MIN > 15


def test_activation_kernels_give_the_bits_of_todays_layers(path, batch):
    z, dy = batch
    relu = ReLU()
    a, cache = relu.forward({}, z)
    np.testing.assert_array_equal(E.relu_forward(z), a)
    assert np.array_equal(np.signbit(E.relu_forward(z)), np.signbit(a))
    np.testing.assert_array_equal(E.relu_backward(dy, a), relu.backward({}, cache, dy)[0])
    out = z.copy()
    assert E.relu_forward(out, out=out) is out  # in place
    np.testing.assert_array_equal(out, a)
    for layer, kernel in ((Sigmoid(), E.sigmoid_backward), (Tanh(), E.tanh_backward)):
        s, cache = layer.forward({}, z)
        np.testing.assert_array_equal(kernel(dy, s), layer.backward({}, cache, dy)[0])


def test_dropout_kernel_gives_todays_mask_from_the_same_draws(path, batch):
    x, _ = batch
    layer = Dropout(0.7)
    ref, layer_mask = layer.forward({}, x, training=True, rng=np.random.default_rng(4))
    u = np.random.default_rng(4).random(x.shape, dtype=x.dtype)  # the draws Dropout.forward takes
    out, mask = E.dropout_forward(x, u, 0.7)
    np.testing.assert_array_equal(mask, layer_mask)
    np.testing.assert_array_equal(out, ref)


def test_bias_grad_gives_the_bits_of_numpys_column_sum(path, batch):
    dz, _ = batch
    np.testing.assert_array_equal(E.bias_grad(dz), dz.sum(axis=0))
    wide = np.random.default_rng(2).standard_normal((64, 2048)).astype(np.float32)
    np.testing.assert_array_equal(E.bias_grad(wide), wide.sum(axis=0))


@pytest.mark.parametrize("shape", [(256, 200), (5, 10)])
def test_softmax_log_likelihood_is_todays_forward_cost_and_delta(path, shape):
    rng = np.random.default_rng(12)
    z = (3 * rng.standard_normal(shape)).astype(np.float32)
    Y = np.eye(shape[1], dtype=np.float32)[rng.integers(0, shape[1], shape[0])]
    a_ref = Softmax()(z)
    cost_ref = LogLikelihoodCost().value(a_ref, Y, z)
    delta_ref = LogLikelihoodCost().delta(a_ref, Y)
    a, cost, delta = E.softmax_log_likelihood(z, Y)
    np.testing.assert_allclose(a, a_ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(delta, delta_ref, rtol=1e-5, atol=1e-9)
    assert cost == pytest.approx(cost_ref, rel=1e-5)
    z64 = z.astype(np.float64)  # and the formula in float64
    e = np.exp(z64 - z64.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    assert cost == pytest.approx(-np.mean(np.log(p[Y == 1])), rel=1e-5)
    if path == "numpy":  # the fallback is today's arithmetic
        np.testing.assert_array_equal(a, a_ref)
        np.testing.assert_array_equal(delta, delta_ref)
        assert cost == cost_ref


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_the_threaded_loops_use_numbas_workqueue_layer():
    """The workqueue layer's workers sleep between loops (OpenMP's spin and collapse on a busy core)."""
    code = ("import numpy as np, numba; from numnet.train import kernels as K; p = np.zeros(1 << 16, np.float32); "
            "K.sgd_update(p, np.ones_like(p), 0.5); print(numba.threading_layer())")
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "workqueue"
