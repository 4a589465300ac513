"""Using a trained network: predictions, costs and accuracies over data sets, computed in chunks to bound memory.

A mixin of `Network` (its evaluation job); every method checks its data through `prepare_inputs` /
`prepare_targets` and runs the network's one forward path (`forward_pass`)."""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ..utils.backend import array_module, to_host

#: rows evaluated at once at most, and the bytes their layer outputs may take (see `inference_rows`)
INFERENCE_ROWS = 10000
INFERENCE_BYTES = 256 * 2**20
Evaluation = namedtuple("Evaluation", ["cost", "accuracy"])
RegressionEvaluation = namedtuple("RegressionEvaluation", ["cost", "mse", "r2"])


class Evaluating:
    """`predict_proba`, `predict`, `evaluate`, `evaluate_regression`, `measure`, `task_accuracy`, `l2_penalty`.
    Data sets are run in chunks of `batch_size` rows (default `inference_rows()`: memory stays bounded)."""

    def inference_rows(self) -> int:
        """Rows per chunk at inference: at most INFERENCE_ROWS, fewer when every layer's outputs for that many
        rows would exceed INFERENCE_BYTES (a 784-60,000-10 network evaluates 10,000 images in chunks of ~500)."""
        per_row = self.dtype.itemsize * sum(math.prod(s) for s in self._output_shapes())
        return int(max(1, min(INFERENCE_ROWS, INFERENCE_BYTES // max(per_row, 1))))

    def _output_shapes(self):
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.output_shape(shape)
            yield shape

    def predict_proba(self, X, batch_size=None):
        """Output activations, computed in chunks to bound memory."""
        batch_size = batch_size or self.inference_rows()
        X = self.prepare_inputs(X)
        with np.errstate(over="ignore", under="ignore"):
            xp = array_module(X)
            return xp.concatenate([self.forward_pass(X[i:i + batch_size])[0] for i in range(0, len(X), batch_size)]
                                  or [xp.zeros((0, self.n_out), self.dtype)])

    def predict(self, X, batch_size=None):
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

    def measure(self, X, Y, labels, batch_size=None):
        """(total cost, number correct) over prepared (X, Y), in chunks; `labels` from `prepare_targets`. Host
        numbers on either device (a device reads its sums once per chunk)."""
        batch_size = batch_size or self.inference_rows()
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

    def task_accuracy(self, X, y, batch_size=None) -> np.ndarray:
        """Multi-task accuracy: for each output unit (a yes/no task), the fraction of its labelled examples on the
        right side of 0.5 (NaN for a task with no labelled example)."""
        batch_size = batch_size or self.inference_rows()
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

    def evaluate(self, X, y, l2=0.0, n_train=None, batch_size=None) -> Evaluation:
        """(cost, accuracy) on (X, y): the mean cost (plus the L2 term when l2 > 0) and the fraction correct."""
        X = self.prepare_inputs(X)
        Y, labels = self.prepare_targets(y, len(X))
        if len(X) == 0:
            raise ValueError("cannot evaluate on an empty data set")
        total, correct = self.measure(X, Y, labels, batch_size)
        cost = total / len(X) + self.l2_penalty(l2, n_train or len(X))
        return Evaluation(cost, correct / len(X))

    def evaluate_regression(self, X, y, batch_size=None) -> RegressionEvaluation:
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
