"""The two places where the lab reaches into a network's layers, kept small so that a Network method can
replace each: the forward pass that keeps the hidden activations, and the Dense layers' weights."""
from __future__ import annotations

import numpy as np

from ..model.network import Network
from ..utils.backend import to_host


def layer_outputs(net: Network, X):
    """(hidden activations: the input of every Dense layer but the first, output probabilities)."""
    a = net.prepare_inputs(X)
    hidden = []
    with np.errstate(over="ignore", under="ignore"):
        for layer, nxt in zip(net.layers[:-1], net.layers[1:]):
            a = layer.forward(a, False, None)
            if getattr(nxt, "changes_width", False):
                hidden.append(a)
        a = net.layers[-1].forward(a, False, None)
    return hidden, a


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


def weights_and_grads(net: Network) -> list[tuple]:
    """(W, ∇W) of every Dense layer, after a loss_and_grads call on `net`."""
    return [(layer.params["W"], layer.grads["W"]) for layer in dense_layers(net)]
