"""The training loop: mini-batch gradient descent with any optimizer, L2, schedules, early stopping,
monitoring, augmentation and checkpoints that resume exactly.

Per epoch: shuffle (one permutation from the run's single random generator, unless `shuffle` says
otherwise), then for each mini-batch: gather its examples, optionally augment them, forward, cost, backward,
L2 (dW += (λ/n)·W, n the training-set size, weights only), one optimizer step. batch_size=1 is stochastic
gradient descent, batch_size=n is full-batch gradient descent.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_write, write_text_atomic
from .history import History
from .network import Network, _build, meta_from_arrays, read_npz
from .optimizers import SGD, Optimizer, make_optimizer
from .progress import EpochProgress
from .schedules import Constant, Schedule, from_config as schedule_from_config

CHECKPOINT_FILE = "checkpoint.npz"
CHECKPOINT_FORMAT = "numnet-checkpoint"
CHECKPOINT_VERSION = 1


class TrainingDiverged(ValueError):
    """The cost became NaN or infinite: training stops instead of carrying NaN on."""


# ---------------------------------------------------------------------------------------------- early stopping
class EarlyStopping:
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs, and restore the
    weights of the best epoch (as scikit-learn does)."""

    MONITORS = {"val_accuracy": "max", "val_cost": "min", "train_accuracy": "max", "train_cost": "min"}

    def __init__(self, patience=10, monitor="val_accuracy", min_delta=0.0, restore_best=True):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"early-stopping patience must be a positive integer, got {patience!r}")
        if monitor not in self.MONITORS:
            raise ValueError(f"early-stopping monitor must be one of {', '.join(self.MONITORS)}, got {monitor!r}")
        if not (isinstance(min_delta, (int, float)) and math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"early-stopping min_delta must be >= 0, got {min_delta!r}")
        self.patience, self.monitor, self.min_delta = int(patience), monitor, float(min_delta)
        self.restore_best = bool(restore_best)
        self.mode = self.MONITORS[monitor]
        self.best = None
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict | None = None
        self.stopped_epoch = 0

    def update(self, epoch: int, value, net: Network) -> bool:
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

    def restore(self, net: Network) -> None:
        if self.restore_best and self.best_weights is not None:
            net.set_weights(self.best_weights)

    def config(self):
        return {"patience": self.patience, "monitor": self.monitor, "min_delta": self.min_delta,
                "restore_best": self.restore_best}

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, d):
        try:
            self.best, self.best_epoch, self.wait = d["best"], int(d["best_epoch"]), int(d["wait"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"early-stopping state is damaged: {e}") from None


# ---------------------------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """Everything needed to continue a run exactly: network, optimizer (with state), schedule (with state),
    the random generator's state, the last finished epoch, the history and the run's settings."""

    network: Network
    optimizer: Optimizer
    schedule: Schedule
    lr0: float
    rng_state: dict
    epoch: int
    history: History
    settings: dict = field(default_factory=dict)
    early_stopping: dict | None = None
    best_weights: dict | None = None
    path: Path | None = None


def save_checkpoint(directory, net, optimizer, schedule, lr0, rng, epoch, history, settings,
                    early_stopping: EarlyStopping | None = None) -> Path:
    """Write `directory/checkpoint.npz` atomically (one file, so it is never half old and half new)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params = net.param_arrays()
    opt_states = optimizer.state_dict(params)
    arrays = {f"model.{k}": v for k, v in net._arrays().items()}
    opt_scalars = []
    for i, s in enumerate(opt_states):
        scalars = {}
        for k, v in s.items():
            if isinstance(v, np.ndarray):
                arrays[f"opt.{i}.{k}"] = v
            else:
                scalars[k] = v
        opt_scalars.append(scalars)
    es = None
    if early_stopping is not None:
        es = {"config": early_stopping.config(), "state": early_stopping.state_dict()}
        if early_stopping.best_weights is not None:
            arrays.update({f"best.{k}": v for k, v in early_stopping.best_weights.items()})
    meta = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": epoch,
        "model": net._architecture(),
        "optimizer": {"config": optimizer.config(), "has_state": [bool(s) for s in opt_states],
                      "scalars": opt_scalars},
        "schedule": {"config": schedule.config(), "state": schedule.state_dict()},
        "lr0": lr0, "rng": rng.bit_generator.state, "history": history.to_dict(),
        "settings": settings, "early_stopping": es,
    }
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = directory / CHECKPOINT_FILE
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)
    history.save(directory / "history.json")
    return path


