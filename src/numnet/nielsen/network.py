"""network2.py's `Network` and network.py's `Network1` on numnet's engine, and `load` for the book's JSON files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..model.network import Network as _EngineNetwork
from ..nn import costs as _costs
from ..nn.initializers import initialize
from ..nn.layers import Dense
from ..train.optimizers import SGD as _EngineSGD
from ..utils.checks import positive_int
from ..utils.files import write_text_atomic
from ..utils.jsonio import read_json

from .parts import (COSTS, CrossEntropyCost, QuadraticCost, _StopEarly, _TiedList, _copy_into, _cost_class, _number,
                    _stack)


# ---------------------------------------------------------------------------------------------- network2
class Network:
    """network2.py's Network: `Network([784, 30, 10], cost=CrossEntropyCost, seed=None)`.

    Weights N(0, 1/n_in), biases N(0, 1); `seed` makes initialisation and (by default) shuffling reproducible.
    """

    _init = "default"

    def __init__(self, sizes, cost=CrossEntropyCost, seed=None, dtype="float32"):
        cost = _cost_class(cost)
        self._rng = np.random.default_rng(seed)
        self.engine = _EngineNetwork.from_sizes(sizes, activation="sigmoid", output="sigmoid",
                                                cost=cost.engine_name, init=self._init, dtype=dtype,
                                                seed=int(self._rng.integers(2 ** 32)))
        self._cost = cost
        self._dense = [layer for layer in self.engine.layers if isinstance(layer, Dense)]

    # ------------------------------------------------------------------ the book's attributes
    @property
    def sizes(self) -> list[int]:
        return self.engine.sizes

    @property
    def num_layers(self) -> int:
        return len(self._dense) + 1

    @property
    def weights(self) -> list[np.ndarray]:
        """(n_out, n_in) views of the engine's weights (the book's w^l_jk orientation)."""
        return _TiedList(d.W.T for d in self._dense)

    @weights.setter
    def weights(self, values):
        self._assign(self.weights, values, "weights")

    @property
    def biases(self) -> list[np.ndarray]:
        """(n_out, 1) views of the engine's biases."""
        return _TiedList(d.b[:, None] for d in self._dense)

    @biases.setter
    def biases(self, values):
        self._assign(self.biases, values, "biases")

    @staticmethod
    def _assign(targets, values, what):
        values = list(values)
        if len(values) != len(targets):
            raise ValueError(f"{what} needs {len(targets)} arrays, got {len(values)}")
        for i, (t, v) in enumerate(zip(targets, values)):
            _copy_into(t, v, f"{what}[{i}]")

    @property
    def cost(self):
        """The cost class (QuadraticCost or CrossEntropyCost); setting it also changes the engine's cost."""
        return self._cost

    @cost.setter
    def cost(self, cost):
        cost = _cost_class(cost)
        self.engine.cost = _costs.make_cost(cost.engine_name)
        self._cost = cost

    def __repr__(self):
        return f"nielsen.{type(self).__name__}({self.sizes}, cost={self._cost.__name__})"

    # ------------------------------------------------------------------ initialisation
    def default_weight_initializer(self, seed=None):
        """Weights N(0, 1/n_in), biases N(0, 1), drawn in place (from the network's generator, or `seed`)."""
        self._initialize("default", seed)

    def large_weight_initializer(self, seed=None):
        """Weights and biases N(0, 1) (chapter 1), drawn in place."""
        self._initialize("large", seed)

    def _initialize(self, scheme, seed):
        rng = self._rng if seed is None else np.random.default_rng(seed)
        for d in self._dense:
            W, b = initialize(scheme, d.n_in, d.n_out, rng, d.W.dtype)
            d.W[...] = W
            d.b[...] = b
            d.init = scheme

    # ------------------------------------------------------------------ computing
    def feedforward(self, a):
        """Output column(s) for a (n_in, 1) column vector, or (n_in, k) columns → (n_out, k)."""
        a = np.asarray(a)
        n_in = self.sizes[0]
        if a.ndim == 1 and a.shape[0] == n_in:
            a = a.reshape(n_in, 1)
        if a.ndim != 2 or a.shape[0] != n_in:
            raise ValueError(f"feedforward expects a column vector of shape ({n_in}, 1) or columns of shape "
                             f"({n_in}, k), got shape {a.shape}")
        X = self.engine.prepare_inputs(a.T, "feedforward input")
        with np.errstate(over="ignore", under="ignore"):
            return self.engine.forward_pass(X)[0].T

    def backprop(self, x, y):
        """(nabla_b, nabla_w) of C_x in the book's orientation (the mean over columns if x has several)."""
        n_in, n_out = self.sizes[0], self.sizes[-1]
        x = np.asarray(x)
        if x.ndim == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[0] != n_in:
            raise ValueError(f"backprop expects x of shape ({n_in}, 1), got {x.shape}")
        if np.ndim(y) == 0:
            T = np.full(x.shape[1], y)
        else:
            y = np.asarray(y)
            if y.ndim == 1:
                y = y.reshape(-1, 1)
            if y.shape != (n_out, x.shape[1]):
                raise ValueError(f"backprop expects y of shape ({n_out}, {x.shape[1]}) or an int label, got {y.shape}")
            T = y.T
        _, grads = self.engine.loss_and_grads(x.T, T)
        dense = [grads[self.engine.layers.index(d)] for d in self._dense]
        return [g["b"][:, None].copy() for g in dense], [g["W"].T.copy() for g in dense]

    def update_mini_batch(self, mini_batch, eta, lmbda=0.0, n=None):
        """One gradient step on a list of (x, y): w ← (1 − ηλ/n)w − (η/m)Σ∇C_x, as one matrix pass."""
        eta = _number(eta, "eta (the learning rate)", positive=True)
        lmbda = _number(lmbda, "lmbda (the L2 regularization parameter)", positive=False)
        X, T, _ = _stack(mini_batch, self.sizes[0], self.sizes[-1], "mini_batch")
        n = len(X) if n is None else positive_int(n, "n (the training-set size)")
        _, grads = self.engine.loss_and_grads(X, T, l2=lmbda, n_train=n)
        _EngineSGD(eta).step(self.engine.param_arrays(trainable=True), [g[k] for g in grads for k in g])

    def _measure(self, X, T, kind, lmbda=0.0, n_l2=None):
        """(cost with the L2 term, number correct) in one pass where the labels allow."""
        ev = self.engine.evaluate(X, T, l2=lmbda, n_train=n_l2 or len(X))
        n = len(X)
        if kind == "vector" and self.sizes[-1] > 1 and not (np.all((T == 0) | (T == 1)) and np.all(T.sum(1) == 1)):
            correct = int(np.sum(self.engine.predict(X) == T.argmax(axis=1)))  # soft targets: the book's argmax
        else:
            correct = int(round(ev.accuracy * n))
        return ev.cost, correct

    def _data(self, data, what):
        return _stack(data, self.sizes[0], self.sizes[-1], what)

    @staticmethod
    def _check_convert(convert, kind, vector_when, method):
        if convert is None:
            return
        expected = "vector" if bool(convert) == vector_when else "int"
        if kind != expected:
            raise ValueError(
                f"{method}(convert={convert!r}) expects {'one-hot (n, 1) label vectors' if expected == 'vector' else 'int labels'}"
                f" but the data has {'int labels' if kind == 'int' else 'label vectors'}; omit convert and the label "
                f"form is detected")

    def accuracy(self, data, convert=None):
        """Number of examples in `data` whose output argmax equals the label (an int, as in the book).

        The book's convert=True means one-hot labels (training data), False int labels; None detects them.
        """
        X, T, kind = self._data(data, "data")
        self._check_convert(convert, kind, True, "accuracy")
        return self._measure(X, T, kind)[1]

    def total_cost(self, data, lmbda, convert=None):
        """Mean cost over `data` plus 0.5·(λ/len(data))·Σ‖w‖² (the book's total_cost).

        The book's convert=True means int labels (validation/test data), False one-hot; None detects them.
        """
        lmbda = _number(lmbda, "lmbda (the L2 regularization parameter)", positive=False)
        X, T, kind = self._data(data, "data")
        self._check_convert(convert, kind, False, "total_cost")
        return self._measure(X, T, kind, lmbda, len(X))[0]

    # ------------------------------------------------------------------ training
    def _check_sgd(self, epochs, mini_batch_size, eta, lmbda):
        return (positive_int(epochs, "epochs"), positive_int(mini_batch_size, "mini_batch_size"),
                _number(eta, "eta (the learning rate)", positive=True),
                _number(lmbda, "lmbda (the L2 regularization parameter)", positive=False))

    def _fit(self, X, T, epochs, mini_batch_size, eta, lmbda, seed, on_epoch_end):
        if seed is None:
            seed = int(self._rng.integers(2 ** 32))
        try:
            self.engine.fit(X, T, epochs=epochs, batch_size=mini_batch_size, optimizer=_EngineSGD(eta), l2=lmbda,
                            seed=seed, verbose=0, on_epoch_end=on_epoch_end)
        except _StopEarly:
            pass

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0, evaluation_data=None,
            monitor_evaluation_cost=False, monitor_evaluation_accuracy=False, monitor_training_cost=False,
            monitor_training_accuracy=False, early_stopping_n=0, seed=None, verbose=True, test_data=None):
        """Mini-batch SGD with L2; returns (evaluation_cost, evaluation_accuracy, training_cost, training_accuracy).

        `test_data=` (chapter 1's keyword) is accepted as evaluation_data with monitor_evaluation_accuracy, so
        the book's chapter-1 call works here too; for chapter 1's own network (quadratic cost, N(0, 1) weights,
        "Epoch j: correct / total" lines) use `Network1`.

        Accuracies are counts of correct examples; costs include the L2 term 0.5·(λ/len(data))·Σ‖w‖².
        early_stopping_n > 0 stops after that many epochs without a better evaluation accuracy (the
        weights are kept as they are, as in the book). `seed` fixes the shuffling.
        Long: the book's signature and its four monitoring lists, wired onto the one trainer."""
        if test_data is not None:
            if evaluation_data is not None:
                raise ValueError("give test_data (chapter 1's name) or evaluation_data, not both")
            evaluation_data, monitor_evaluation_accuracy = test_data, True
        epochs, mini_batch_size, eta, lmbda = self._check_sgd(epochs, mini_batch_size, eta, lmbda)
        early_stopping_n = int(early_stopping_n or 0)
        if early_stopping_n < 0:
            raise ValueError(f"early_stopping_n must be >= 0, got {early_stopping_n}")
        if evaluation_data is None and (monitor_evaluation_cost or monitor_evaluation_accuracy or early_stopping_n):
            raise ValueError("monitoring or early stopping on evaluation data needs evaluation_data")
        X, T, kind = self._data(training_data, "training_data")
        need_eval = monitor_evaluation_cost or monitor_evaluation_accuracy or early_stopping_n
        if need_eval:
            Xe, Te, kind_e = self._data(evaluation_data, "evaluation_data")
        evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = [], [], [], []
        best = {"accuracy": -1, "wait": 0}

        def monitor(name, X_, T_, kind_, costs, accuracies):
            """Measure one data set (L2 term with λ/len(data), as the book does); record and print what is asked."""
            cost, correct = self._measure(X_, T_, kind_, lmbda, len(X_))
            if costs is not None:
                costs.append(cost)
                if verbose:
                    print(f"Cost on {name} data: {cost}")
            if accuracies is not None:
                accuracies.append(correct)
                if verbose:
                    print(f"Accuracy on {name} data: {correct} / {len(X_)}")
            return correct

        def on_epoch_end(epoch, history):
            if verbose:
                print(f"Epoch {epoch - 1} training complete")
            if monitor_training_cost or monitor_training_accuracy:
                monitor("training", X, T, kind, training_cost if monitor_training_cost else None,
                        training_accuracy if monitor_training_accuracy else None)
            if need_eval:
                correct = monitor("evaluation", Xe, Te, kind_e, evaluation_cost if monitor_evaluation_cost else None,
                                  evaluation_accuracy if monitor_evaluation_accuracy else None)
                if verbose:
                    print()
                if early_stopping_n:
                    if correct > best["accuracy"]:
                        best["accuracy"], best["wait"] = correct, 0
                    else:
                        best["wait"] += 1
                    if best["wait"] >= early_stopping_n:
                        if verbose:
                            print(f"Early stopping: no better evaluation accuracy in {early_stopping_n} epochs")
                        raise _StopEarly
            elif verbose:
                print()

        self._fit(X, T, epochs, mini_batch_size, eta, lmbda, seed, on_epoch_end)
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    # ------------------------------------------------------------------ files
    def save(self, filename):
        """Write the book's JSON: sizes, weights (n_out, n_in), biases (n_out, 1), cost class name (atomically)."""
        data = {"sizes": self.sizes,
                "weights": [w.tolist() for w in self.weights],
                "biases": [b.tolist() for b in self.biases],
                "cost": str(self._cost.__name__)}
        write_text_atomic(filename, json.dumps(data))


