"""The feed-forward network: a list of layers and a cost, vectorized over the mini-batch.

    a^0 = X;  a^l = layer_l(a^(l−1));  C = cost(a^L, Y)
Backpropagation runs the layers in reverse, one matrix product per Dense layer per pass.

`Network` is the core (layers, shapes, parameters, devices, the forward and backward passes) plus one mixin per
job: `Building` (from_sizes, standardize: build.py), `Inputs` (data checks: inputs.py), `Evaluating` (predict,
evaluate: evaluation.py) and `Persistence` (files: io.py). The passes are explicit about state: the forward
pass returns the caches (a tape) that the backward pass consumes, and the backward pass returns the gradients
to its caller (the trainer), so no pass leaves anything on a layer but its updated buffers (batch-norm
statistics). This is the public model interface the trainer, gradcheck and the book API use.

Devices: a network lives on the CPU (NumPy) or, after `to("cuda")`, on a GPU (CuPy); its passes compute with
the array module of its arrays. Files always hold host arrays.
"""
from __future__ import annotations

import math

import numpy as np

from ..nn.costs import make_cost
from ..nn.layers import Layer, Product
from ..train.checkpoints import Checkpoint, load_checkpoint as read_checkpoint
from ..train.loop import fit
from ..utils.archive import read_archive
from ..utils.backend import CPU, device_of, to_device, to_host
from .build import Building, check_dtype
from .evaluation import Evaluating, Evaluation, RegressionEvaluation
from .inputs import Inputs
from .io import FORMAT, FORMAT_VERSION, Persistence

__all__ = ["Network", "Evaluation", "RegressionEvaluation", "load", "load_checkpoint", "check_dtype", "FORMAT",
           "FORMAT_VERSION", "QUIET"]
#: np.errstate settings around training passes: saturated units overflow exp() harmlessly, and a cost that is
#: not finite is reported as divergence rather than warned about
QUIET = {"over": "ignore", "under": "ignore", "invalid": "ignore"}