def load_checkpoint(directory) -> Checkpoint:
    """Read a checkpoint directory written by `fit(checkpoint_dir=...)`; a missing or damaged one is an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {directory}")
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {directory}: not a numnet checkpoint directory")
    arrays = read_npz(path, "checkpoint")
    meta = meta_from_arrays(arrays, path)
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a numnet checkpoint")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint version {meta.get('version')!r}")
    for key in ("epoch", "model", "optimizer", "schedule", "lr0", "rng", "history", "settings"):
        if key not in meta:
            raise ValueError(f"{path}: checkpoint is damaged: missing field {key!r}")
    net = _build(meta["model"], {k[6:]: v for k, v in arrays.items() if k.startswith("model.")}, source=str(path))
    try:
        oc = dict(meta["optimizer"]["config"])
        optimizer = make_optimizer(oc.pop("name"), **oc)
        params = net.param_arrays()
        states = []
        for i, (has, scalars) in enumerate(zip(meta["optimizer"]["has_state"], meta["optimizer"]["scalars"])):
            if not has:
                states.append({})
                continue
            s = dict(scalars)
            s.update({k.split(".", 2)[2]: v for k, v in arrays.items() if k.startswith(f"opt.{i}.")})
            states.append(s)
        optimizer.load_state_dict(params, states)
        schedule = schedule_from_config(meta["schedule"]["config"])
        schedule.load_state_dict(meta["schedule"]["state"])
        history = History.from_dict(meta["history"])
        epoch = int(meta["epoch"])
        lr0 = float(meta["lr0"])
        np.random.default_rng().bit_generator.state = meta["rng"]  # validates the saved state
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: checkpoint is damaged: {e!r}") from None
    except ValueError as e:
        raise ValueError(f"{path}: checkpoint is damaged: {e}") from None
    best = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")} or None
    return Checkpoint(network=net, optimizer=optimizer, schedule=schedule, lr0=lr0, rng_state=meta["rng"],
                      epoch=epoch, history=history, settings=meta["settings"],
                      early_stopping=meta.get("early_stopping"), best_weights=best, path=directory)


# ---------------------------------------------------------------------------------------------- fit
def _positive_int(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{what} must be a positive integer, got {v!r}")
    return int(v)


def _augmented(augment, xb, rng, dtype):
    out = augment(xb, rng)
    if not isinstance(out, np.ndarray) or out.shape != xb.shape:
        raise ValueError(f"augment must return an array of shape {xb.shape}, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return out if out.dtype == dtype else out.astype(dtype)


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.2f}%" if pct else f"{v:.4f}"


def _epoch_order(shuffle, epoch, n, rng):
    """The order in which an epoch visits the n training examples (see `fit`'s shuffle)."""
    if shuffle is True:
        return rng.permutation(n)
    if shuffle is False:
        return np.arange(n)
    order = np.asarray(shuffle(epoch, n))
    if order.shape != (n,) or order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"shuffle({epoch}, {n}) must return a permutation of 0..{n - 1} (integers, shape ({n},)), "
                         f"got a {order.dtype} array of shape {order.shape}")
    return order


