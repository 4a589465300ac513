"""The learning-rate finder: train for a few hundred mini-batches while the rate rises exponentially from
`lr_min` to `lr_max`; the (smoothed) cost falls, flattens, then blows up. The blow-up rate is where the cost,
after its minimum, has climbed back a fifth of the way to where it started (Nielsen's threshold: the rate
at which the cost starts to rise); the suggested rate is half of it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..train.callbacks import Callback, TrainingDiverged
from ..utils.checks import is_int, positive_int

#: the cost has blown up once it climbs back this fraction of the way from its minimum to its start
RISE = 0.2


@dataclass
class LRFindResult:
    rates: np.ndarray
    costs: np.ndarray          # each mini-batch's cost
    smoothed: np.ndarray       # bias-corrected exponentially weighted average
    min_lr: float              # rate at the smoothed minimum
    blowup_lr: float | None    # where the cost starts to blow up (None: it never did up to lr_max)
    suggested_lr: float
    paths: dict = field(default_factory=dict)

    def summary(self) -> str:
        if self.blowup_lr is None:
            return (f"the cost did not blow up up to {self.rates[-1]:.3g} (raise --max-lr); lowest cost at rate "
                    f"{self.min_lr:.3g}; suggested rate {self.suggested_lr:.3g}")
        return (f"cost lowest at rate {self.min_lr:.3g}, blows up from about {self.blowup_lr:.3g}; "
                f"suggested rate {self.suggested_lr:.3g} (half of it)")


class _RateSweep(Callback):
    """Raises the rate by `growth` after every mini-batch from `lr`, records (rate, cost, smoothed cost) and stops
    after `steps` batches or once the smoothed cost exceeds `stop_factor` × its minimum and its start."""

    reads_gradients = False

    def __init__(self, lr, growth, steps, beta, stop_factor):
        self.lr, self.growth, self.steps, self.beta, self.stop_factor = lr, growth, steps, beta, stop_factor
        self.rates, self.costs, self.smoothed = [], [], []
        self.avg, self.best = 0.0, math.inf

    def on_epoch_begin(self, trainer, epoch):
        trainer.optimizer.lr = self.lr  # after the schedule's callback, which sets the run's constant rate

    def on_batch_end(self, trainer, batch, cost):
        i = len(self.rates)
        self.avg = self.beta * self.avg + (1 - self.beta) * cost
        s = self.avg / (1 - self.beta ** (i + 1))
        self.rates.append(self.lr)
        self.costs.append(cost)
        self.smoothed.append(s)
        self.best = min(self.best, s)
        self.lr *= self.growth
        trainer.optimizer.lr = self.lr
        return len(self.rates) >= self.steps or (i > 10 and s > self.stop_factor * max(self.best, 1e-12)
                                                 and s > self.smoothed[0])


def lr_find(net, optimizer, X, y, *, batch_size=64, lr_min=1e-6, lr_max=10.0, steps=300, l2=0.0, seed=0,
            beta=0.9, stop_factor=4.0) -> LRFindResult:
    """Run the rate sweep on `net` (its weights change: pass a fresh or copied network) and return the curve
    and the suggestion. Stops early once the smoothed cost exceeds `stop_factor` × its minimum or the start."""
    if not (0 < lr_min < lr_max) or not all(map(math.isfinite, (lr_min, lr_max))):
        raise ValueError(f"lr-find needs 0 < min-lr < max-lr, got {lr_min!r} and {lr_max!r}")
    if not is_int(steps) or steps < 10:
        raise ValueError(f"lr-find needs at least 10 steps, got {steps!r}")
    positive_int(batch_size, "batch size")
    sweep = _RateSweep(lr_min, (lr_max / lr_min) ** (1 / (steps - 1)), steps, beta, stop_factor)
    optimizer.lr = lr_min
    epochs = math.ceil(steps * batch_size / max(len(X), 1)) + 1
    try:  # the trainer runs the sweep; the blow-up it is looking for ends the run as divergence
        net.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, l2=l2, seed=seed, verbose=0,
                callbacks=[sweep])
    except TrainingDiverged:
        pass
    rates, costs, smoothed = sweep.rates, sweep.costs, sweep.smoothed
    if len(rates) < 2:
        raise ValueError(f"the cost was not finite from the first step at rate {lr_min:g}: lower --min-lr")
    rates, costs, smoothed = map(np.array, (rates, costs, smoothed))
    k = int(np.argmin(smoothed))
    start = smoothed[0]
    limit = smoothed[k] + RISE * max(start - smoothed[k], 0.0)
    after = np.nonzero(smoothed[k:] > limit)[0]
    stopped_early = len(rates) < steps
    if len(after):
        blowup = float(rates[k + after[0]])
    elif stopped_early:
        blowup = float(rates[-1])
    else:
        blowup = None
    suggested = blowup / 2 if blowup is not None else float(rates[k])
    return LRFindResult(rates, costs, smoothed, float(rates[k]), blowup, suggested)


def plot_lr_find(result: LRFindResult, path) -> Path:
    """Cost against rate on a log axis, with the blow-up and suggested rates marked."""
    from ..report.plots import COLORS, figure, save_figure

    fig, ax = figure((6.5, 4.0))
    ax.plot(result.rates, result.costs, color=COLORS[7], alpha=0.4, linewidth=0.8, label="mini-batch cost")
    ax.plot(result.rates, result.smoothed, color=COLORS[0], label="smoothed cost")
    if result.blowup_lr is not None:
        ax.axvline(result.blowup_lr, color=COLORS[3], linestyle="--", label=f"blows up ≈ {result.blowup_lr:.3g}")
    ax.axvline(result.suggested_lr, color=COLORS[2], linestyle="-", label=f"suggested {result.suggested_lr:.3g}")
    ax.set_xscale("log")
    hi = np.nanmax(result.smoothed[: max(2, int(np.argmin(result.smoothed)) + 1)])
    ax.set_ylim(min(np.nanmin(result.smoothed), np.nanmin(result.costs)) * 0.9, max(hi, result.smoothed[0]) * 1.6)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("cost")
    ax.set_title("learning-rate finder")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def lr_find_run(recipe=None, config=None, overrides=None, *, lr_min=1e-6, lr_max=10.0, steps=300, plot=None,
                data=None) -> LRFindResult:
    """The finder for a run's settings (network, optimizer, batch size, L2) on its MNIST training data."""
    from ..runs.run import build_network, build_optimizer, mnist_data, resolve_settings

    cfg = resolve_settings(recipe, config, overrides)
    net, optimizer = build_network(cfg), build_optimizer(cfg)
    (X, y), _, _ = data if data is not None else mnist_data(cfg)
    result = lr_find(net, optimizer, X, y, batch_size=cfg["batch_size"], lr_min=lr_min, lr_max=lr_max,
                     steps=steps, l2=cfg["l2"], seed=cfg["seed"])
    if plot:
        result.paths["plot"] = plot_lr_find(result, plot)
    return result