# ---------------------------------------------------------------------------------------------- network.py
class Network1(Network):
    """Chapter 1's network.py: quadratic cost, weights and biases N(0, 1), `SGD(..., test_data=None)`."""

    _init = "large"

    def __init__(self, sizes, cost=QuadraticCost, seed=None, dtype="float32"):
        super().__init__(sizes, cost=cost, seed=seed, dtype=dtype)

    def evaluate(self, test_data):
        """Number of test inputs for which the output argmax equals the label."""
        return self.accuracy(test_data)

    def cost_derivative(self, output_activations, y):
        """∂C_x/∂a for the quadratic cost: a − y."""
        return np.asarray(output_activations) - np.asarray(y)

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, seed=None, verbose=True):
        """Mini-batch SGD; with test_data prints "Epoch j: correct / total" each epoch and returns those counts."""
        epochs, mini_batch_size, eta, _ = self._check_sgd(epochs, mini_batch_size, eta, 0.0)
        X, T, _ = self._data(training_data, "training_data")
        if test_data is not None:
            Xt, Tt, kind_t = self._data(test_data, "test_data")
        counts = []

        def on_epoch_end(epoch, history):
            if test_data is not None:
                correct = self._measure(Xt, Tt, kind_t)[1]
                counts.append(correct)
                if verbose:
                    print(f"Epoch {epoch - 1}: {correct} / {len(Xt)}")
            elif verbose:
                print(f"Epoch {epoch - 1} complete")

        self._fit(X, T, epochs, mini_batch_size, eta, 0.0, seed, on_epoch_end)
        return counts if test_data is not None else None


