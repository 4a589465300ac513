"""gradcheck's zero floor: a gradient that is truly 0 (a Dense bias feeding a BatchNorm) passes by absolute
error instead of a meaningless relative error of 1, while wrong gradients still fail."""
import re

import numpy as np
import pytest

from numnet import BatchNorm, Dense, Dropout, Network, ReLU, Softmax, gradcheck
from numnet.cli import main
from numnet.model.gradcheck import gradient_error, relative_error

TOL = 1e-7


def readme_net():
    return Network([Dense(784, 512, seed=1), BatchNorm(512), ReLU(), Dropout(0.8), Dense(512, 10, seed=2), Softmax()],
                   "log_likelihood")


def small_bn_net(dtype="float64"):
    return Network([Dense(4, 6, seed=1, dtype=dtype), BatchNorm(6, dtype=dtype), ReLU(),
                    Dense(6, 3, seed=2, dtype=dtype), Softmax()], "log_likelihood")


def _batch(n_in, n=8, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in)), rng.integers(0, k, n)


def test_gradient_error_floor():
    g = np.array([1e-17, -2e-17])
    g_hat = np.array([3e-12, -1e-12])
    assert relative_error(g, g_hat) == pytest.approx(1.0, abs=1e-4)  # the old, meaningless answer
    err, absolute = gradient_error(g, g_hat)
    assert absolute and err == pytest.approx(np.linalg.norm(g - g_hat))
    err, absolute = gradient_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-6]))
    assert not absolute and err == pytest.approx(1e-6 / (2 * np.sqrt(5)), rel=1e-4)


def test_readme_network_passes():
    X, y = _batch(784, k=10)
    r = gradcheck(readme_net(), X, y)
    assert r.passed(TOL), r.errors
    assert r.absolute == ("0.b",)  # the bias before BatchNorm has gradient exactly 0
    assert r.errors["0.b"] < 1e-9


def test_dense_bias_into_batchnorm_passes():
    X, y = _batch(4)
    r = gradcheck(small_bn_net(), X, y)
    assert r.passed(TOL), r.errors
    assert "0.b" in r.absolute and "0.W" not in r.absolute


def test_from_sizes_batch_norm_with_biases_passes():
    net = Network.from_sizes([4, 6, 5, 3], activation="relu", cost="log_likelihood", batch_norm=True, seed=3)
    dense = [l for l in net.layers if isinstance(l, Dense)]
    # the layers a user builds by hand with biases: give every hidden Dense one
    layers = []
    for l in net.layers:
        if isinstance(l, Dense) and not l.bias:
            l = Dense(l.n_in, l.n_out, seed=4)
        layers.append(l)
    net = Network(layers, "log_likelihood")
    assert len(dense) == 3
    X, y = _batch(4)
    assert gradcheck(net, X, y).passed(TOL)


def test_wrong_zero_gradient_still_fails(monkeypatch):
    """A bias gradient that should be 0 but is not (above the floor) is reported as an error."""
    orig = Dense.backward

    def broken(self, v, cache, dz, need_dx=True):
        dx, grads = orig(self, v, cache, dz, need_dx)
        if self.trainable and self.bias:
            grads["b"] += 1e-3
        return dx, grads

    monkeypatch.setattr(Dense, "backward", broken)
    X, y = _batch(4)
    r = gradcheck(small_bn_net(), X, y)
    assert not r.passed(TOL)
    assert r.errors["0.b"] > 1e-4 and "0.b" not in r.absolute


def test_wrong_nonzero_gradient_still_fails(monkeypatch):
    orig = BatchNorm.backward

    def broken(self, v, cache, dy, need_dx=True):
        dx, grads = orig(self, v, cache, dy, need_dx)
        if self.trainable:
            grads["gamma"] *= 1.01
        return dx, grads

    monkeypatch.setattr(BatchNorm, "backward", broken)
    X, y = _batch(4)
    r = gradcheck(small_bn_net(), X, y)
    assert not r.passed(TOL) and r.errors["1.gamma"] > 1e-4


def test_cli_gradcheck_readme_model(tmp_path, capsys):
    path = readme_net().save(tmp_path / "readme.npz")
    rc = main(["gradcheck", "--model", str(path), "--examples", "4"])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert out.splitlines()[-1] == "all gradients agree"
    assert re.search(r"0\.b +absolute error", out) and re.search(r"0\.W +relative error", out)
