"""Building networks: the book's style from a list of sizes, and input standardization fitted on training data.

A mixin of `Network` (its construction job); the layers come from `nn`, nothing here trains or saves."""
from __future__ import annotations

import numpy as np

from ..nn.costs import make_cost
from ..nn.layers import BatchNorm, Dense, Dropout, Layer, hidden_unit, make_activation
from ..nn.standardize import Standardize
from ..utils.backend import to_device, to_host
from ..utils.checks import float_dtype, positive_int


def check_dtype(dtype) -> np.dtype:
    """float32 (default compute type) or float64 (gradient checks); anything else is an error."""
    if dtype is None:
        raise ValueError("dtype must be 'float32' or 'float64', got None")
    try:
        return float_dtype(dtype)
    except ValueError:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None


class Building:
    """Construction: `from_sizes` (the book's style) and `standardize`."""

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
        Long: every argument is checked before any weight is drawn, then one loop builds the layers."""
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

    @classmethod
    def from_layers(cls, layers, input_shape=(1, 28, 28), activation="relu", output=None, cost="log_likelihood",
                    init="he", seed=None, dtype="float32"):
        """A network from a layer list: `Network.from_layers("conv 20 5, pool 2, dense 100, dense 10")` or the
        same as tables ([{"type": "conv", "filters": 20, "kernel": 5}, ...]; see model/layerspec.py) on
        per-example inputs `input_shape` (MNIST images: (1, 28, 28); flat rows are reshaped for it). Hidden conv
        and dense layers use `activation` unless they name their own; the output activation is `output` (None:
        the cost's usual one)."""
        from .layerspec import build_layers

        cost = make_cost(cost)
        shape = tuple(positive_int(d, "input_shape") for d in np.atleast_1d(input_shape).tolist())
        return cls(build_layers(layers, shape, activation, output or cost.outputs[0], init, seed,
                                check_dtype(dtype)), cost)

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

