"""The book's training algorithm, one example at a time (Nielsen, ch.1 network.py), for benchmarks only.

This is a re-implementation of the *algorithm* of the book's first program, written for numnet's
benchmarks: it is deliberately the slow per-example form that numnet's vectorized engine replaces.

* column orientation: weights[l] has shape (n_out, n_in), biases[l] shape (n_out, 1), x a (n_in, 1) column;
* sigmoid neurons everywhere, quadratic cost C_x = ½‖y − a‖²;
* `backprop(x, y)` handles ONE example; a mini-batch sums the per-example nabla_b / nabla_w in Python
  loops and then steps w ← w − (η/m)·Σ nabla_w, b ← b − (η/m)·Σ nabla_b;
* float64 (as in the book) or float32, chosen by the dtype of the parameters given.

Inputs use numnet's convention (rows): X of shape (n, 784), Y_onehot of shape (n, 10); each example is
reshaped to a column inside the loop.
"""
from __future__ import annotations

import numpy as np

__all__ = ["init_params", "sigmoid", "sigmoid_prime", "feedforward", "backprop", "update_mini_batch",
           "train_epoch_per_example", "accuracy"]


def init_params(sizes, rng, dtype="float64"):
    """The book's initialization: every weight and bias drawn from N(0, 1). Returns (weights, biases)."""
    dt = np.dtype(dtype)
    biases = [rng.standard_normal((n, 1)).astype(dt) for n in sizes[1:]]
    weights = [rng.standard_normal((n_out, n_in)).astype(dt) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return weights, biases


def sigmoid(z):
    with np.errstate(over="ignore"):  # exp(-z) overflows to inf for very negative z: 1/(1+inf) = 0 is right
        return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1 - s)


def feedforward(weights, biases, a):
    """Output for one column a (n_in, 1), or for several columns side by side (n_in, k)."""
    for w, b in zip(weights, biases):
        a = sigmoid(w @ a + b)
    return a


def backprop(weights, biases, x, y):
    """(nabla_b, nabla_w): the gradient of C_x = ½‖y − a‖² for ONE example (x, y columns)."""
    # forward pass, remembering every weighted input z and activation a
    activation = x
    activations = [x]
    zs = []
    for w, b in zip(weights, biases):
        z = w @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    nabla_b = [None] * len(biases)
    nabla_w = [None] * len(weights)
    # output error δ^L = (a^L − y) ⊙ σ'(z^L)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = delta @ activations[-2].T
    # δ^l = ((w^(l+1))ᵀ δ^(l+1)) ⊙ σ'(z^l), going backwards
    for l in range(2, len(weights) + 1):
        delta = (weights[-l + 1].T @ delta) * sigmoid_prime(zs[-l])
        nabla_b[-l] = delta
        nabla_w[-l] = delta @ activations[-l - 1].T
    return nabla_b, nabla_w


def update_mini_batch(weights, biases, X, Y, eta):
    """One gradient step from the examples (rows of X, Y), summed one by one; parameters change in place."""
    sum_b = [np.zeros_like(b) for b in biases]
    sum_w = [np.zeros_like(w) for w in weights]
    for x_row, y_row in zip(X, Y):
        nb, nw = backprop(weights, biases, x_row.reshape(-1, 1), y_row.reshape(-1, 1))
        for acc, d in zip(sum_b, nb):
            acc += d
        for acc, d in zip(sum_w, nw):
            acc += d
    scale = eta / len(X)
    for w, dw in zip(weights, sum_w):
        w -= (scale * dw).astype(w.dtype, copy=False)
    for b, db in zip(biases, sum_b):
        b -= (scale * db).astype(b.dtype, copy=False)


def train_epoch_per_example(weights, biases, X, Y_onehot, batch_size, eta, rng):
    """One epoch of the book's stochastic gradient descent: shuffle, split into mini-batches of
    `batch_size`, and call `update_mini_batch` on each. X (n, n_in) and Y_onehot (n, n_out) are rows;
    weights/biases (lists from `init_params`) are updated in place and also returned."""
    X = np.asarray(X, dtype=weights[0].dtype)
    Y = np.asarray(Y_onehot, dtype=weights[0].dtype)
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} examples but Y_onehot has {len(Y)}")
    perm = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        idx = perm[start:start + batch_size]
        update_mini_batch(weights, biases, X[idx], Y[idx], eta)
    return weights, biases


def accuracy(weights, biases, X, y) -> float:
    """Fraction of rows of X whose largest output is the label y (evaluated all at once)."""
    out = feedforward(weights, biases, np.asarray(X, dtype=weights[0].dtype).T)
    return float(np.mean(out.argmax(axis=0) == np.asarray(y)))
