"""Gradient health: a callback that watches how well the gradients flow while a network trains.

Per epoch it records, for every trainable parameter θ, the mean gradient norm ‖∂C/∂θ‖ over the mini-batches and
the update-to-weight ratio ‖Δθ‖/‖θ‖ of the epoch's first step (about 1e-3 is healthy), and, on a probe batch of
training examples, the fraction of dead units of each hidden ReLU-like layer (never positive) and of saturated
outputs of each hidden sigmoid/tanh-like layer (within `margin` of a bound; see `Activation.output_range`). When a
measure crosses its threshold it warns once, naming the remedy.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..utils.backend import array_module
from ..utils.checks import fraction, number, positive_int
from .callbacks import Callback


class GradientHealthWarning(RuntimeWarning):
    """A sign of poor gradient flow (dead or saturated units, tiny or huge updates, vanishing gradients)."""


class GradientHealth(Callback):
    """Records gradient norms, update/weight ratios, dead ReLU and saturated sigmoid/tanh fractions per epoch
    into `records` (one dict per epoch) and warns (GradientHealthWarning, or a line to `log` when given) with a
    remedy when one looks unhealthy."""

    def __init__(self, probe=512, dead=0.5, saturated=0.5, margin=0.01, ratio=(1e-6, 1e-1), vanishing=1e-2,
                 warn=True, log=None):
        self.probe = positive_int(probe, "GradientHealth probe")
        self.dead = fraction(dead, "GradientHealth dead")
        self.saturated = fraction(saturated, "GradientHealth saturated")
        self.margin = number(margin, "GradientHealth margin", 0.0, 0.5, low_open=True, high_open=True)
        low, high = ratio
        self.ratio = (number(low, "GradientHealth ratio low", 0.0), number(high, "GradientHealth ratio high", low))
        self.vanishing = number(vanishing, "GradientHealth vanishing", 0.0, 1.0)
        self.warn = bool(warn)
        if log is not None and not callable(log):
            raise ValueError("GradientHealth log must be a print-like function")
        self.log = log
        self.records: list[dict] = []
        self._warned: set = set()

    def on_train_begin(self, trainer):
        self._warned = set()

    def on_epoch_begin(self, trainer, epoch):
        self._watched = [(f"{i}.{k}", layer, k) for i, layer in enumerate(trainer.net.layers) if layer.trainable
                         for k in layer.params]
        self._before = [layer.params[k].copy() for _, layer, k in self._watched]
        self._sums = [np.float64(0.0)] * len(self._watched)  # device scalars on a GPU, read once per epoch
        self._batches = 0
        self._ratio = {}

    def on_batch_end(self, trainer, batch, cost):
        for j, g in enumerate(trainer.grads):  # the step's gradients, in the order of the watched parameters
            self._sums[j] += array_module(g).linalg.norm(g)
        self._batches += 1
        if self._before is not None:  # the epoch's first step: ‖θ_after − θ_before‖ / ‖θ_before‖
            for (key, layer, k), old in zip(self._watched, self._before):
                xp = array_module(old)
                size = float(xp.linalg.norm(old))
                self._ratio[key] = float(xp.linalg.norm(layer.params[k] - old) / size) if size > 0 else None
            self._before = None
        if batch * trainer.batch_size >= trainer.n_train:  # the last batch: record before any on_epoch_end
            self._record(trainer)  # (so a checkpoint written at this epoch's end holds this epoch)

    def on_epoch_end(self, trainer, epoch, logs):
        if not self.records or self.records[-1]["epoch"] != epoch:  # stopped before the last batch
            self._record(trainer)
        if len(trainer.history) and trainer.history.epoch[-1] == epoch:  # also in History (history.json, plots)
            trainer.history.annotate("gradient_health", self.records[-1])

    def _record(self, trainer):
        net, epoch = trainer.net, trainer.epoch
        norms = {key: float(s / max(self._batches, 1)) for (key, _, _), s in zip(self._watched, self._sums)}
        record = {"epoch": epoch, "grad_norm": norms, "update_ratio": dict(self._ratio), "dead_fraction": {},
                  "saturated_fraction": {}, "warnings": []}
        probe = trainer.X[:self.probe]
        xp = array_module(probe)
        outputs = net.layer_outputs(probe)
        with np.errstate(over="ignore", under="ignore"):
            for i, (layer, a) in enumerate(zip(net.layers[:-1], outputs)):  # hidden layers: the output may saturate
                bounds = getattr(layer, "output_range", None)
                if bounds is None:
                    continue
                low, high = bounds
                if np.isinf(high):
                    record["dead_fraction"][str(i)] = float(xp.mean(xp.all(a <= low, axis=0)))
                else:
                    m = self.margin * (high - low)
                    record["saturated_fraction"][str(i)] = float(xp.mean((a <= low + m) | (a >= high - m)))
        self._diagnose(record, net, len(probe))
        self.records.append(record)

    def _diagnose(self, record, net, n_probe):
        def say(kind, key, message):
            record["warnings"].append(message)
            if self.warn and (kind, key) not in self._warned:
                self._warned.add((kind, key))
                if self.log is not None:
                    self.log(f"gradient health, epoch {record['epoch']}: {message}")
                else:
                    warnings.warn(f"epoch {record['epoch']}: {message}", GradientHealthWarning, stacklevel=2)

        for i, f in record["dead_fraction"].items():
            if f > self.dead:
                say("dead", i, f"layer {i} ({net.layers[int(i)].name}): {f:.0%} of its units are dead (never active on "
                    f"{n_probe} training examples); lower the learning rate, use He initialization (init='he'), "
                    f"or a leaky_relu / elu activation")
        for i, f in record["saturated_fraction"].items():
            if f > self.saturated:
                say("saturated", i, f"layer {i} ({net.layers[int(i)].name}): {f:.0%} of its outputs are saturated, "
                    f"so gradients through them vanish; use smaller initial weights (init='default' or 'xavier'), "
                    f"standardize the inputs, add batch norm, or use relu")
        weights = {f"{i}.{k}" for i, layer in enumerate(net.layers) for k in layer.decay}
        low, high = self.ratio
        for key, r in record["update_ratio"].items():
            if key in weights and r is not None and r > high:
                say("ratio", key, f"{key}: update/weight ratio {r:.1e} per step is large (> {high:g}); "
                    f"lower the learning rate")
            elif key in weights and r is not None and r < low:
                say("ratio", key, f"{key}: update/weight ratio {r:.1e} per step is tiny (< {low:g}); "
                    f"raise the learning rate")
        norms = {k: v for k, v in record["grad_norm"].items() if k in weights}
        if len(norms) > 1 and max(norms.values()) > 0:
            top = max(norms.values())
            for key, v in norms.items():
                if v < self.vanishing * top:
                    say("vanishing", key, f"{key}: gradient norm {v:.1e} is below {self.vanishing:g} of the largest "
                        f"({top:.1e}): gradients vanish; use relu with He initialization, batch norm, or "
                        f"standardized inputs")

    def state_dict(self):
        return {"records": self.records}

    def load_state_dict(self, state) -> None:
        self.records = list(state.get("records", []))


__all__ = ["GradientHealth", "GradientHealthWarning"]
