"""numnet.numerical_gradient: two-sided differences of any scalar function of an array, in float64."""
import numpy as np
import pytest

import numnet
from numnet import numerical_gradient


def test_matches_analytic_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    f = lambda a: np.sum(a ** 3) + np.sin(a[0, 0]) * a[2, 3]  # noqa: E731
    expected = 3 * x ** 2
    expected[0, 0] += np.cos(x[0, 0]) * x[2, 3]
    expected[2, 3] += np.sin(x[0, 0])
    g = numerical_gradient(f, x)
    assert g.shape == x.shape and g.dtype == np.float64
    np.testing.assert_allclose(g, expected, rtol=1e-8, atol=1e-9)


def test_float32_input_is_differenced_in_float64_and_left_unchanged():
    x = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    before = x.copy()
    seen = []
    g = numerical_gradient(lambda a: seen.append(a.dtype) or float(a @ a), x)
    np.testing.assert_allclose(g, 2 * x.astype(np.float64), rtol=1e-9)
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x, before)
    assert numerical_gradient(lambda a: a * 2.0, 3.0) == pytest.approx(2.0)  # a scalar x


def test_saito_style_softmax_cross_entropy_weights():
    """Saito ch.4: the gradient of a loss with respect to a weight matrix, against backpropagation."""
    rng = np.random.default_rng(1)
    X, t = rng.standard_normal((5, 3)), rng.integers(0, 4, 5)

    def loss(W):
        z = X @ W
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(5), t]))

    W = rng.standard_normal((3, 4))
    p = np.exp(X @ W)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(5), t] -= 1
    np.testing.assert_allclose(numerical_gradient(loss, W), X.T @ p / 5, rtol=1e-7, atol=1e-10)


def test_errors():
    with pytest.raises(ValueError, match="scalar"):
        numerical_gradient(lambda a: a, np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        numerical_gradient(lambda a: np.nan, np.ones(2))
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(np.sum, np.ones(2), eps=0)
    with pytest.raises(ValueError, match="callable"):
        numerical_gradient(None, np.ones(2))
    assert "numerical_gradient" in numnet.__all__
