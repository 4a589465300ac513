"""Callbacks: the one way to hook into training (Keras-style). The trainer calls, in list order,

    on_train_begin(trainer)               before the first epoch
    on_epoch_begin(trainer, epoch)        epoch is 1-based
    on_batch_end(trainer, batch, cost)    after each optimizer step; batch is 1-based within the epoch
    on_epoch_end(trainer, epoch, logs)    logs: the epoch's metrics (train/val cost and accuracy, lr)
    on_train_end(trainer)                 always, also after an error (trainer.error is then set)

Returning True from on_train_begin, on_batch_end or on_epoch_end stops training after that batch or epoch.
on_batch_end's `cost` is what the network returned: a Python float on the CPU, a 0-d device array for a network
on a GPU (reading it, e.g. float(cost), waits for the device: do it sparingly); `trainer.batch_costs` holds
host floats, on a GPU up to `CHECK_EVERY` batches behind (see numnet.train.loop).
A callback with state to carry across a resume defines `state_dict()` / `load_state_dict(d)`; the checkpoint
stores it under the callback's `key`.

`trainer` exposes the run: net, optimizer, schedule, history, rng, epoch, epochs, batch_size, n_train,
batch_costs (this epoch's so far), logs, log (print function) and stop_reason.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..utils.backend import array_module
from ..utils.checks import number, positive_int
from .checkpoints import save_checkpoint
from .progress import EpochProgress


class TrainingDiverged(ValueError):
    """The cost became NaN or infinite, or exploded far above where it started: training stops instead of
    carrying on with a ruined network."""


#: a batch cost this many times the run's first batch cost (or 1, whichever is larger) counts as divergence
DIVERGENCE_FACTOR = 1e3


def _of_member(value, member):
    """A setting as one number: member `member`'s of K values, or the number itself."""
    return float(value[member]) if member is not None and np.ndim(value) else value


def divergence_hint(trainer, member=None) -> str:
    """The setting most likely to blame for a diverging run (of a population's `member`): the initialisation when
    the cost was never finite (the first mini-batch, before any update, overflowed: a huge init_std or bias_init,
    a tiny keep_prob), L2 when its weight decay alone overshoots (lr·λ/n ≥ 1 flips the weights' sign every
    step), otherwise the learning rate."""
    lr, l2 = _of_member(trainer.optimizer.lr, member), _of_member(trainer.l2, member)
    n = max(trainer.n_train, 1)
    if getattr(trainer, "first_cost", 0) is None and getattr(trainer, "epoch", 1) <= 1:
        return ("the cost was not finite from the first mini-batch, before training changed anything: the initial "
                "weights or biases (init_std, bias_init), a tiny dropout keep_prob or the inputs overflow")
    if l2 and (lr * l2 / n >= 1 or not math.isfinite(lr * l2 / n)):
        return f"the L2 regularisation is too strong (l2 {l2:g} with learning rate {lr:g}); lower l2"
    return f"learning rate {lr:g}; lower the learning rate"


class Callback:
    """Base class: every hook is optional; override the ones you need."""

    @property
    def reads_gradients(self) -> bool:
        """Whether this callback reads the layers' grads (then the trainer does not fuse SGD steps into the
        backward pass, which leaves weight grads unfilled). Assumed of any callback with an on_batch_end hook;
        one that does not read them says False."""
        return "on_batch_end" in vars(self) or type(self).on_batch_end is not Callback.on_batch_end

    @property
    def key(self) -> str:
        """Name of this callback's state in a checkpoint."""
        return type(self).__name__

    def on_train_begin(self, trainer):
        pass

    def on_epoch_begin(self, trainer, epoch):
        pass

    def on_batch_end(self, trainer, batch, cost):
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        pass

    def on_train_end(self, trainer):
        pass

    def state_dict(self):
        """JSON-serialisable state for checkpoints; None when there is none."""
        return None

    def load_state_dict(self, state) -> None:
        pass


class LambdaCallback(Callback):
    """A callback from plain functions: `LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: ...)`."""

    def __init__(self, **hooks):
        allowed = {"on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end"}
        unknown = set(hooks) - allowed
        if unknown:
            raise ValueError(f"unknown callback hook(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(allowed))}")
        for name, f in hooks.items():
            if not callable(f):
                raise ValueError(f"{name} must be callable")
            setattr(self, name, f)