class Network(Building, Inputs, Evaluating, Persistence):
    """A feed-forward network. `Network([Dense(784, 30), Sigmoid(), Dense(30, 10), Sigmoid()], "cross_entropy")`."""

    def __init__(self, layers, cost="cross_entropy"):
        layers = list(layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layer {i} is {type(layer).__name__}, not a numnet Layer")
        sized = [l for l in layers if l.input_shape is not None]
        with_params = [l for l in layers if l.params]
        if not sized or not with_params:
            raise ValueError("a network needs at least one layer with parameters and a known input size "
                             "(e.g. a Dense layer)")
        self.layers = layers
        self.cost = make_cost(cost)
        self.dtype = next(iter(with_params[0].params.values())).dtype
        shape = self.input_shape = tuple(sized[0].input_shape)
        for layer in layers:
            shape = layer.output_shape(shape)
            for k, v in layer.params.items():
                if v.dtype != self.dtype:
                    raise ValueError(f"all parameters must share one dtype: {layer!r}.{k} is {v.dtype}, "
                                     f"the first layer with parameters is {self.dtype}")
        self.output_shape = shape

    # ------------------------------------------------------------------ shapes and parameters
    @property
    def n_in(self) -> int:
        """The number of input features (the product of `input_shape`)."""
        return math.prod(self.input_shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.output_shape)

    @property
    def sizes(self) -> list[int]:
        """Widths [n_in, ..., n_out]: the input, then the output of every width-changing layer (Dense)."""
        widths, shape = [self.n_in], self.input_shape
        for layer in self.layers:
            shape = layer.output_shape(shape)
            if layer.changes_width:
                widths.append(math.prod(shape))
        return widths

    def parameters(self) -> list[tuple[Layer, str]]:
        """(layer, name) for every parameter, in a fixed order (optimizer state and checkpoints use it)."""
        return [(layer, k) for layer in self.layers for k in layer.params]

    def trainable_parameters(self) -> list[tuple[Layer, str]]:
        """(layer, name) for the parameters of trainable layers: what an optimizer updates, in the order of
        the gradients `backprop` returns."""
        return [(layer, k) for layer in self.layers if layer.trainable for k in layer.params]

    def param_arrays(self, trainable=False):
        return [layer.params[k] for layer, k in (self.trainable_parameters() if trainable else self.parameters())]

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
        """Where the parameters live: "cpu" (NumPy) or a registered device ("cuda": CuPy)."""
        return device_of(self.param_arrays()[0])

    def to(self, device) -> "Network":
        """Move every parameter and buffer (batch-norm statistics, standardization) to `device` and return the
        network. An optimizer's state lives beside the parameters: move the network before training."""
        for layer in self.layers:
            for store in (layer.params, layer.buffers):
                for k, v in store.items():
                    store[k] = to_device(v, device)
        return self

    def _placed(self, a):
        """A host array on the network's device."""
        device = self.device
        return a if device == CPU else to_device(a, device)

    # ------------------------------------------------------------------ passes (inputs already prepared)
    def forward_pass(self, X, training=False, rng=None, tape=None, outputs=None):
        """(a, z): the output and, when the cost computes from them, the logits (the output layer's input).
        `rng` feeds stochastic layers (dropout) in training, whose passes also update stateful layers' buffers.
        `tape` (a list) receives each layer's cache for `backward_pass`; `outputs` (a list) each layer's output
        (the lab's and gradient health's views of the inside of a network)."""
        a = z = X
        for layer in self.layers:
            z = a
            a, cache = layer.forward(layer.variables, a, training, rng)
            if training and layer.stateful:
                layer.buffers.update(layer.updates(cache))
            if tape is not None:
                tape.append(cache)
            if outputs is not None:
                outputs.append(a)
        return a, (z if self.cost.fuses(self.layers[-1]) else None)

    def layer_outputs(self, X) -> list:
        """Every layer's output for prepared inputs X, in inference mode."""
        outputs = []
        with np.errstate(over="ignore", under="ignore"):
            self.forward_pass(X, outputs=outputs)
        return outputs

    def backward_pass(self, a, Y, tape) -> list[dict]:
        """Each layer's gradients ({} for layers without trainable parameters) for the mean cost over the batch,
        from the forward pass's `tape`; stops at the lowest trainable layer, not asked for its input gradient."""
        layers = self.layers
        lowest = next((i for i, l in enumerate(layers) if l.params and l.trainable), len(layers))
        grads = [{} for _ in layers]
        top = len(layers) - 1
        if self.cost.fuses(layers[-1]):
            delta = self.cost.delta(a, Y)  # δ^L = (a − y)/n for (sigmoid, cross-entropy), (softmax, log-likelihood)
            top -= 1
        else:
            delta = self.cost.grad(a, Y)
        for i in range(top, lowest - 1, -1):
            layer = layers[i]
            delta, grads[i] = layer.backward(layer.variables, tape[i], delta, need_dx=i > lowest)
        return grads

    def backprop(self, X, Y, training=True, rng=None, l2=0.0, n_train=None, out=None, lazy=False):
        """One forward and backward pass on prepared inputs: (the batch's mean cost without the L2 term, the
        gradients ∂C/∂θ in the order of `trainable_parameters`), L2's (λ/n)·W added to the decayed weights (n
        the training-set size): the one place where L2 enters a gradient. A cost that is not finite is returned
        at once with no gradients (the trainer stops on it). Weight gradients that layers leave as products are
        evaluated into `out` (arrays in the same order) when given; `lazy` leaves them as products, carrying
        their L2 term, for an optimizer that folds them into its step (`takes_products`)."""
        # the hot path: callers silence overflow and NaN warnings around it (QUIET, once per epoch in the
        # trainer): a cost that is not finite is the signal
        tape = []
        a, z = self.forward_pass(X, training, rng, tape)
        cost = self.cost.value(a, Y, z)
        if isinstance(cost, float) and not math.isfinite(cost):  # on a device: checked later, without waiting
            return cost, None
        per_layer = self.backward_pass(a, Y, tape)
        n = n_train or X.shape[-len(self.input_shape) - 1]
        scale = self._l2_scale(l2, n) if np.ndim(l2) else (l2 / n if l2 else 0.0)
        grads = []
        for layer, g in zip(self.layers, per_layer):
            if not layer.trainable:
                continue
            for k, p in layer.params.items():
                d = g[k]
                decay = scale if k in layer.decay else 0.0
                if np.ndim(decay):  # one value per member: (K, 1, …) against the member axis of p
                    decay = decay.reshape((-1,) + (1,) * (p.ndim - 1))
                if isinstance(d, Product):
                    d.decay, d.param = decay, p
                    if not lazy:
                        d = d.value(None if out is None else out[len(grads)])
                elif np.ndim(decay) or decay:
                    d += decay * p
                grads.append(d)
        return cost, grads

    def _l2_scale(self, l2, n):
        """A population's per-member L2 (K values) as λ/n: a (K,) array of the network's dtype on its device,
        rounded as one network's float λ/n is (computed in float64, then cast); 0.0 when every λ is 0. Kept
        between steps (the same λ and n every batch), so a device receives it once."""
        key = (tuple(float(v) for v in to_host(l2)), n)
        cached = getattr(self, "_l2_cache", None)
        if cached is None or cached[0] != key:
            values = np.asarray(key[0], dtype=np.float64) / n
            self._l2_cache = cached = (key, self._placed(values.astype(self.dtype)) if values.any() else 0.0)
        return cached[1]

    def loss_and_grads(self, X, y, l2=0.0, n_train=None, training=True, rng=None):
        """(cost of one batch with the L2 term, gradients): `grads[i][name]` is ∂C/∂ of `layers[i].params[name]`
        ({} for layers without trainable parameters). Inputs are checked."""
        X = self.prepare_inputs(X)
        Y, _ = self.prepare_targets(y, len(X))
        with np.errstate(**QUIET):
            cost, flat = self.backprop(X, Y, training, rng, l2, n_train)
        grads = [{} for _ in self.layers]
        for (layer, k), g in zip(self.trainable_parameters(), flat or ()):
            grads[self.layers.index(layer)][k] = g
        return cost + self.l2_penalty(l2, n_train or len(X)), grads

    def forward(self, X, training=False, rng=None):
        """Network output for X of shape (n, *input_shape) (a single example of shape input_shape is accepted)."""
        X = self.prepare_inputs(X)
        with np.errstate(over="ignore", under="ignore"):
            return self.forward_pass(X, training, rng)[0]

    def summary(self) -> str:
        """Keras-style table: each layer's output shape and parameter count, and the totals."""
        from .summary import summary

        return summary(self)

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



def load(path) -> Network:
    """Load a model written by `Network.save`. Layer and cost names resolve only through numnet's registries."""
    meta, arrays = read_archive(path, "model file")
    return Network.from_architecture(meta, arrays, source=str(path))


def load_checkpoint(directory) -> Checkpoint:
    """Read a checkpoint directory written by `fit(checkpoint_dir=...)`; a missing or damaged one is an error."""
    return read_checkpoint(directory, Network.from_architecture)
