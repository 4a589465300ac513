"""Learning-rate schedules: α for each 0-based epoch given the optimizer's initial rate α0.

A schedule is passed to ``Network.fit(schedule=...)``; the training loop calls
``lr(epoch, lr0)`` before each epoch, ``observe(metric)`` after it, and stops once
``stopped`` is True. Schedules are built by name through the ``SCHEDULES`` registry.
"""
from __future__ import annotations

import inspect
import math

__all__ = [
    "Schedule", "Constant", "InverseTimeDecay", "ExponentialDecay", "StepDecay",
    "CosineDecay", "Plateau", "InverseSqrtDecay", "SCHEDULES", "make_schedule", "from_config",
]


from ..utils.checks import int_at_least, number
from ..utils.registry import Registry

SCHEDULES = Registry("schedule")


# ----------------------------------------------------------------------------- schedules

class Schedule:
    """Base class: subclasses set `name` and implement `_rate(epoch, lr0)`."""

    name = ""

    def lr(self, epoch: int, lr0: float) -> float:
        """Learning rate α to use during 0-based `epoch`, given the initial rate α0 = lr0."""
        epoch = int_at_least(epoch, "epoch", 0)
        lr0 = number(lr0, "lr0", low=0.0, low_open=True)
        return float(self._rate(epoch, lr0))

    def _rate(self, epoch: int, lr0: float) -> float:
        raise NotImplementedError

    def observe(self, metric: float | None) -> None:
        """Told the monitored validation metric (higher is better) after every epoch."""

    @property
    def stopped(self) -> bool:
        """True when the schedule says training should end."""
        return False

    def config(self) -> dict:
        """`{"name": ..., **constructor params}`: enough for `from_config` to rebuild it."""
        params = inspect.signature(type(self)).parameters
        return {"name": self.name, **{p: getattr(self, p) for p in params}}

    def state_dict(self) -> dict:
        """JSON-serialisable mutable state, for checkpoints (only Plateau has any)."""
        return {"name": self.name}

    def load_state_dict(self, d: dict) -> None:
        """Restore the state saved by `state_dict`, validating every field."""
        self._check_state(d, ())

    def _check_state(self, d, fields) -> None:
        if not isinstance(d, dict):
            raise ValueError(f"schedule state must be a dict, got {type(d).__name__}")
        expected = {"name", *fields}
        missing = sorted(expected - d.keys())
        if missing:
            raise ValueError(f"{self.name} schedule state is missing field(s): {', '.join(missing)}")
        unknown = sorted(set(d) - expected)
        if unknown:
            raise ValueError(f"{self.name} schedule state has unknown field(s): {', '.join(map(str, unknown))}")
        if d["name"] != self.name:
            raise ValueError(f"schedule state field 'name' is {d['name']!r}, expected {self.name!r}")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({params})"


@SCHEDULES.register
class Constant(Schedule):
    """α = α0 for every epoch."""

    name = "constant"

    def _rate(self, epoch, lr0):
        return lr0


@SCHEDULES.register
class InverseTimeDecay(Schedule):
    """α = α0 / (1 + decay·epoch), the form used in Andrew Ng's course."""

    name = "inverse_time"

    def __init__(self, decay: float = 1.0):
        self.decay = number(decay, "decay", low=0.0)

    def _rate(self, epoch, lr0):
        return lr0 / (1.0 + self.decay * epoch)


@SCHEDULES.register
class InverseSqrtDecay(Schedule):
    """α = k / √(epoch number) · α0 = α0 · k / √(epoch + 1), one of the course's decay forms (k = 1: α0 at the
    first epoch)."""

    name = "inverse_sqrt"

    def __init__(self, k: float = 1.0):
        self.k = number(k, "k", low=0.0, low_open=True)

    def _rate(self, epoch, lr0):
        return lr0 * self.k / math.sqrt(epoch + 1)


@SCHEDULES.register
class ExponentialDecay(Schedule):
    """α = α0 · rate^epoch, with 0 < rate <= 1."""

    name = "exponential"

    def __init__(self, rate: float = 0.95):
        self.rate = number(rate, "rate", low=0.0, low_open=True, high=1.0)

    def _rate(self, epoch, lr0):
        return lr0 * self.rate ** epoch