# ---------------------------------------------------------------------------------------------- built in
class Monitor(Callback):
    """Measures cost (with the L2 term) and accuracy on the training set (when asked: a full extra pass) and
    the validation set after each epoch, into logs (with each task's accuracy, `val_task_accuracy`, when the
    validation targets are multi-task or multi-label); a non-finite cost stops the run with TrainingDiverged."""

    def __init__(self, training=None, validation=None):
        self.training, self.validation = training, validation  # (X, Y, labels), prepared

    def on_epoch_end(self, trainer, epoch, logs):
        net = trainer.net
        penalty = net.l2_penalty(trainer.l2, trainer.n_train)
        for prefix, data in (("train", self.training), ("val", self.validation)):
            cost = acc = None
            if data is not None:
                X, Y, labels = data
                total, correct = net.measure(X, Y, labels)
                cost, acc = total / len(X) + penalty, correct / len(X)
            logs[f"{prefix}_cost"], logs[f"{prefix}_accuracy"] = cost, acc
        finite = np.logical_and.reduce([np.isfinite(logs[k]) for k in ("train_cost", "val_cost")
                                        if logs[k] is not None] or [True])
        for member in ([None] if np.ndim(finite) == 0 else np.flatnonzero(~finite & trainer.active)):
            if member is not None or not finite:  # a population: the member stops alone; a network: the run
                trainer.diverge(f"training diverged: the monitored cost is not finite after epoch {epoch} "
                                f"({divergence_hint(trainer, member)})", member)
        logs["lr"] = trainer.optimizer.lr
        if self.validation is not None and self.validation[2] is None and net.n_out > 1:
            # multi-task or multi-label targets (no class labels): each output unit's accuracy on its labelled examples
            logs["val_task_accuracy"] = np.asarray(net.task_accuracy(*self.validation[:2]), dtype=float).tolist()
        return getattr(trainer, "all_stopped", False)


class RecordHistory(Callback):
    """Appends each epoch (logs, its time and every mini-batch cost) to trainer.history."""

    def on_epoch_end(self, trainer, epoch, logs):
        trainer.history.record(epoch, train_cost=logs.get("train_cost"), train_accuracy=logs.get("train_accuracy"),
                               val_cost=logs.get("val_cost"), val_accuracy=logs.get("val_accuracy"),
                               lr=trainer.optimizer.lr, epoch_time=time.perf_counter() - trainer.epoch_started,
                               batch_cost=trainer.batch_costs, val_task_accuracy=logs.get("val_task_accuracy"))