# ---------------------------------------------------------------------------------------------- load
def _field(data, name, source):
    if name not in data:
        raise ValueError(f"{source}: missing field {name!r}")
    return data[name]


def _array(value, what, shape, dtype):
    try:
        arr = np.array(value)
    except (ValueError, TypeError):
        raise ValueError(f"{what} is not a rectangular array of numbers") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{what} must hold numbers, got {arr.dtype} values")
    if arr.shape != shape:
        raise ValueError(f"{what} has shape {arr.shape}, expected {shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        arr = arr.astype(dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN, infinite or out-of-range values")
    return arr


def load(filename, dtype="float32"):
    """A Network from the book's JSON (network2.py's save, or ours); the cost name resolves only through COSTS."""
    path = Path(filename)
    if not path.exists():
        raise FileNotFoundError(f"network file not found: {path}")
    if path.is_dir():
        raise ValueError(f"network file {path} is a directory")
    source = f"network file {path}"
    data = read_json(path, source)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object with fields sizes, weights, biases, cost")
    sizes = _field(data, "sizes", source)
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise ValueError(f"{source}: field 'sizes' must list at least two positive integers, got {sizes!r}")
    cost_name = _field(data, "cost", source)
    if not isinstance(cost_name, str) or cost_name not in COSTS:
        raise ValueError(f"{source}: field 'cost' names an unknown cost {cost_name!r}; known: {', '.join(COSTS)}")
    arrays = {}
    for name in ("weights", "biases"):
        value = _field(data, name, source)
        if not isinstance(value, list) or len(value) != len(sizes) - 1:
            raise ValueError(f"{source}: field {name!r} must be a list of {len(sizes) - 1} arrays for sizes {sizes}")
        arrays[name] = [
            _array(v, f"{source}: field {name!r}[{i}]",
                   (n_out, n_in) if name == "weights" else (n_out, 1), dtype)
            for i, (v, n_in, n_out) in enumerate(zip(value, sizes[:-1], sizes[1:]))]
    net = Network(sizes, cost=COSTS[cost_name], seed=0, dtype=dtype)
    net.weights = arrays["weights"]
    net.biases = arrays["biases"]
    return net
