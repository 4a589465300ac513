"""The learning-rate finder: train for a few hundred mini-batches while the rate rises exponentially from
`lr_min` to `lr_max`; the (smoothed) cost falls, flattens, then blows up. The blow-up rate is where the cost,
after its minimum, has climbed back a fifth of the way to where it started (Nielsen's threshold: the rate
at which the cost starts to rise); the suggested rate is half of it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def lr_find(net, optimizer, X, y, *, batch_size=64, lr_min=1e-6, lr_max=10.0, steps=300, l2=0.0, seed=0,
            beta=0.9, stop_factor=4.0) -> LRFindResult:
    """Run the rate sweep on `net` (its weights change: pass a fresh or copied network) and return the curve
    and the suggestion. Stops early once the smoothed cost exceeds `stop_factor` × its minimum or the start."""
    if not (0 < lr_min < lr_max) or not all(map(math.isfinite, (lr_min, lr_max))):
        raise ValueError(f"lr-find needs 0 < min-lr < max-lr, got {lr_min!r} and {lr_max!r}")
    if not is_int(steps) or steps < 10:
        raise ValueError(f"lr-find needs at least 10 steps, got {steps!r}")
    positive_int(batch_size, "batch size")
    X = net.prepare_inputs(X)
    Y, _ = net.prepare_targets(y, len(X))
    n = len(X)
    rng = np.random.default_rng(seed)
    params, grads = net.param_arrays(trainable=True), net.grad_arrays(trainable=True)
    growth = (lr_max / lr_min) ** (1 / (steps - 1))
    rates, costs, smoothed = [], [], []
    avg, best, order, pos = 0.0, math.inf, rng.permutation(n), 0
    for i in range(steps):
        lr = lr_min * growth ** i
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        optimizer.lr = lr
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # the sweep is meant to blow up
            c = net.backprop(X.take(idx, axis=0), Y.take(idx, axis=0), True, rng, l2, n)
        if not math.isfinite(c):
            break
        optimizer.step(params, grads)
        avg = beta * avg + (1 - beta) * c
        s = avg / (1 - beta ** (i + 1))
        rates.append(lr)
        costs.append(c)
        smoothed.append(s)
        best = min(best, s)
        if i > 10 and s > stop_factor * max(best, 1e-12) and s > smoothed[0]:
            break
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
