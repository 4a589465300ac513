"""FusedSGD: the plain-SGD step folded into Dense's weight-gradient product (one BLAS gemm with β) gives
the default path's results within float rounding, only where nothing reads gradients; the default is unfused,
so seeded runs (tests/runs/test_reference.py) keep today's arithmetic byte for byte. The fusion lives in the
optimizer (and the BLAS binding): layers leave dW as a lazy product, which FusedSGD folds into its step."""
import subprocess
import sys

import numpy as np
import pytest

import numnet
from numnet import SGD, Dense, FusedSGD, Network
from numnet.train.callbacks import ProgressBar
from numnet.train.health import GradientHealth
from numnet.nn.layers import Product
from numnet.train import optimizers
from numnet.train.callbacks import Callback
from numnet.train.optimizers import make_optimizer
from numnet.utils import blas
from conftest import bwd, fwd

TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def data(n=400, features=20, classes=4, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 2
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.standard_normal((n, features))).astype(dtype), y


@pytest.fixture(params=["gemm", "numpy"])
def kernel(request, monkeypatch):
    """Both kernels: the gemm of NumPy's BLAS (for every W here, however small; its calls counted and checked),
    and the NumPy path taken where that BLAS is not found (and for small W and other array modules)."""
    calls = []
    if request.param == "numpy":
        monkeypatch.setattr(blas, "_GEMM", {})
    else:
        assert blas.gemm_for(np.zeros((1, 1), np.float32)) is not None, "NumPy's BLAS was not found"
        counted = {dt: (lambda *a, f=f, **k: calls.append(1) or f(*a, **k)) for dt, f in blas._load().items()}
        monkeypatch.setattr(blas, "_GEMM", counted)
        monkeypatch.setattr(optimizers, "GEMM_MIN_SIZE", 0)
    yield request.param
    assert bool(calls) == (request.param == "gemm")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("l2_scale", [0.0, 0.01])
def test_fused_step_on_a_product_equals_the_evaluated_gradient_then_sgd(kernel, dtype, l2_scale):
    rng = np.random.default_rng(1)
    x, dz = rng.standard_normal((64, 30)).astype(dtype), rng.standard_normal((64, 20)).astype(dtype)
    plain, fused = (Dense(30, 20, seed=2, dtype=dtype) for _ in range(2))
    lr = 0.1
    dx, g_plain = bwd(plain, fwd(plain, x)[1], dz)
    dx_fused, g_fused = bwd(fused, fwd(fused, x)[1], dz)
    assert dx_fused.tobytes() == dx.tobytes() and isinstance(g_fused["W"], Product)
    for g, layer in ((g_plain, plain), (g_fused, fused)):
        g["W"].decay, g["W"].param = l2_scale, layer.W
    SGD(lr).step(list(plain.params.values()), [g_plain["W"].value(), g_plain["b"]])
    W_before = fused.W.copy()
    FusedSGD(lr).step(list(fused.params.values()), [g_fused["W"], g_fused["b"]])
    assert not np.array_equal(fused.W, W_before)
    np.testing.assert_allclose(fused.W, plain.W, **TOL[dtype])
    assert fused.b.tobytes() == plain.b.tobytes()  # the bias step is the same operations as SGD.step's


def test_the_gemm_updates_w_in_place(kernel):
    layer = Dense(30, 20, seed=2)
    W = layer.W
    _, grads = bwd(layer, fwd(layer, np.ones((5, 30), np.float32))[1], np.ones((5, 20), np.float32))
    FusedSGD(0.1).step([W, layer.b], [grads["W"], grads["b"]])
    assert layer.W is W and layer.params["W"] is W and not np.array_equal(W, Dense(30, 20, seed=2).W)


class GradientKinds(Callback):
    """Records what the optimizer was given for the first weight at each step: a lazy Product or an array."""

    reads_gradients = False

    def __init__(self):
        self.kinds = set()

    def on_batch_end(self, trainer, batch, cost):
        self.kinds.add(type(trainer.grads[0]).__name__)


def fit(dtype="float32", fused=False, l2=0.0, callbacks=(), freeze=0, **kwargs):
    X, y = data(dtype=dtype)
    net = Network.from_sizes(kwargs.pop("sizes", [20, 32, 16, 4]), cost="log_likelihood", init="he", seed=3,
                             dtype=dtype, **kwargs)
    net.freeze(freeze)
    net.fit(X, y, epochs=2, batch_size=25, optimizer=(FusedSGD if fused else SGD)(0.1), l2=l2, seed=4, verbose=0,
            callbacks=list(callbacks))
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [dict(), dict(l2=3.0), dict(activation="maxout"), dict(batch_norm=True),
                                  dict(freeze=1), dict(keep_prob=0.8)])
def test_training_with_fused_sgd_equals_the_default_within_rounding(kernel, dtype, case):
    plain, fused = fit(dtype, False, **case), fit(dtype, True, **case)
    for k, v in plain.get_weights().items():
        np.testing.assert_allclose(fused.get_weights()[k], v, **TOL[dtype], err_msg=k)
    if case.get("freeze"):
        initial = Network.from_sizes([20, 32, 16, 4], cost="log_likelihood", init="he", seed=3, dtype=dtype)
        assert fused.get_weights()["0.W"].tobytes() == initial.get_weights()["0.W"].tobytes()  # frozen: untouched


