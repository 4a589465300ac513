"""The feed-forward network: a list of layers and a cost, vectorized over the mini-batch.

    a^0 = X;  a^l = layer_l(a^(l−1));  C = cost(a^L, Y)
Backpropagation runs the layers in reverse, one matrix product per Dense layer per pass.

This is the public model interface the trainer, gradcheck and the book API use: `prepare_inputs`,
`prepare_targets`, `forward_pass`, `backprop` (the one place where L2 enters the gradient), `measure`,
`parameters` / `trainable_parameters`, `architecture` / `arrays` / `from_architecture`.

Devices: a network lives on the CPU (NumPy) or, after `to("cuda")`, on a GPU (CuPy); its passes compute with
the array module of its arrays. `prepare_inputs` / `prepare_targets` check data on the host and place it on
the network's device (once per call: `fit` moves the whole training set once). Files always hold host arrays.
"""
from __future__ import annotations

import math
from collections import namedtuple
from functools import partial
from operator import attrgetter
from pathlib import Path

import numpy as np

from ..nn.costs import COSTS, make_cost
from ..nn.layers import LAYERS, BatchNorm, Dense, Dropout, Layer, hidden_unit, make_activation
from ..nn.standardize import Standardize
from ..train.checkpoints import Checkpoint, load_checkpoint as read_checkpoint
from ..train.loop import fit
from ..utils.archive import declared_shape, read_archive, write_archive
from ..utils.backend import CPU, array_module, device_of, to_device, to_host
from ..utils.checks import float_dtype, is_int, positive_int

FORMAT = "numnet-model"
FORMAT_VERSION = 1
DTYPES = ("float32", "float64")
_PLAIN_BACKWARD = attrgetter("backward")  # backward_pass without fused SGD: each layer's own backward
#: constructor arguments a model file may not set (they are not part of a layer's description)
_NOT_FROM_FILES = ("rng", "seed", "dtype")
#: elements a layer described in a file may declare beyond the arrays stored for it (its integer fields
#: multiplied: a Dense layer's n_in·n_out); more is refused before the layer allocates anything
MAX_UNSTORED_ELEMENTS = 10**6

Evaluation = namedtuple("Evaluation", ["cost", "accuracy"])
#: np.errstate settings around training passes: saturated units overflow exp() harmlessly, and a cost that is
#: not finite is reported as divergence rather than warned about
QUIET = {"over": "ignore", "under": "ignore", "invalid": "ignore"}
RegressionEvaluation = namedtuple("RegressionEvaluation", ["cost", "mse", "r2"])


def check_dtype(dtype) -> np.dtype:
    """float32 (default compute type) or float64 (gradient checks); anything else is an error."""
    if dtype is None:
        raise ValueError("dtype must be 'float32' or 'float64', got None")
    try:
        return float_dtype(dtype)
    except ValueError:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None


