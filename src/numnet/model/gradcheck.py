"""Two-sided numerical gradient checking of any network, in float64.

For each checked parameter entry θ_i:  ĝ_i = (C(θ + ε e_i) − C(θ − ε e_i)) / 2ε, compared with the
backpropagated g_i by the relative error ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) over the entries of each parameter array.
Correct backpropagation gives about 1e-9 or less in float64; an error gives 1e-3 or more.
A gradient that is truly zero (a Dense bias feeding a BatchNorm) makes that ratio meaningless (noise over
noise, about 1): when both norms are below the floor 1e-7·max(1, |C|), the absolute error ‖g − ĝ‖ / max(1, |C|)
is reported instead, and the array is listed in `absolute`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .network import Network


@dataclass
class GradCheckResult:
    """`max_error` is the worst error; `errors` maps "layer_index.name" to that array's error (relative, or
    absolute for the arrays named in `absolute`, whose gradients are both below the zero floor)."""

    max_error: float
    errors: dict
    checked: int
    absolute: tuple = field(default=())

    def __float__(self):
        return self.max_error

    def passed(self, tol=1e-7) -> bool:
        return self.max_error < tol


def relative_error(g, g_hat) -> float:
    """‖g − ĝ‖ / (‖g‖ + ‖ĝ‖), 0 when both are zero."""
    g, g_hat = np.ravel(g), np.ravel(g_hat)
    denom = np.linalg.norm(g) + np.linalg.norm(g_hat)
    return 0.0 if denom == 0 else float(np.linalg.norm(g - g_hat) / denom)


#: gradients whose norms are both below ZERO_FLOOR·max(1, |C|) count as zero: compared by absolute error
ZERO_FLOOR = 1e-7


def gradient_error(g, g_hat, scale=1.0, floor=ZERO_FLOOR) -> tuple[float, bool]:
    """(error, absolute): ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖), or ‖g − ĝ‖ / scale when both norms are below floor·scale."""
    g, g_hat = np.ravel(g), np.ravel(g_hat)
    if max(np.linalg.norm(g), np.linalg.norm(g_hat)) < floor * scale:
        return float(np.linalg.norm(g - g_hat) / scale), True
    return relative_error(g, g_hat), False


def two_sided(flat, indices, value, eps) -> np.ndarray:
    """(value() at flat[i] + ε − value() at flat[i] − ε) / 2ε for each i, moving one entry of `flat` at a time
    and putting it back."""
    out = np.empty(len(indices))
    for j, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + eps
        plus = value()
        flat[i] = old - eps
        minus = value()
        flat[i] = old
        out[j] = (plus - minus) / (2 * eps)
    return out


def numerical_gradient(f, x, eps=1e-5) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + ε e_i) − f(x − ε e_i)) / 2ε for a scalar function f of an array, computed in float64:
    f receives a float64 copy of x with one entry moved (x itself is never changed)."""
    if not callable(f):
        raise ValueError("numerical_gradient needs a callable f(x) -> scalar")
    if not (isinstance(eps, float) and 0 < eps < 1):
        raise ValueError(f"eps must be a float in (0, 1), got {eps!r}")
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)  # views of x and grad

    def value():
        v = f(x)
        if np.ndim(v) != 0 or not np.isfinite(v):
            raise ValueError(f"f must return a finite scalar, got {v!r}")
        return float(v)

    g[:] = two_sided(flat, range(flat.size), value, eps)
    return grad