def fit(net: Network, X, y, epochs, batch_size=10, optimizer=None, l2=0.0, validation_data=None, seed=None,
        verbose=None, schedule=None, early_stopping=None, monitor_training=False, augment=None,
        checkpoint_dir=None, resume=None, on_epoch_end=None, progress=None, log=None, shuffle=True) -> History:
    """Train `net` on (X, y) and return the History.

    epochs: total number of epochs (with `resume`, training continues from the checkpoint's epoch to this).
    optimizer: an Optimizer (default SGD(0.1)). schedule: a Schedule setting optimizer.lr each epoch from the
    initial rate. early_stopping: an EarlyStopping or a patience (int) on validation accuracy.
    monitor_training: also evaluate cost and accuracy on the training set each epoch (a full extra pass).
    augment: callable (X_batch, rng) -> X_batch applied to each mini-batch's inputs (fresh each epoch).
    checkpoint_dir: write a checkpoint after every epoch. resume: a Checkpoint or checkpoint directory.
    on_epoch_end: callable (epoch, history) called after every epoch; returning True stops training.
    verbose: 0 silent, 1 a line per epoch, 2 also a progress bar (shown only on a terminal).
    shuffle: True (a fresh random order every epoch, from `seed`), False (the data's own order every epoch),
    or a callable (epoch, n) -> the order of the n examples in that epoch (0-based epoch; a permutation of
    0..n-1), e.g. to replay another program's mini-batches.
    """
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    try:
        l2 = float(l2)
    except (TypeError, ValueError):
        raise ValueError(f"l2 must be a number >= 0, got {l2!r}") from None
    if not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    verbose = 0 if verbose is None else int(verbose)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (shuffle is True or shuffle is False or callable(shuffle)):
        raise ValueError(f"shuffle must be True, False or a callable (epoch, n) -> order, got {shuffle!r}")
    if augment is not None and not callable(augment):
        raise ValueError("augment must be a callable (X, rng) -> X")
    X = net._check_X(X, "training X")
    n = len(X)
    if n == 0:
        raise ValueError("training set is empty")
    Y, labels = net._targets(y, n, "training y")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        Xv = net._check_X(validation_data[0], "validation X")
        Yv, labels_v = net._targets(validation_data[1], len(Xv), "validation y")
        if len(Xv) == 0:
            validation_data = None
    if isinstance(early_stopping, (int, np.integer)) and not isinstance(early_stopping, bool):
        early_stopping = EarlyStopping(patience=int(early_stopping))
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise ValueError("early_stopping must be an EarlyStopping or a patience (positive integer)")
    if early_stopping is not None and early_stopping.monitor.startswith("val") and validation_data is None:
        raise ValueError("early stopping on a validation metric needs validation_data")
    if early_stopping is not None and early_stopping.monitor.startswith("train"):
        monitor_training = True

    # ---- state: fresh, or continued from a checkpoint
    rng = np.random.default_rng(seed)
    start_epoch = 0
    history = History()
    if resume is not None:
        ckpt = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
        if ckpt.network is not net:
            if [l.name for l in ckpt.network.layers] != [l.name for l in net.layers] or \
                    ckpt.network.sizes != net.sizes:
                raise ValueError("the checkpoint's network does not match this network's architecture")
            net.set_weights(ckpt.network._arrays())
        params = net.param_arrays()
        if optimizer is None:
            optimizer = ckpt.optimizer
            optimizer.load_state_dict(params, ckpt.optimizer.state_dict(ckpt.network.param_arrays()))
            lr0 = ckpt.lr0
        else:
            if type(optimizer) is type(ckpt.optimizer):  # same kind: keep its moments, take the new settings
                optimizer.load_state_dict(params, ckpt.optimizer.state_dict(ckpt.network.param_arrays()))
            lr0 = optimizer.lr
        if schedule is None:
            schedule = ckpt.schedule
        elif type(schedule) is type(ckpt.schedule) and schedule.config() == ckpt.schedule.config():
            schedule.load_state_dict(ckpt.schedule.state_dict())
        rng.bit_generator.state = ckpt.rng_state
        start_epoch = ckpt.epoch
        history = ckpt.history
        history.truncate(start_epoch)
        if early_stopping is not None and ckpt.early_stopping and \
                ckpt.early_stopping["config"]["monitor"] == early_stopping.monitor:
            early_stopping.load_state_dict(ckpt.early_stopping["state"])
            early_stopping.best_weights = ckpt.best_weights
    if optimizer is None:
        optimizer = SGD(0.1)
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be a numnet Optimizer (e.g. numnet.SGD(0.1)), got {optimizer!r}")
    if resume is None:
        lr0 = optimizer.lr
    if schedule is None:
        schedule = Constant()
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a numnet Schedule, got {schedule!r}")
    settings = {"epochs": epochs, "batch_size": batch_size, "l2": l2, "seed": seed,
                "monitor_training": bool(monitor_training), "n_train": n}

    stochastic = [layer for layer in net.layers if layer.stochastic]
    for layer in stochastic:
        layer.rng = rng
    params, grads = net.param_arrays(), net.grad_arrays()
    decayed = [(layer.params[k], layer.grads[k]) for layer in net.layers for k in layer.decay]
    l2_scale = l2 / n
    cost, last = net.cost, net.layers[-1]
    fused = cost.fuses(last)
    say = log or (lambda msg: print(msg, flush=True))
    show_bar = progress if progress is not None else (None if verbose >= 2 else False)

    for epoch in range(start_epoch, epochs):
        if schedule.stopped:
            break
        t0 = time.perf_counter()
        optimizer.lr = lr = float(schedule.lr(epoch, lr0))
        perm = _epoch_order(shuffle, epoch, n, rng)
        batch_costs = []
        record = batch_costs.append
        bar = EpochProgress(n, epoch + 1, epochs, enabled=show_bar) if verbose >= 2 else None
        with np.errstate(over="ignore", under="ignore"):
            for start in range(0, n, batch_size):
                idx = perm[start:start + batch_size]
                xb = X.take(idx, axis=0)  # gathering per batch is cheaper than copying a shuffled epoch
                yb = Y.take(idx, axis=0)
                if augment is not None:
                    xb = _augmented(augment, xb, rng, net.dtype)
                a, z = net._forward(xb, True)
                c = cost.value(a, yb, z if fused else None)
                if not math.isfinite(c):
                    if bar is not None:
                        bar.close()
                    raise TrainingDiverged(
                        f"training diverged: the cost became {c} at epoch {epoch + 1}, batch "
                        f"{start // batch_size + 1} (learning rate {lr:g}); lower the learning rate")
                net._backward(a, yb)
                if l2_scale:
                    for p, g in decayed:
                        g += l2_scale * p
                optimizer.step(params, grads)
                record(c)
                if bar is not None:
                    bar.update(len(xb), c)
        if bar is not None:
            bar.close()
        # ---- monitoring
        penalty = net.l2_penalty(l2, n)
        tc = ta = vc = va = None
        if monitor_training:
            total, correct = net._cost_and_correct(X, Y, labels)
            tc, ta = total / n + penalty, correct / n
        if validation_data is not None:
            total, correct = net._cost_and_correct(Xv, Yv, labels_v)
            vc, va = total / len(Xv) + penalty, correct / len(Xv)
        if not all(math.isfinite(v) for v in (tc, vc) if v is not None):
            raise TrainingDiverged(f"training diverged: the monitored cost is not finite after epoch {epoch + 1}")
        history.record(epoch + 1, train_cost=tc, train_accuracy=ta, val_cost=vc, val_accuracy=va, lr=lr,
                       epoch_time=time.perf_counter() - t0, batch_cost=batch_costs)
        if validation_data is not None:
            schedule.observe(va)
        stop = False
        if early_stopping is not None:
            metric = {"val_accuracy": va, "val_cost": vc, "train_accuracy": ta, "train_cost": tc}
            stop = early_stopping.update(epoch + 1, metric[early_stopping.monitor], net)
        if verbose >= 1:
            parts = [f"epoch {epoch + 1}/{epochs}"]
            if monitor_training:
                parts.append(f"train cost {_fmt(tc)} acc {_fmt(ta, True)}")
            else:
                parts.append(f"batch cost {np.mean(batch_costs):.4f}")
            if validation_data is not None:
                parts.append(f"val cost {_fmt(vc)} acc {_fmt(va, True)}")
            parts.append(f"lr {lr:.4g}")
            parts.append(f"{history.epoch_time[-1]:.1f}s")
            say("  ".join(parts))
        if stop:
            early_stopping.restore(net)
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, net, optimizer, schedule, lr0, rng, epoch + 1, history, settings,
                            early_stopping)
        if on_epoch_end is not None and on_epoch_end(epoch + 1, history) is True:
            break  # the callback asked to stop
        if stop:
            if verbose >= 1:
                say(f"early stopping: no improvement in {early_stopping.monitor} for {early_stopping.patience} "
                    f"epochs; restored the weights of epoch {early_stopping.best_epoch}")
            break
        if schedule.stopped and verbose >= 1:
            say(f"learning rate fell to {schedule.lr(epoch + 1, lr0):.3g}: stopping")
    if early_stopping is not None and not early_stopping.stopped_epoch and early_stopping.best_weights is not None \
            and len(history) and early_stopping.best_epoch != history.epoch[-1]:
        # the epochs ran out (or the schedule ended) before patience did: still end on the best weights
        early_stopping.restore(net)
        if verbose >= 1:
            say(f"restored the weights of epoch {early_stopping.best_epoch} (best {early_stopping.monitor})")
    return history