class Network:
    """A feed-forward network. `Network([Dense(784, 30), Sigmoid(), Dense(30, 10), Sigmoid()], "cross_entropy")`."""

    def __init__(self, layers, cost="cross_entropy"):
        layers = list(layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layer {i} is {type(layer).__name__}, not a numnet Layer")
        sized = [l for l in layers if l.input_size is not None]
        with_params = [l for l in layers if l.params]
        if not sized or not with_params:
            raise ValueError("a network needs at least one layer with parameters and a known input size "
                             "(e.g. a Dense layer)")
        self.layers = layers
        self.cost = make_cost(cost)
        self.dtype = next(iter(with_params[0].params.values())).dtype
        width = self.n_in = sized[0].input_size
        for layer in layers:
            width = layer.output_size(width)
            for k, v in layer.params.items():
                if v.dtype != self.dtype:
                    raise ValueError(f"all parameters must share one dtype: {layer!r}.{k} is {v.dtype}, "
                                     f"the first layer with parameters is {self.dtype}")
        self.n_out = width

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_sizes(cls, sizes, activation="sigmoid", output=None, cost="cross_entropy", init="default", seed=None,
                   dtype="float32", keep_prob=None, batch_norm=False, pieces=None, bias_init=None):
        """The book's style: `Network.from_sizes([784, 30, 10])`.

        `activation` is used by the hidden layers; `output` is the output activation (None: the cost's usual
        output, softmax for log-likelihood, sigmoid otherwise). `keep_prob` adds inverted dropout after each
        hidden layer (one value, or one per hidden layer); `batch_norm` puts BatchNorm between each hidden
        Dense and its activation. activation="maxout" makes each hidden layer a Maxout of `pieces` pieces
        (default 2) in place of Dense + activation. `init` is an initializer name or {"name": ..., **options}
        (`{"name": "normal", "std": 0.01}`); `bias_init` sets every bias to that constant.
        """
        given = sizes
        try:
            sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else None
        except TypeError:  # not iterable (None, a bare int): report it as bad sizes below
            sizes = None
        if sizes is None or len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output size, got {given!r}")
        for s in sizes:
            try:
                positive_int(s, "sizes")
            except ValueError:
                raise ValueError(f"sizes must be positive integers, got {sizes!r}") from None
        dt = check_dtype(dtype)
        cost = make_cost(cost)
        if output is None:
            output = cost.outputs[0]
        unit = hidden_unit(activation)
        if unit is None:
            make_activation(activation)  # validate the name before drawing weights
            if pieces is not None:
                raise ValueError(f"pieces applies to maxout hidden layers only, not to activation {activation!r}")
        elif batch_norm:
            raise ValueError(f"batch_norm normalises a Dense layer's output before its activation; "
                             f"{activation} hidden layers have none (drop batch_norm)")
        make_activation(output)
        n_hidden = len(sizes) - 2
        if keep_prob is None:
            keeps = [1.0] * n_hidden
        elif np.ndim(keep_prob) == 0:
            keeps = [keep_prob] * n_hidden
        else:
            keeps = list(keep_prob)
            if len(keeps) != n_hidden:
                raise ValueError(f"keep_prob lists {len(keeps)} values but the network has {n_hidden} hidden layers")
        rng = np.random.default_rng(seed)
        layers: list[Layer] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            hidden = i < n_hidden
            if hidden and unit is not None:
                layers.append(unit(n_in, n_out, init=init, bias_init=bias_init, rng=rng, dtype=dt,
                                   **({} if pieces is None else {"pieces": pieces})))
            else:
                bias = not (hidden and batch_norm)
                layers.append(Dense(n_in, n_out, init=init, rng=rng, dtype=dt, bias=bias,
                                    bias_init=bias_init if bias else None))
            if hidden:
                if batch_norm:
                    layers.append(BatchNorm(n_out, dtype=dt))
                if unit is None:
                    layers.append(make_activation(activation))
                if keeps[i] != 1.0 or keep_prob is not None:
                    drop = Dropout(keeps[i])
                    if drop.keep_prob != 1.0:
                        layers.append(drop)
            else:
                layers.append(make_activation(output))
        return cls(layers, cost)

    def standardize(self, X) -> "Network":
        """Fit input standardization x̂ = (x − μ)/σ on X (the training data only): refits the first layer when it
        is a Standardize, else inserts one; saved with the model, so evaluate and predict apply it."""
        X = to_host(self.prepare_inputs(X, "standardize X"))
        if isinstance(self.layers[0], Standardize):
            self.layers[0].fit(X)
        else:
            layer = Standardize(self.n_in, dtype=self.dtype).fit(X)
            layer.buffers = {k: to_device(v, self.device) for k, v in layer.buffers.items()}
            self.layers.insert(0, layer)
        return self

    @property
    def sizes(self) -> list[int]:
        """Widths [n_in, ..., n_out]: the input, then the output of every width-changing layer (Dense)."""
        widths, width = [self.n_in], self.n_in
        for layer in self.layers:
            width = layer.output_size(width)
            if layer.changes_width:
                widths.append(width)
        return widths

    def parameters(self) -> list[tuple[Layer, str]]:
        """(layer, name) for every parameter, in a fixed order (optimizer state and checkpoints use it)."""
        return [(layer, k) for layer in self.layers for k in layer.params]

    def trainable_parameters(self, unfused=False) -> list[tuple[Layer, str]]:
        """(layer, name) for the parameters of trainable layers: what an optimizer updates. unfused: only those
        of layers without a fused SGD step (`fuses_sgd`), which `backprop(..., sgd_rate=α)` updates itself."""
        return [(layer, k) for layer in self.layers if layer.trainable and not (unfused and layer.fuses_sgd)
                for k in layer.params]

    def param_arrays(self, trainable=False, unfused=False):
        return [layer.params[k] for layer, k in (self.trainable_parameters(unfused) if trainable else self.parameters())]

    def grad_arrays(self, trainable=False, unfused=False):
        return [layer.grads[k] for layer, k in (self.trainable_parameters(unfused) if trainable else self.parameters())]

    def freeze(self, k: int) -> "Network":
        """Freeze the layers holding the first k parameterised layers' parameters (transfer learning): their
        parameters are never updated and their gradients not computed. freeze(0) unfreezes every layer."""
        k = int(k)
        owners = [layer for layer in self.layers if layer.params]
        if not 0 <= k <= len(owners):
            raise ValueError(f"cannot freeze {k} layers: the network has {len(owners)} layers with parameters")
        for i, layer in enumerate(owners):
            layer.trainable = i >= k
        return self

    @property
    def n_params(self) -> int:
        return int(sum(p.size for p in self.param_arrays()))

    def __repr__(self):
        inner = ",\n    ".join(repr(l) for l in self.layers)
        return f"Network([\n    {inner}\n], cost={self.cost.name!r}, dtype={self.dtype.name!r})"

    # ------------------------------------------------------------------ devices
    @property
    def device(self) -> str:
        """Where the parameters live: "cpu" (NumPy) or "cuda" (CuPy)."""
        return device_of(self.param_arrays()[0])

    def to(self, device) -> "Network":
        """Move every parameter, gradient and buffer (batch-norm statistics, standardization) to `device`
        ("cpu" or "cuda"; "cuda" needs CuPy and a GPU) and return the network. An optimizer keeps state per
        parameter array, so move the network before training, not between steps of one optimizer."""
        for layer in self.layers:
            for store in (layer.params, layer.grads, layer.buffers):
                for k, v in store.items():
                    store[k] = to_device(v, device)
        return self

    def _placed(self, a):
        """A host array on the network's device."""
        device = self.device
        return a if device == CPU else to_device(a, device)

    # ------------------------------------------------------------------ input checks
    def prepare_inputs(self, X, what="X"):
        """X as a C-contiguous array of the network's dtype, shape (n, n_in), finite, on the network's device;
        else a clear error. Checked on the host (an array on a device is copied there first)."""
        X = to_host(X)
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"{what} must be a numeric array, got dtype {X.dtype}")
        if np.issubdtype(X.dtype, np.complexfloating):
            raise ValueError(f"{what} must be real, got dtype {X.dtype}")
        if X.ndim == 1 and X.shape[0] == self.n_in:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise ValueError(f"{what} must have shape (n, {self.n_in}), got {X.shape}")
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if not np.isfinite(X).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        return self._placed(X)

    @property
    def regression(self) -> bool:
        """True when targets may be any real numbers: a cost declaring `real_targets` (quadratic) on an output
        layer declaring `unbounded_output` (identity)."""
        return self.cost.real_targets and self.layers[-1].unbounded_output

    def prepare_targets(self, y, n, what="y"):
        """(Y, labels), both on the network's device: see `_targets`."""
        Y, labels = self._targets(to_host(y), n, what)
        return self._placed(Y), (None if labels is None else self._placed(labels))

    def _targets(self, y, n, what):
        """(Y, labels) on the host: targets shaped like the output (class indices (n,) become one-hot, or a 0/1 column for
        one unit) and the class labels where they exist (None for multi-label, soft or real-valued targets).
        A regression network (see `regression`) takes any finite real targets, (n, n_out) or (n,) for one output."""
        y = np.asarray(y)
        if y.dtype == object:
            raise ValueError(f"{what} must be a numeric array, got dtype object")
        if y.shape[0:1] != (n,):
            raise ValueError(f"{what} has {y.shape[0] if y.ndim else 0} entries but X has {n} examples")
        K = self.n_out
        regression = self.regression
        if regression and y.ndim == 1 and K == 1 and np.issubdtype(y.dtype, np.number):
            if not np.isfinite(y).all():
                raise ValueError(f"{what} contains NaN or infinite values")
            if not np.all((y == 0) | (y == 1)):  # real values: a column of targets (0/1 stay binary labels)
                return np.ascontiguousarray(y.reshape(-1, 1), dtype=self.dtype), None
        if y.ndim == 1:
            if np.issubdtype(y.dtype, np.floating):
                if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                    raise ValueError(f"{what} must hold integer class indices, got non-integer values")
            elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
                raise ValueError(f"{what} must hold integer class indices, got dtype {y.dtype}")
            classes = 2 if K == 1 else K
            if n and (y.min() < 0 or y.max() >= classes):
                raise ValueError(f"{what} has labels outside [0, {classes}): found {y.min()}..{y.max()}")
            labels = y.astype(np.int64)
            if K == 1:
                return labels.reshape(-1, 1).astype(self.dtype), labels
            Y = np.zeros((n, K), dtype=self.dtype)
            Y[np.arange(n), labels] = 1
            return Y, labels
        if y.ndim == 2 and y.shape[1] == K:
            if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
                raise ValueError(f"{what} must be numeric, got dtype {y.dtype}")
            Y = np.ascontiguousarray(y, dtype=self.dtype)
            missing = np.isnan(Y)
            if np.isinf(Y).any():
                raise ValueError(f"{what} contains NaN or infinite values (an infinite target)")
            if missing.any():
                if not self.cost.allows_missing:
                    raise ValueError(f"{what} contains NaN or infinite values: the {self.cost.name} cost cannot skip "
                                     f"missing (NaN) targets (cross_entropy with sigmoid outputs can)")
                if n and missing.all():
                    raise ValueError(f"{what}: every label is missing; nothing to learn from")
            if n and not regression and (np.nanmin(Y) < 0 or np.nanmax(Y) > 1):
                raise ValueError(f"{what} targets must lie in [0, 1] (one-hot, multi-label 0/1 or probabilities); "
                                 f"real-valued targets need an identity output and the quadratic cost")
            if missing.any():
                return Y, None
            one_hot = K > 1 and bool(np.all((Y == 0) | (Y == 1))) and bool(np.all(Y.sum(axis=1) == 1))
            return Y, (Y.argmax(axis=1) if one_hot else None)
        raise ValueError(f"{what} must be class indices of shape ({n},) or targets of shape ({n}, {K}), got {y.shape}")

    # ------------------------------------------------------------------ passes (inputs already prepared)
    def forward_pass(self, X, training=False, rng=None):
        """(a, z): the output and, when the cost computes from them, the logits (the output layer's input).
        `rng` feeds stochastic layers (dropout) in training."""
        a = X
        for layer in self.layers[:-1]:
            a = layer.forward(a, training, rng)
        z = a
        a = self.layers[-1].forward(z, training, rng)
        return a, (z if self.cost.fuses(self.layers[-1]) else None)

    def backward_pass(self, a, Y, sgd_rate=None, l2_scale=0.0):
        """Fill the grads of every trainable layer for the mean cost over the batch; stops at the lowest
        trainable layer, which is not asked for its input gradient. With `sgd_rate` α, trainable layers that
        fuse SGD (`fuses_sgd`) take their step W ← (1 − α·l2_scale)·W − α·dW instead (`backward_sgd`)."""
        def fused(layer):
            """The layer's backward: its fused SGD step where it has one, else the plain one."""
            if not (layer.fuses_sgd and layer.trainable):
                return layer.backward
            return partial(layer.backward_sgd, lr=sgd_rate, l2_scale=l2_scale if layer.decay else 0.0)

        back = _PLAIN_BACKWARD if sgd_rate is None else fused
        layers = self.layers
        lowest = len(layers)
        for i, layer in enumerate(layers):
            if layer.params and layer.trainable:
                lowest = i
                break
        last = layers[-1]
        if self.cost.fuses(last):
            delta = self.cost.delta(a, Y)  # δ^L = (a − y)/n for (sigmoid, cross-entropy), (softmax, log-likelihood)
        elif lowest == len(layers) - 1:
            back(last)(self.cost.grad(a, Y), need_dx=False)
            return
        else:
            delta = back(last)(self.cost.grad(a, Y))
        for i in range(len(layers) - 2, lowest, -1):
            delta = back(layers[i])(delta)
        if lowest < len(layers) - 1:
            back(layers[lowest])(delta, need_dx=False)

    def backprop(self, X, Y, training=True, rng=None, l2=0.0, n_train=None, sgd_rate=None) -> float:
        """One forward and backward pass on prepared inputs: returns the batch's mean cost (without the L2
        term) and leaves ∂C/∂θ in every trainable layer's grads, with L2's (λ/n)·W added to the decayed
        weights (n the training-set size): the one place where L2 enters a gradient. A cost that is not
        finite is returned at once, the gradients left as they were (the trainer stops on it).
        sgd_rate α (an optimizer's `fused_rate`): layers that fuse SGD step their own parameters during the
        pass, L2 folded in as W ← (1 − αλ/n)·W − α·dW, and leave their weight grads unfilled; the rest as above."""
        # the hot path: callers silence overflow and NaN warnings around it (QUIET, once per epoch in the
        # trainer): a cost that is not finite is the signal
        a, z = self.forward_pass(X, training, rng)
        cost = self.cost.value(a, Y, z)
        if isinstance(cost, float) and not math.isfinite(cost):  # on a device: checked later, without waiting
            return cost
        scale = l2 / (n_train or len(X)) if l2 else 0.0
        self.backward_pass(a, Y, sgd_rate, scale)
        if l2:
            for layer in self.layers:
                if layer.trainable and not (sgd_rate is not None and layer.fuses_sgd):
                    for k in layer.decay:
                        layer.grads[k] += scale * layer.params[k]
        return cost

    def forward(self, X, training=False, rng=None):
        """Network output for X of shape (n, n_in) (a single example of shape (n_in,) is accepted)."""
        X = self.prepare_inputs(X)
        with np.errstate(over="ignore", under="ignore"):
            return self.forward_pass(X, training, rng)[0]

    def predict_proba(self, X, batch_size=10000):
        """Output activations, computed in chunks to bound memory."""
        X = self.prepare_inputs(X)
        with np.errstate(over="ignore", under="ignore"):
            xp = array_module(X)
            return xp.concatenate([self.forward_pass(X[i:i + batch_size])[0] for i in range(0, len(X), batch_size)]
                                  or [xp.zeros((0, self.n_out), self.dtype)])

    def predict(self, X, batch_size=10000):
        """Class indices: argmax of the outputs, or output > 0.5 for a single output unit (on the network's
        device, as predict_proba and forward)."""
        a = self.predict_proba(X, batch_size)
        if self.n_out == 1:
            return (a[:, 0] > 0.5).astype(np.int64)
        return a.argmax(axis=1)

    def l2_penalty(self, l2, n_train) -> float:
        """(λ / 2n) Σ w² over the weights (never biases), n the training-set size."""
        if not l2:
            return 0.0
        return 0.5 * l2 / n_train * sum(float(array_module(layer.params[k]).vdot(layer.params[k], layer.params[k]))
                                        for layer in self.layers for k in layer.decay)

    def measure(self, X, Y, labels, batch_size=10000):
        """(total cost, number correct) over prepared (X, Y), in chunks; `labels` from `prepare_targets`. Host
        numbers on either device (a device reads its sums once per chunk)."""
        total, correct = 0.0, 0
        with np.errstate(over="ignore", under="ignore"):
            for i in range(0, len(X), batch_size):
                a, z = self.forward_pass(X[i:i + batch_size])
                Yb = Y[i:i + batch_size]
                total += self.cost.value(a, Yb, z) * len(a)
                correct += self._n_correct(a, Yb, None if labels is None else labels[i:i + batch_size])
        return float(total), correct

    def _n_correct(self, a, Y, labels):
        xp = array_module(a)
        if self.n_out == 1:
            return int(xp.sum((a[:, 0] > 0.5) == (Y[:, 0] > 0.5)))
        if labels is not None:
            return int(xp.sum(a.argmax(axis=1) == labels))
        # multi-label targets: fraction of units on the right side of 0.5, counted in examples; with missing
        # targets, the fraction of the labelled entries that are right (counted in examples)
        right = (a > 0.5) == (Y > 0.5)
        labelled = ~xp.isnan(Y)
        if not labelled.all():
            return float(xp.sum(right & labelled) / max(int(labelled.sum()), 1) * len(a))
        return float(xp.mean(right, axis=1).sum())

    def task_accuracy(self, X, y, batch_size=10000) -> np.ndarray:
        """Multi-task accuracy: for each output unit (a yes/no task), the fraction of its labelled examples on the
        right side of 0.5 (NaN for a task with no labelled example)."""
        X = self.prepare_inputs(X)
        Y, _ = self.prepare_targets(y, len(X))
        if Y.shape[1] != self.n_out or (self.n_out > 1 and np.ndim(y) == 1):
            raise ValueError("task accuracy needs targets of shape (n, n_out), one column per task")
        xp = array_module(X)
        right = xp.zeros(self.n_out)
        count = xp.zeros(self.n_out)
        for i in range(0, len(X), batch_size):
            a = self.predict_proba(X[i:i + batch_size])
            Yb = Y[i:i + batch_size]
            labelled = ~xp.isnan(Yb)
            right += xp.sum(((a > 0.5) == (Yb > 0.5)) & labelled, axis=0)
            count += labelled.sum(axis=0)
        right, count = to_host(right), to_host(count)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, right / np.maximum(count, 1), np.nan)

    def evaluate(self, X, y, l2=0.0, n_train=None, batch_size=10000) -> Evaluation:
        """(cost, accuracy) on (X, y): the mean cost (plus the L2 term when l2 > 0) and the fraction correct."""
        X = self.prepare_inputs(X)
        Y, labels = self.prepare_targets(y, len(X))
        if len(X) == 0:
            raise ValueError("cannot evaluate on an empty data set")
        total, correct = self.measure(X, Y, labels, batch_size)
        cost = total / len(X) + self.l2_penalty(l2, n_train or len(X))
        return Evaluation(cost, correct / len(X))

    def evaluate_regression(self, X, y, batch_size=10000) -> RegressionEvaluation:
        """(cost, mse, r2) on real-valued targets: MSE = mean (a − y)² over every output, R² = 1 − SS_res/SS_tot
        per output (1 if perfect, else 0, where the targets are constant), averaged over the outputs."""
        X = self.prepare_inputs(X)
        Y, _ = self.prepare_targets(y, len(X))
        if len(X) == 0:
            raise ValueError("cannot evaluate on an empty data set")
        A = to_host(self.predict_proba(X, batch_size)).astype(np.float64)
        Y = to_host(Y).astype(np.float64)
        ss_res = ((A - Y) ** 2).sum(axis=0)
        ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), (ss_res == 0).astype(float))
        cost = self.cost.value(A, Y)
        return RegressionEvaluation(float(cost), float(ss_res.sum() / Y.size), float(r2.mean()))

    def accuracy(self, X, y) -> float:
        return self.evaluate(X, y).accuracy

    score = accuracy

    def loss_and_grads(self, X, y, l2=0.0, n_train=None, training=True, rng=None) -> float:
        """Cost of one batch (with the L2 term) and every gradient filled in `layer.grads` (inputs checked)."""
        X = self.prepare_inputs(X)
        Y, _ = self.prepare_targets(y, len(X))
        with np.errstate(**QUIET):
            cost = self.backprop(X, Y, training, rng, l2, n_train)
        return cost + self.l2_penalty(l2, n_train or len(X))

    def fit(self, X, y, epochs, batch_size=10, optimizer=None, l2=0.0, validation_data=None, seed=None,
            verbose=None, callbacks=(), **options):
        """Train by mini-batch gradient descent; returns the History. See `numnet.train.fit`."""
        return fit(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, l2=l2,
                   validation_data=validation_data, seed=seed, verbose=verbose, callbacks=callbacks, **options)

    # ------------------------------------------------------------------ copies and dtype
    def astype(self, dtype) -> "Network":
        """A copy computing in `dtype` ("float32" or "float64")."""
        net = self.copy()
        dt = check_dtype(dtype)
        for layer in net.layers:
            layer.set_dtype(dt)
        net.dtype = dt
        return net

    def copy(self) -> "Network":
        """An independent copy with the same weights (built from the architecture, not by pickling), on the
        same device."""
        net = type(self).from_architecture(self.architecture(), {k: to_host(v) for k, v in self.arrays().items()})
        return net if self.device == CPU else net.to(self.device)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.arrays().items()}

    def set_weights(self, arrays) -> None:
        """Copy arrays (as from `get_weights`) into the parameters in place."""
        for key, target in self.arrays().items():
            if key not in arrays:
                raise ValueError(f"weights lack array {key!r}")
            src = to_device(arrays[key], device_of(target))
            if src.shape != target.shape:
                raise ValueError(f"array {key!r} has shape {src.shape}, expected {target.shape}")
            target[...] = src

    # ------------------------------------------------------------------ save / load
    def architecture(self) -> dict:
        """The JSON description of the network (format, version, dtype, cost, layers)."""
        specs = []
        for layer in self.layers:
            spec = {"type": layer.name, **layer.config()}
            if not layer.trainable:
                spec["trainable"] = False
            specs.append(spec)
        return {"format": FORMAT, "version": FORMAT_VERSION, "dtype": self.dtype.name, "cost": self.cost.name,
                "layers": specs}

    def arrays(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer, named "<layer index>.<name>" (the arrays of a model file)."""
        out = {}
        for i, layer in enumerate(self.layers):
            for k, v in {**layer.params, **layer.buffers}.items():
                out[f"{i}.{k}"] = v
        return out

    def summary(self) -> str:
        """Keras-style table: each layer's output shape and parameter count, and the totals."""
        from .summary import summary

        return summary(self)

    def save(self, path, meta=None) -> Path:
        """Write the model: an NPZ archive of the arrays plus `__meta__`, the architecture as UTF-8 JSON.
        Written atomically, from either device (files hold host arrays: load, then `.to("cuda")`); loads with
        `numnet.load` and never uses pickle. `meta`: extra JSON fields stored beside the architecture (e.g.
        {"training": ...}; loading ignores them; they may not replace an architecture field)."""
        arch = self.architecture()
        if meta and set(meta) & set(arch):
            raise ValueError(f"meta may not replace the architecture's fields {sorted(set(meta) & set(arch))}")
        return write_archive(path, {**arch, **(meta or {})}, self.arrays())

    @classmethod
    def from_architecture(cls, arch: dict, arrays: dict, source="model") -> "Network":
        """Build a network from an architecture dict and its arrays, validating every field; layer and cost
        names resolve only through the registries, and only a layer's documented fields are accepted."""
        if not isinstance(arch, dict):
            raise ValueError(f"{source}: architecture must be a JSON object")
        if arch.get("format") != FORMAT:
            raise ValueError(f"{source}: not a numnet model (field 'format' is {arch.get('format')!r})")
        if arch.get("version") != FORMAT_VERSION:
            raise ValueError(f"{source}: unsupported model format version {arch.get('version')!r} "
                             f"(this numnet reads version {FORMAT_VERSION})")
        for field in ("dtype", "cost", "layers"):
            if field not in arch:
                raise ValueError(f"{source}: missing field {field!r}")
        try:
            dt = check_dtype(arch["dtype"])
        except ValueError as e:
            raise ValueError(f"{source}: field 'dtype': {e}") from None
        if not isinstance(arch["cost"], str) or arch["cost"] not in COSTS:
            raise ValueError(f"{source}: unknown cost {arch['cost']!r}; known: {', '.join(sorted(COSTS.names()))}")
        specs = arch["layers"]
        if not isinstance(specs, list) or not specs:
            raise ValueError(f"{source}: field 'layers' must be a non-empty list")
        layers = []
        for i, spec in enumerate(specs):
            layers.append(_layer_from_spec(spec, i, dt, arrays, source))
        expected = {f"{i}.{k}" for i, layer in enumerate(layers) for k in (*layer.params, *layer.buffers)}
        extra = sorted(set(arrays) - expected)
        if extra:
            raise ValueError(f"{source}: unexpected array(s) {', '.join(repr(k[:60]) for k in extra[:5])}"
                             f"{' ...' if len(extra) > 5 else ''}: the layers described hold only "
                             f"{', '.join(sorted(expected)) or 'none'}")
        try:
            return cls(layers, arch["cost"])
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


def _layer_from_spec(spec, i, dt, arrays, source) -> Layer:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"{source}: layer {i} lacks field 'type'")
    kind = spec["type"]
    if not isinstance(kind, str) or kind not in LAYERS.names():
        raise ValueError(f"{source}: layer {i} has unknown type {kind!r}; known: {', '.join(sorted(LAYERS.names()))}")
    params = LAYERS.params(kind)
    kwargs = {k: v for k, v in spec.items() if k not in ("type", "trainable")}
    bad = sorted(k for k in kwargs if k not in params or k in _NOT_FROM_FILES)
    if bad:
        allowed = [p for p in params if p not in _NOT_FROM_FILES]
        raise ValueError(f"{source}: layer {i} ({kind}) has unknown field(s) {', '.join(map(repr, bad))}; "
                         f"allowed: {', '.join(allowed) or 'none'}")
    _check_declared_size(kwargs, i, kind, arrays, source)
    if "dtype" in params:
        kwargs["dtype"] = dt
    try:
        layer = LAYERS.get(kind)(**kwargs)
    except TypeError as e:
        raise ValueError(f"{source}: layer {i} ({kind}) has bad fields: {e}") from None
    except ValueError as e:
        raise ValueError(f"{source}: layer {i} ({kind}): {e}") from None
    trainable = spec.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ValueError(f"{source}: layer {i} ({kind}): field 'trainable' must be true or false")
    layer.trainable = trainable
    for store in (layer.params, layer.buffers):
        for k, target in store.items():
            key = f"{i}.{k}"
            if key not in arrays:
                raise ValueError(f"{source}: missing array {key!r}")
            shape = tuple(declared_shape(arrays, key))
            if shape != target.shape:
                raise ValueError(f"{source}: array {key!r} has shape {shape}, expected {target.shape}")
            src = np.asarray(arrays[key])
            if not np.issubdtype(src.dtype, np.floating):
                raise ValueError(f"{source}: array {key!r} has dtype {src.dtype}, expected floating point")
            if not np.isfinite(src).all():
                raise ValueError(f"{source}: array {key!r} contains NaN or infinite values")
            with np.errstate(over="ignore"):
                cast = src.astype(target.dtype)
            if not np.isfinite(cast).all():  # a float64 1e300 is inf in float32
                raise ValueError(f"{source}: array {key!r} holds values too large for {target.dtype} "
                                 f"(largest magnitude {float(np.max(np.abs(src))):.3g})")
            target[...] = cast
    return layer