def gradcheck(net: Network, X, y, eps=1e-5, l2=0.0, n_train=None, max_checks=50, seed=0,
              training=True) -> GradCheckResult:
    """Compare backpropagation with two-sided finite differences on a float64 copy of `net`.

    At most `max_checks` entries per parameter array are checked (chosen at random, seeded), so big layers
    stay cheap. Stochastic layers (dropout) draw one fixed mask (from `seed`) for the whole check; `training=True` checks
    the training-mode function (batch norm with batch statistics).
    """
    if not isinstance(net, Network):
        raise ValueError("gradcheck needs a numnet Network")
    if not (isinstance(eps, float) and 0 < eps < 1):
        raise ValueError(f"eps must be a float in (0, 1), got {eps!r}")
    if not isinstance(max_checks, int) or max_checks < 1:
        raise ValueError(f"max_checks must be a positive integer, got {max_checks!r}")
    net64 = net.astype("float64")
    X = net64.prepare_inputs(X)

    def cost():  # a fresh generator with the same seed: stochastic layers draw the same mask every time
        return net64.loss_and_grads(X, y, l2=l2, n_train=n_train, training=training, rng=np.random.default_rng(seed))[0]

    c, grads = net64.loss_and_grads(X, y, l2=l2, n_train=n_train, training=training, rng=np.random.default_rng(seed))
    scale = max(1.0, abs(c))
    analytic = [(layer, k, grads[i][k].copy()) for i, layer in enumerate(net64.layers) if layer.trainable
                for k in layer.params]
    rng = np.random.default_rng(seed)
    errors, absolute, checked = {}, [], 0
    for layer, k, g in analytic:
        p = layer.params[k]
        flat = p.reshape(-1)
        idx = np.arange(flat.size) if flat.size <= max_checks else rng.choice(flat.size, max_checks, replace=False)
        num = two_sided(flat, idx, cost, eps)
        key = f"{net64.layers.index(layer)}.{k}"
        errors[key], is_abs = gradient_error(g.reshape(-1)[idx], num, scale)
        if is_abs:
            absolute.append(key)
        checked += len(idx)
    return GradCheckResult(max(errors.values()) if errors else 0.0, errors, checked, tuple(absolute))


def gradcheck_combinations(sizes=(6, 5, 4, 3), examples=8, seed=0) -> list[tuple[str, float]]:
    """(description, max relative error) for every registered hidden activation with every cost and each of
    the outputs it is used with, plus dropout + L2, batch norm, maxout and the convolutional layers
    (`conv_combinations`): what `numnet gradcheck` prints."""
    from ..nn.costs import COSTS
    from ..nn.layers import ACTIVATIONS

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((examples, sizes[0]))
    y = rng.integers(0, sizes[-1], examples)
    rows = []
    hidden = [name for name, cls in ACTIVATIONS.items() if cls.hidden]
    for a in hidden:
        for c, cost in COSTS.items():
            for o in cost.outputs:
                net = Network.from_sizes(list(sizes), activation=a, output=o, cost=c, seed=seed)
                rows.append((f"{a} hidden, {o} output, {c}", gradcheck(net, X, y, seed=seed).max_error))
    for label, kw in (("relu + dropout 0.8 + L2", {"activation": "relu", "keep_prob": 0.8}),
                      ("relu + batch norm", {"activation": "relu", "batch_norm": True}),
                      ("maxout (3 pieces)", {"activation": "maxout", "pieces": 3})):
        net = Network.from_sizes(list(sizes), cost="log_likelihood", seed=seed, **kw)
        rows.append((label, gradcheck(net, X, y, l2=0.5, n_train=100, seed=seed).max_error))
    return rows + conv_combinations(examples, sizes[-1], seed)


#: small convolutional networks `numnet gradcheck` checks on 2×6×6 inputs (layer lists: see model/layerspec.py)
CONV_CHECKS = (("conv + relu + max pool + dropout", "conv 3 3, pool 2, dropout 0.8, dense {k}", "relu"),
               ("conv (stride 2, padding 1) + sigmoid + avg pool", "conv 3 3 stride=2 padding=1, avgpool 2, dense {k}",
                "sigmoid"),
               ("two conv + batch norm 2d + overlapping max pool", "conv 3 3 bn, pool 2 stride=1, conv 2 2, dense {k}",
                "tanh"))


def conv_combinations(examples=8, classes=3, seed=0) -> list[tuple[str, float]]:
    """(description, max relative error) for the convolution, pooling and per-channel batch-norm layers."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((examples, 2, 6, 6))
    y = rng.integers(0, classes, examples)
    rows = []
    for label, spec, activation in CONV_CHECKS:
        net = Network.from_layers(spec.format(k=classes), (2, 6, 6), activation=activation, seed=seed,
                                  dtype="float64")
        rows.append((label, gradcheck(net, X, y, l2=0.5, n_train=100, seed=seed).max_error))
    return rows
