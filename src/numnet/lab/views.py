"""Views of one model: its prediction on a drawn or uploaded digit (with the preprocessed input and hidden
activations), its first-layer weights as tiles, one hidden unit (incoming weights, activation), activation
histograms with gradient health, and a grid of test predictions with their probabilities."""
from __future__ import annotations

import io
import math

import numpy as np

from ..data.images import ImageTooLarge, load_digit
from .base import LabError, NotFound, TooLarge, index, plain_message, rounded
from .models import Models
from .netview import dense_layers, hidden_outputs, weights, weights_and_grads

MAX_PIXELS = 25_000_000  # uploads with more pixels are refused from their header, before decoding
NOT_AN_IMAGE = "the upload is not an image the lab can read (PNG, JPEG, GIF, BMP or WebP)"


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _tile(w: np.ndarray, scale=2) -> np.ndarray:
    """A 28×28 weight vector as RGB (blue < 0 < red, each tile scaled to its own largest magnitude)."""
    w = w.reshape(28, 28)
    w = w / (np.abs(w).max() or 1.0)
    rgb = np.stack([1 - np.clip(-w, 0, 1), 1 - np.abs(w), 1 - np.clip(w, 0, 1)], axis=-1)
    return np.round(np.kron(rgb, np.ones((scale, scale, 1))) * 255).astype(np.uint8)


class Views:
    def __init__(self, models: Models):
        self.models = models

    def predict(self, name, image: bytes, invert="auto") -> dict:
        net = self.models.get(name)
        try:
            x = load_digit(image, invert=invert, dtype=net.dtype.name, max_pixels=MAX_PIXELS)
        except ImageTooLarge as e:
            raise TooLarge(plain_message(e)) from None
        except ValueError as e:
            raise LabError(NOT_AN_IMAGE if "not a readable image" in str(e) else plain_message(e)) from None
        with self.models.lock:
            hidden, proba = hidden_outputs(net, x[None])
        p = proba[0]
        return {"model": name, "digit": int(np.argmax(p)), "probabilities": rounded(p),
                "input": rounded(x, 3), "hidden": [rounded(h[0], 3) for h in hidden]}

    def weights_png(self, name, count=64) -> bytes:
        """The first Dense layer's weights into `count` hidden units as 28x28 tiles (blue < 0 < red)."""
        W = self._first_weights(name)[:, :max(1, count)]
        n, cols, tile, gap = W.shape[1], min(W.shape[1], 16), 28 * 2, 2
        rows = math.ceil(n / cols)
        img = np.full((rows * (tile + gap) + gap, cols * (tile + gap) + gap, 3), 255, np.uint8)
        for j in range(n):
            r, c = divmod(j, cols)
            y0, x0 = gap + r * (tile + gap), gap + c * (tile + gap)
            img[y0:y0 + tile, x0:x0 + tile] = _tile(W[:, j])
        return _png(img)

    def _first_weights(self, name) -> np.ndarray:
        net = self.models.get(name)
        try:
            W = weights(net, 0)
        except ValueError as e:
            raise LabError(str(e)) from None
        if W.shape[0] != 784:
            raise LabError(f"{name}: its first Dense layer takes {W.shape[0]} inputs, not a 28x28 image")
        return W

    def unit_png(self, name, unit) -> bytes:
        """Hidden unit `unit` of the first layer: its 784 incoming weights as one enlarged tile."""
        W = self._first_weights(name)
        j = _unit(unit, W.shape[1])
        return _png(_tile(W[:, j], scale=6))

    def unit(self, name, layer, unit) -> dict:
        """A hidden unit's incoming weights (layer 1: an image; deeper: one weight per unit below) and its
        bias-free summary: the unit's mean activation and how often it is zero on 1000 test images."""
        net = self.models.get(name)
        dense = dense_layers(net)
        layer = _unit(layer, len(dense) - 1, "layer", 1)
        W = weights(net, layer - 1)
        j = _unit(unit, W.shape[1])
        X, _ = self.models.test_set()
        with self.models.lock:
            hidden, _ = hidden_outputs(net, X[:1000].astype(net.dtype))
        h = np.asarray(hidden[layer - 1][:, j], dtype=np.float64)
        return {"model": name, "layer": layer, "unit": j, "fan_in": int(W.shape[0]),
                "weights": rounded(W[:, j], 4) if layer > 1 else None,
                "mean": float(h.mean()), "zero_fraction": float(np.mean(h == 0)), "max": float(h.max())}

    def test_grid(self, name, start=0, count=40) -> dict:
        """Test images start..start+count with the model's prediction and its three likeliest digits."""
        y, pred, _, proba = self.models.predictions(name)
        start = index(start, len(y))
        rows = []
        for i in range(start, min(len(y), start + max(1, min(count, 100)))):
            top = np.argsort(-proba[i], kind="stable")[:3]
            rows.append({"index": i, "true": int(y[i]), "predicted": int(pred[i]),
                         "top": [[int(k), round(float(proba[i, k]), 4)] for k in top]})
        return {"model": name, "start": start, "total": len(y), "images": rows}

    def inside(self, name, n=1000, bins=30) -> dict:
        """Activation histograms of each hidden layer on n test images; gradient norms per Dense layer."""
        net = self.models.get(name)
        X, y = self.models.test_set()
        X, y = X[:n].astype(net.dtype), y[:n]
        with self.models.lock:
            hidden, _ = hidden_outputs(net, X)
            layers = []
            for i, h in enumerate(hidden):
                counts, edges = np.histogram(h, bins=bins)
                layers.append({"layer": i + 1, "units": int(h.shape[1]), "counts": counts.tolist(),
                               "edges": rounded(edges), "mean": float(h.mean()), "std": float(h.std()),
                               "zero_fraction": float(np.mean(h == 0)),
                               "dead_units": int(np.sum(np.all(h == 0, axis=0)))})
            probe = net.copy()
            cost, layer_grads = probe.loss_and_grads(X[:500], y[:500], training=False)
            grads = []
            for i, (w, g) in enumerate(weights_and_grads(probe, layer_grads)):
                wn, gn = float(np.linalg.norm(w)), float(np.linalg.norm(g))
                grads.append({"layer": i + 1, "shape": list(w.shape), "weight_norm": wn, "grad_norm": gn,
                              "ratio": gn / wn if wn else None})
        return {"model": name, "images": len(X), "activations": layers, "gradients": grads, "cost": float(cost),
                "sizes": net.sizes}


def _unit(value, n, what="unit", low=0) -> int:
    try:
        j = int(value)
    except (TypeError, ValueError, OverflowError):
        raise LabError(f"{what} must be an integer") from None
    if not low <= j < n + low:
        raise NotFound(f"no {what} {j} (this model has {n})")
    return j
