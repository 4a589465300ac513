"""Transfer learning and fresh copies.

    new = transfer(net, replace_head=5, freeze=1, seed=0)

keeps the pretrained layers, replaces the output Dense (and the output activation after it) with a newly
initialised one of `replace_head` units, and freezes the first `freeze` parameterised layers (their
parameters are never updated and stay bit-identical). Transfer from A to B pays when both take the same kind
of input, A has much more data than B, and A's low-level features help B.
"""
from __future__ import annotations

import numpy as np

from ..nn.layers import LAYERS, Activation, Dense
from ..utils.checks import is_int
from .network import Network


def _fresh_layer(layer, rng, dtype):
    """A layer of the same kind and configuration with newly drawn (or reset) parameters."""
    params = LAYERS.params(layer.name)
    kwargs = dict(layer.config())
    if "rng" in params:
        kwargs["rng"] = rng
    if "dtype" in params:
        kwargs["dtype"] = dtype
    fresh = LAYERS.get(layer.name)(**kwargs)
    fresh.trainable = layer.trainable
    return fresh


def reinitialize(net: Network, seed=None) -> Network:
    """A network with the same architecture (and trainable flags) and fresh weights drawn with default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return Network([_fresh_layer(layer, rng, net.dtype) for layer in net.layers], net.cost)


def output_head(net: Network) -> int:
    """The index of the output Dense layer: the last Dense, followed only by activations; ValueError if the
    network does not end in one."""
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        if isinstance(layer, Dense):
            return i
        if not isinstance(layer, Activation):
            break
    raise ValueError("the model has no output layer to replace (it must end with a Dense layer and its "
                     "activation)")


def transfer(net: Network, replace_head=None, freeze=0, seed=None, init=None) -> Network:
    """A copy of `net` for a new task: with `replace_head` = N the output Dense becomes a new Dense(n_in, N)
    (initialised like the old one unless `init` is given, drawn with default_rng(seed)) and the output
    activation a fresh one of the same kind; then the first `freeze` parameterised layers are frozen.
    The new head always stays trainable."""
    new = net.copy()
    layers = list(new.layers)
    if replace_head is not None:
        if not is_int(replace_head) or replace_head < 1:
            raise ValueError(f"replace_head must be a positive number of output units, got {replace_head!r}")
        i = output_head(new)
        old = layers[i]
        rng = np.random.default_rng(seed)
        layers[i] = Dense(old.n_in, int(replace_head), init=init or old.init, bias=old.bias, rng=rng,
                          dtype=new.dtype)
        layers[i + 1:] = [_fresh_layer(layer, rng, new.dtype) for layer in layers[i + 1:]]
        for layer in layers[i + 1:]:
            layer.trainable = True
        new = Network(layers, new.cost)
    owners = [layer for layer in new.layers if layer.params]
    if not is_int(freeze) or freeze < 0:
        raise ValueError(f"freeze must be a non-negative number of layers, got {freeze!r}")
    if freeze >= len(owners):
        raise ValueError(f"cannot freeze {freeze} layers: the model has {len(owners)} layers with parameters "
                         f"and the output layer must stay trainable (use at most {len(owners) - 1})")
    return new.freeze(int(freeze))