class LearningRateSchedule(Callback):
    """Sets optimizer.lr from the schedule before each epoch and tells it the validation accuracy after; stops
    when the schedule says so (Plateau below its floor)."""

    def __init__(self, schedule, lr0):
        self.schedule, self.lr0 = schedule, lr0

    def on_train_begin(self, trainer):
        return self.schedule.stopped

    def on_epoch_begin(self, trainer, epoch):
        if np.ndim(self.lr0):  # a population's rates stay K values, each scheduled as its member's alone
            trainer.optimizer.lr = np.array([self.schedule.lr(epoch - 1, float(v)) for v in self.lr0])
        else:
            trainer.optimizer.lr = float(self.schedule.lr(epoch - 1, self.lr0))

    def on_epoch_end(self, trainer, epoch, logs):
        if logs.get("val_accuracy") is not None:
            self.schedule.observe(logs["val_accuracy"])
        if self.schedule.stopped:
            trainer.stop_reason = f"learning rate fell to {self.schedule.lr(epoch, self.lr0):.3g}: stopping"
            return True
        return False


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs, and restore the
    weights of the best epoch (as scikit-learn does), also when the epochs run out first."""

    MONITORS = {"val_accuracy": "max", "val_cost": "min", "train_accuracy": "max", "train_cost": "min"}

    def __init__(self, patience=10, monitor="val_accuracy", min_delta=0.0, restore_best=True):
        try:
            self.patience = positive_int(patience, "early-stopping patience")
            self.min_delta = number(min_delta, "early-stopping min_delta", 0.0)
        except ValueError as e:
            raise ValueError(str(e).replace("finite number", "number >= 0")) from None
        # a metric object (numnet.train.metrics.ValidationMetric: name, mode, called with the network)
        self.metric = monitor if callable(monitor) and hasattr(monitor, "mode") else None
        if self.metric is None and monitor not in self.MONITORS:
            raise ValueError(f"early-stopping monitor must be one of {', '.join(self.MONITORS)} or a "
                             f"ValidationMetric, got {monitor!r}")
        self.monitor = monitor if self.metric is None else f"val_{self.metric.name}"
        self.restore_best = bool(restore_best)
        self.mode = self.metric.mode if self.metric is not None else self.MONITORS[monitor]
        self.best = None
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict | None = None
        self.stopped_epoch = 0

    def update(self, epoch: int, value, net) -> bool:
        """Record the epoch's metric; True when training should stop."""
        if value is None:
            raise ValueError(f"early stopping monitors {self.monitor!r}, which was not measured "
                             f"(give validation_data, or monitor_training=True for train_* metrics)")
        better = (self.best is None or (value > self.best + self.min_delta if self.mode == "max"
                                        else value < self.best - self.min_delta))
        if better:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = net.get_weights()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def restore(self, net) -> None:
        if self.restore_best and self.best_weights is not None:
            net.set_weights(self.best_weights)

    def on_epoch_end(self, trainer, epoch, logs):
        value = self.metric(trainer.net) if self.metric is not None else logs.get(self.monitor)
        if not self.update(epoch, value, trainer.net):
            return False
        self.restore(trainer.net)
        trainer.stop_reason = (f"early stopping: no improvement in {self.monitor} for {self.patience} epochs; "
                               f"restored the weights of epoch {self.best_epoch}")
        return True

    def on_train_end(self, trainer):
        history = trainer.history
        if trainer.error is None and not self.stopped_epoch and self.best_weights is not None and len(history) \
                and self.best_epoch != history.epoch[-1]:
            # the epochs ran out (or the schedule ended) before patience did: still end on the best weights
            self.restore(trainer.net)
            trainer.log(f"restored the weights of epoch {self.best_epoch} (best {self.monitor})")

    def config(self):
        return {"patience": self.patience, "monitor": self.monitor, "min_delta": self.min_delta,
                "restore_best": self.restore_best}

    def state_dict(self):
        """Its settings, progress and the best weights (as `arrays`, stored as arrays in a checkpoint)."""
        return {"config": self.config(), "best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "arrays": self.best_weights or {}}

    def load_state_dict(self, d):
        """Continue from a checkpoint's state when it monitored the same metric; otherwise start afresh."""
        try:
            if d["config"]["monitor"] != self.monitor:
                return
            self.best, self.best_epoch, self.wait = d["best"], int(d["best_epoch"]), int(d["wait"])
            self.best_weights = dict(d.get("arrays") or {}) or None
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"early-stopping state is damaged: {e}") from None


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.2f}%" if pct else f"{v:.4f}"


def epoch_loss(trainer) -> float | None:
    """The epoch's loss: the mean of its mini-batch costs (what `History.history["loss"]` holds; the progress
    bar's running cost weights the last, smaller batch by its size, a difference in the 4th decimal at most)."""
    return float(np.mean(trainer.batch_costs)) if trainer.batch_costs else None


