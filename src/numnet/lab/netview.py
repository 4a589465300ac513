"""The lab's views of the inside of a network: the hidden activations (through the network's one forward path,
`Network.layer_outputs`) and the Dense layers' weights and gradients."""
from __future__ import annotations

import numpy as np

from ..model.network import Network
from ..utils.backend import to_host


def layer_outputs(net: Network, X):
    """(hidden activations: the input of every Dense layer but the first, output probabilities)."""
    outputs = net.layer_outputs(net.prepare_inputs(X))
    hidden = [a for a, nxt in zip(outputs, net.layers[1:]) if getattr(nxt, "changes_width", False)]
    return hidden, outputs[-1]


def hidden_outputs(net: Network, X):
    """layer_outputs without what comes before the first Dense layer (a Standardize layer's output is the
    scaled input, not a hidden layer)."""
    hidden, out = layer_outputs(net, X)
    keep = max(0, len(dense_layers(net)) - 1)
    return hidden[len(hidden) - keep:] if keep else [], out


def dense_layers(net: Network) -> list:
    """The layers with a weight matrix W, in order (the first is the one the input image feeds)."""
    return [layer for layer in net.layers if "W" in layer.params]


def weights(net: Network, k=0) -> np.ndarray:
    """The k-th Dense layer's W (inputs × units) as float64 on the host."""
    layers = dense_layers(net)
    if not layers:
        raise ValueError("this model has no Dense layer to show")
    return np.asarray(to_host(layers[k].params["W"]), dtype=np.float64)


def weights_and_grads(net: Network, grads) -> list[tuple]:
    """(W, ∇W) of every Dense layer, from `grads` as `net.loss_and_grads` returns them (one dict per layer)."""
    return [(layer.params["W"], g["W"]) for layer, g in zip(net.layers, grads) if "W" in layer.params]