def _check_declared_size(kwargs, i, kind, arrays, source) -> None:
    """Refuse a layer whose integer fields (n_in, n_out, n, ...) multiply to far more elements than the arrays
    stored for it, before its constructor allocates them: a file cannot make numnet allocate gigabytes."""
    declared = math.prod(v for v in kwargs.values() if is_int(v) and v > 0)
    prefix = f"{i}."
    stored = sum(math.prod(declared_shape(arrays, k)) for k in arrays if k.startswith(prefix))
    if declared > max(stored, MAX_UNSTORED_ELEMENTS):
        fields = ", ".join(f"{k}={v}" for k, v in kwargs.items() if is_int(v))
        raise ValueError(f"{source}: layer {i} ({kind}) declares {fields} ({declared} elements) but the file "
                         f"stores {stored} for it: refusing to allocate it")


def load(path) -> Network:
    """Load a model written by `Network.save`. Layer and cost names resolve only through numnet's registries."""
    meta, arrays = read_archive(path, "model file")
    return Network.from_architecture(meta, arrays, source=str(path))


def load_checkpoint(directory) -> Checkpoint:
    """Read a checkpoint directory written by `fit(checkpoint_dir=...)`; a missing or damaged one is an error."""
    return read_checkpoint(directory, Network.from_architecture)