@SCHEDULES.register
class StepDecay(Schedule):
    """α = α0 · factor^floor(epoch / step): multiply by `factor` every `step` epochs."""

    name = "step"

    def __init__(self, step: int = 10, factor: float = 0.5):
        self.step = int_at_least(step, "step", 1)
        self.factor = number(factor, "factor", low=0.0, low_open=True, high=1.0)

    def _rate(self, epoch, lr0):
        return lr0 * self.factor ** (epoch // self.step)


@SCHEDULES.register
class CosineDecay(Schedule):
    """α = min_lr + (α0 − min_lr)(1 + cos(π·min(epoch, epochs)/epochs))/2: α0 down to min_lr."""

    name = "cosine"

    def __init__(self, epochs: int, min_lr: float = 0.0):
        self.epochs = int_at_least(epochs, "epochs", 1)
        self.min_lr = number(min_lr, "min_lr", low=0.0)

    def _rate(self, epoch, lr0):
        if self.min_lr > lr0:
            raise ValueError(f"cosine schedule min_lr ({self.min_lr:g}) must be <= the initial "
                             f"learning rate lr0 ({lr0:g})")
        t = min(epoch, self.epochs) / self.epochs
        return self.min_lr + (lr0 - self.min_lr) * (1.0 + math.cos(math.pi * t)) / 2.0


@SCHEDULES.register
class Plateau(Schedule):
    """Nielsen's rule: halve α (× factor) whenever the metric has not improved by more than
    min_delta for `patience` epochs; stop once α <= α0 · min_fraction (α0/1024 by default)."""

    name = "plateau"

    def __init__(self, patience: int = 10, factor: float = 0.5,
                 min_fraction: float = 1 / 1024, min_delta: float = 0.0):
        self.patience = int_at_least(patience, "patience", 1)
        self.factor = number(factor, "factor", low=0.0, low_open=True, high=1.0, high_open=True)
        self.min_fraction = number(min_fraction, "min_fraction", low=0.0, low_open=True,
                                    high=1.0, high_open=True)
        self.min_delta = number(min_delta, "min_delta", low=0.0)
        self.best: float | None = None   # best metric seen so far
        self.wait = 0                    # epochs since the last improvement (or reduction)
        self.reductions = 0              # times the rate has been multiplied by factor

    def _rate(self, epoch, lr0):
        return lr0 * self.factor ** self.reductions

    def observe(self, metric):
        if metric is None:
            raise ValueError("the plateau schedule needs validation data: it monitors the "
                             "validation metric, but none was given (metric is None)")
        metric = number(metric, "metric")
        if self.stopped:
            return
        if self.best is None or metric > self.best + self.min_delta:
            self.best, self.wait = metric, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.reductions += 1
            self.wait = 0

    @property
    def stopped(self):
        # the relative slack absorbs rounding, e.g. 0.1**3 = 0.0010000000000000002 vs 0.001
        return self.factor ** self.reductions <= self.min_fraction * (1 + 1e-9)

    def state_dict(self):
        return {"name": self.name, "best": self.best, "wait": self.wait, "reductions": self.reductions}

    def load_state_dict(self, d):
        self._check_state(d, ("best", "wait", "reductions"))
        best = None if d["best"] is None else number(d["best"], "state field 'best'")
        wait = int_at_least(d["wait"], "state field 'wait'", 0)
        if wait >= self.patience:
            raise ValueError(f"state field 'wait' must be < patience ({self.patience}), got {wait}")
        reductions = int_at_least(d["reductions"], "state field 'reductions'", 0)
        self.best, self.wait, self.reductions = best, wait, reductions


# ----------------------------------------------------------------------------- by name

def make_schedule(name: str, **params) -> Schedule:
    """Build a schedule from its registry name ("step", "inverse-time", ...) and parameters."""
    return SCHEDULES.create(name, **params)


def from_config(d: dict) -> Schedule:
    """Rebuild a schedule from `Schedule.config()` output."""
    if not isinstance(d, dict) or "name" not in d:
        raise ValueError(f"schedule config must be a dict with a 'name' field, got {d!r}")
    params = {k: v for k, v in d.items() if k != "name"}
    return make_schedule(d["name"], **params)