def kinds_of(**kwargs):
    seen = GradientKinds()
    fit(fused=True, callbacks=[*kwargs.pop("callbacks", ()), seen], **kwargs)
    return seen.kinds


def test_fused_steps_take_lazy_products_except_for_gradient_readers():
    assert kinds_of() == {"Product"}  # the fused path ran: dW was never written
    assert kinds_of(callbacks=[ProgressBar(enabled=False)]) == {"Product"}
    assert kinds_of(callbacks=[GradientHealth(warn=False)]) == {"ndarray"}  # a gradient reader: evaluated
    health = fit(fused=True, callbacks=[GradientHealth(warn=False)])
    plain = fit(callbacks=[GradientHealth(warn=False)])
    assert health.get_weights()["0.W"].tobytes() == plain.get_weights()["0.W"].tobytes()


def test_fused_sgd_is_a_registered_optimizer_and_the_default_is_unfused():
    assert FusedSGD(0.1).takes_products
    assert not SGD(0.1).takes_products and not numnet.Adam().takes_products  # seeded runs keep their rounding
    again = make_optimizer("fused-sgd", lr=0.2)
    assert type(again) is FusedSGD and again.config() == {"name": "fused_sgd", "lr": 0.2}
    assert repr(again) == "FusedSGD(lr=0.2)"


def test_the_command_line_trains_with_fused_sgd(tmp_path):
    from numnet.cli import main

    assert main(["train", "--optimizer", "fused-sgd", "--sizes", "784,16,10", "--epochs", "1", "--train-size",
                 "300", "--validation-size", "100", "--quiet", "--out", str(tmp_path / "m.npz")]) == 0


def test_fused_sgd_needs_no_scipy_and_looks_up_the_blas_only_when_used():
    code = ("import sys, numpy as np, numnet; from numnet.utils import blas; assert blas._GEMM is None; "
            "net = numnet.Network.from_sizes([300, 300, 2], seed=1); "
            "net.fit(np.zeros((20, 300), np.float32), np.zeros(20, int), 1, optimizer=numnet.FusedSGD(0.1)); "
            "assert blas._GEMM, 'no gemm'; assert 'scipy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_of_numpys_blas_accumulates_like_numpy(dtype, ta, tb):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((7, 5) if ta else (5, 7)).astype(dtype)
    b = rng.standard_normal((6, 7) if tb else (7, 6)).astype(dtype)
    a, b = (a.T if ta else a), (b.T if tb else b)
    c = rng.standard_normal((5, 6)).astype(dtype)
    expected = 0.75 * c - 0.5 * (a @ b)
    gemm = blas.gemm_for(c, a, b)
    assert gemm is not None
    gemm(-0.5, a, b, 0.75, c)
    np.testing.assert_allclose(c, expected, **TOL[dtype])


@pytest.mark.parametrize("m, k, n", [(30, 1, 20), (1, 5, 7), (5, 7, 1)])
def test_gemm_with_a_unit_dimension(m, k, n):  # batch size 1, one input, one output: both C- and F-contiguous
    rng = np.random.default_rng(6)
    x, dz, W = (rng.standard_normal(s).astype(np.float32) for s in ((k, m), (k, n), (m, n)))
    expected = W - 0.1 * (x.T @ dz)
    blas.gemm_for(W, x.T, dz)(-0.1, x.T, dz, 1.0, W)
    np.testing.assert_allclose(W, expected, **TOL["float32"])


def test_gemm_for_refuses_what_it_cannot_call():
    x32, x64 = np.ones((4, 4), np.float32), np.ones((4, 4))
    assert blas.gemm_for(x32, x64, x32) is None  # mixed dtypes
    assert blas.gemm_for(x32[:, ::2].copy().T, x32, x32) is None  # c not C-contiguous
    assert blas.gemm_for(x32, x32[::2], x32) is None  # an operand with strides
    assert blas.gemm_for(x32.astype(np.int64), x32.astype(np.int64), x32.astype(np.int64)) is None
    assert blas.gemm_for(np.ones((4, 4), np.float16), np.ones((4, 4), np.float16)) is None


def test_reads_gradients_is_assumed_of_batch_hooks_unless_declared():
    from numnet.train.callbacks import LambdaCallback

    class EpochOnly(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            pass

    class Counter(Callback):
        def on_batch_end(self, trainer, batch, cost):
            pass

    class QuietCounter(Counter):
        reads_gradients = False

    assert not EpochOnly().reads_gradients and Counter().reads_gradients and not QuietCounter().reads_gradients
    assert LambdaCallback(on_batch_end=lambda *a: None).reads_gradients
    assert not LambdaCallback(on_epoch_end=lambda *a: None).reads_gradients
    assert GradientHealth().reads_gradients and not ProgressBar().reads_gradients
    assert kinds_of(callbacks=[Counter()]) == {"ndarray"}
    assert kinds_of(callbacks=[QuietCounter()]) == {"Product"}