class ConsoleLog(Callback):
    """One line per epoch, Keras-style: `epoch 3/20  [bar]  4.1s  loss 0.1234  val_loss 0.1100  val_accuracy
    97.10%  lr 0.2`, and the reason training stopped. `loss` is the epoch's mean mini-batch cost (`epoch_loss`);
    with training monitoring, `accuracy` is the training-set accuracy after the epoch. A progress bar still open
    is closed (erased) first, so the line never runs into it."""

    BAR_WIDTH = 20

    def on_epoch_end(self, trainer, epoch, logs):
        drawn = False
        for cb in trainer.callbacks:
            if isinstance(cb, ProgressBar):
                drawn = cb.finish() or drawn
        parts = [f"epoch {epoch}/{trainer.epochs}"]
        if getattr(trainer, "members", None) is not None:
            trainer.log("  ".join(parts + self._members(trainer, logs)))
            return
        if drawn:
            done = min(len(trainer.batch_costs) * trainer.batch_size, trainer.n_train)
            full = round(self.BAR_WIDTH * done / trainer.n_train)
            parts.append("\u2501" * full + " " * (self.BAR_WIDTH - full) + f" {done}/{trainer.n_train}")
        parts.append(f"{time.perf_counter() - trainer.epoch_started:.1f}s")
        loss = epoch_loss(trainer)
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if logs.get("train_accuracy") is not None:
            parts.append(f"accuracy {_fmt(logs['train_accuracy'], True)}")
        if logs.get("val_cost") is not None:
            parts.append(f"val_loss {_fmt(logs['val_cost'])}")
        if logs.get("val_accuracy") is not None:
            parts.append(f"val_accuracy {_fmt(logs['val_accuracy'], True)}")
        parts.append(f"lr {trainer.optimizer.lr:.4g}")
        trainer.log("  ".join(parts))

    def _members(self, trainer, logs) -> list[str]:
        """A population's epoch: members still training, the best running member's metrics, the time."""
        active = trainer.active
        parts = [f"{int(active.sum())}/{len(active)} members training"]
        key = "val_accuracy" if logs.get("val_accuracy") is not None else "train_accuracy"
        if logs.get(key) is not None and active.any():
            acc = np.where(active, logs[key], -np.inf)
            best = int(np.argmax(acc))
            parts.append(f"best {key.replace('_', ' ')} {_fmt(acc[best], True)} (member {best}), "
                         f"median {_fmt(float(np.median(np.asarray(logs[key])[active])), True)}")
        parts.append(f"{time.perf_counter() - trainer.epoch_started:.1f}s")
        for i in sorted(set(trainer.history.stopped) - getattr(self, "reported", set())):
            parts.append(f"\n  member {i} stopped: {trainer.history.stopped[i]}")
        self.reported = set(trainer.history.stopped)
        return parts

    def on_train_end(self, trainer):
        if trainer.stop_reason and trainer.error is None:
            trainer.log(trainer.stop_reason)


class ProgressBar(Callback):
    """A tqdm bar per epoch (examples, running cost, speed); drawn only on a terminal unless `enabled`.
    With a ConsoleLog, the log erases the finished bar and prints the epoch's line (bar included) in its place."""

    reads_gradients = False

    def __init__(self, enabled=None):
        self.enabled = enabled
        self._bar = None

    def on_epoch_begin(self, trainer, epoch):
        self._bar = EpochProgress(trainer.n_train, epoch, trainer.epochs, enabled=self.enabled)

    def on_batch_end(self, trainer, batch, cost):
        if getattr(cost, "ndim", 0):  # a population's K costs: the bar shows the best member's
            cost = array_module(cost).nanmin(cost)
        self._bar.update(min(trainer.batch_size, trainer.n_train - (batch - 1) * trainer.batch_size), cost)

    def finish(self) -> bool:
        """Erase this epoch's bar (for ConsoleLog's line); True when a bar was drawn."""
        bar, self._bar = self._bar, None
        if bar is None:
            return False
        bar.close(clear=True)
        return bar.enabled

    def on_epoch_end(self, trainer, epoch, logs):
        if self._bar is not None:
            self._bar.close()

    def on_train_end(self, trainer):
        if self._bar is not None:
            self._bar.close()


class ModelCheckpoint(Callback):
    """Writes `directory/checkpoint.npz` (network, optimizer and schedule with their state, RNG, history,
    every callback's state) and `history.json` after every epoch, so a run resumes exactly."""

    def __init__(self, directory):
        self.directory = directory

    def on_epoch_end(self, trainer, epoch, logs):
        save_checkpoint(self.directory, trainer)


__all__ = ["Callback", "LambdaCallback", "EarlyStopping", "ConsoleLog", "ProgressBar", "ModelCheckpoint",
           "Monitor", "RecordHistory", "LearningRateSchedule", "TrainingDiverged"]


class TaskAccuracy(Callback):
    """Per-task accuracy after every epoch, for multi-task outputs (one sigmoid unit per yes/no task, missing
    labels NaN): `values[e]` lists each task's accuracy over its labelled examples after epoch e + 1, also put
    in the epoch's logs as `<name>_task_accuracy`. Uses the network's `task_accuracy(X, Y)`."""

    def __init__(self, X, Y, name="val"):
        self.X, self.Y, self.name = X, Y, name
        self.values: list[list[float]] = []

    @property
    def key(self) -> str:
        return f"TaskAccuracy[{self.name}]"

    def on_epoch_end(self, trainer, epoch, logs):
        acc = [float(v) for v in trainer.net.task_accuracy(self.X, self.Y)]
        self.values.append(acc)
        logs[f"{self.name}_task_accuracy"] = acc

    def state_dict(self):
        return {"values": self.values}

    def load_state_dict(self, state) -> None:
        self.values = [list(v) for v in (state or {}).get("values", [])]
