"""numnet on a real CUDA GPU through CuPy. Left out of the default run (marker `gpu`): run them with

    pytest -m gpu tests/test_gpu.py

where CuPy sees a device; elsewhere they are skipped (a skip, never a pass).
"""
import numpy as np
import pytest

import numnet
from numnet import Network, SGD
from numnet.data import load_mnist
from numnet.utils import backend as B

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda():
    try:
        B.require_device("cuda")
    except B.DeviceError as e:
        pytest.skip(str(e))
    return "cuda"


@pytest.fixture(scope="module")
def mnist():
    (X, y), _, (Xt, yt) = load_mnist(validation_size=10000)
    return X[:10000], y[:10000], Xt, yt


def fitted(device, mnist, epochs=3, **extra):
    X, y, Xt, yt = mnist
    net = Network.from_sizes([784, 128, 10], activation="relu", cost="log_likelihood", init="he", seed=1, **extra)
    net.to(device)
    net.fit(X, y, epochs=epochs, batch_size=64, optimizer=SGD(0.1), seed=1, verbose=0)
    return net


def test_training_on_the_gpu_matches_the_cpu_accuracy(cuda, mnist):
    import cupy

    gpu = fitted(cuda, mnist)
    assert isinstance(gpu.param_arrays()[0], cupy.ndarray)
    cpu = fitted("cpu", mnist)
    Xt, yt = mnist[2], mnist[3]
    acc_gpu, acc_cpu = gpu.evaluate(Xt, yt).accuracy, cpu.evaluate(Xt, yt).accuracy
    assert acc_gpu > 0.93 and abs(acc_gpu - acc_cpu) < 0.005
    for key, v in gpu.arrays().items():  # same math, float32 rounding (cuBLAS sums in another order)
        np.testing.assert_allclose(B.to_host(v), cpu.arrays()[key], rtol=0, atol=5e-3, err_msg=key)


def test_dropout_and_batch_norm_train_on_the_gpu(cuda, mnist):
    net = fitted(cuda, mnist, epochs=2, keep_prob=0.8, batch_norm=True)
    assert net.evaluate(mnist[2], mnist[3]).accuracy > 0.9


def test_save_on_the_gpu_load_on_the_cpu_and_back(cuda, mnist, tmp_path):
    gpu = fitted(cuda, mnist, epochs=1)
    loaded = numnet.load(gpu.save(tmp_path / "m.npz"))
    assert loaded.device == "cpu"
    Xt, yt = mnist[2], mnist[3]
    assert loaded.evaluate(Xt, yt).accuracy == pytest.approx(gpu.evaluate(Xt, yt).accuracy, abs=1e-4)
    assert loaded.to("cuda").device == "cuda"


def test_run_with_device_cuda(cuda, tmp_path):
    from numnet.runs import run

    r = run(overrides={"device": "cuda", "epochs": 2, "train_size": 10000, "seed": 1}, out=tmp_path / "m.npz")
    assert r.model.device == "cpu" and r.test.accuracy > 0.93 and all(
        isinstance(c, float) for c in r.history.batch_cost[0])
