"""The training loop: mini-batch gradient descent with any optimizer; everything else hooks in as a callback.

Per epoch: shuffle (one permutation from the run's single random generator, unless `shuffle` says
otherwise), then for each mini-batch: gather its examples, optionally augment them, forward, cost, backward
(with L2's (λ/n)·W, n the training-set size, added by the network), one optimizer step. batch_size=1 is
stochastic gradient descent, batch_size=n is full-batch gradient descent.

The model is used only through its public interface (prepare_inputs, prepare_targets, backprop, measure,
param_arrays, trainable_parameters, ...), so this package does not import the network module.

On a GPU (a network moved with `to("cuda")`) the training set is placed on the device once, by
`prepare_inputs`, and nothing waits for the device per batch: batch costs stay on it as 0-d arrays and are
read together every CHECK_EVERY batches and at the epoch's end, when divergence is checked (so a diverging
run stops up to CHECK_EVERY batches later than on the CPU, with the same message). On the CPU every batch
is checked before its step, as always.

A population (a model with `members` = K: every array carries a leading member axis, see `numnet.Population`)
trains through the same loop: its batch costs, metrics and learning rates are K values, its History is one per
member (`MemberHistories`), and a member that diverges is stopped alone: its arrays are kept as they were when it
diverged (restored after every later step) and the reason recorded, while the others train on; the run ends
when every member has stopped.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from ..utils.backend import CPU, array_module, device_generator, device_of, to_device, to_host
from ..utils.checks import number, positive_int, seed as check_seed
from .callbacks import (DIVERGENCE_FACTOR, Callback, ModelCheckpoint, ConsoleLog, EarlyStopping, LambdaCallback,
                        LearningRateSchedule, Monitor, ProgressBar, RecordHistory, TrainingDiverged, divergence_hint)
from .checkpoints import Checkpoint as CheckpointState, load_checkpoint
from .history import History, MemberHistories
from .optimizers import SGD, Optimizer
from .schedules import Constant, Schedule


#: training examples whose outputs are compared after each epoch (constant outputs: the run has died)
PROBE = 256
#: on a device, batch costs are read (and divergence checked) every this many batches and at each epoch's end
CHECK_EVERY = 50


class Trainer:
    """One training run's state and its loop; callbacks read and steer it (see `numnet.train.callbacks`)."""

    def __init__(self, net, X, Y, epochs, batch_size, optimizer, schedule, lr0, rng, l2=0.0, callbacks=(),
                 augment=None, shuffle=True, history=None, start_epoch=0, settings=None, log=print):
        self.net, self.X, self.Y = net, X, Y
        self.epochs, self.batch_size, self.n_train = epochs, batch_size, len(X)
        self.optimizer, self.schedule, self.lr0, self.rng, self.l2 = optimizer, schedule, lr0, rng, l2
        self.callbacks = list(callbacks)
        self.augment, self.shuffle = augment, shuffle
        self.history = history if history is not None else History()
        self.start_epoch, self.epoch = start_epoch, start_epoch
        self.settings = settings or {}
        self.log = log
        self.members = getattr(net, "members", None)  # K for a population (per-member values), None for a network
        if history is None:
            self.history = History() if self.members is None else MemberHistories(self.members)
        self.active = None if self.members is None else np.ones(self.members, dtype=bool)  # members still training
        self._frozen: dict[int, dict] = {}  # stopped member -> its arrays when it stopped
        self.batch_costs: list[float] = []
        self.epoch_started = time.perf_counter()
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self.first_cost: float | None = None  # this run's first batch cost: the yardstick for divergence
        # the explicit training state (besides the network's own parameters): the trainable parameters in
        # order, the optimizer's state for them, the last step's gradients and the buffers they are evaluated in
        self.params: list = []
        self.opt_state: list[dict] = []
        self.grads: list = []
        self._buffers: list = []

    def _fire(self, hook, *args) -> bool:
        stop = False
        for cb in self.callbacks:
            stop = getattr(cb, hook)(self, *args) is True or stop
        return stop

    def _outputs_vary(self):
        """Whether the network's outputs differ between (a few) training inputs; outputs that are exactly the
        same for every input (dead ReLUs, saturated sigmoids) mean the network can no longer learn. A population:
        one answer per member (a host bool array)."""
        xp = array_module(self.X)
        with np.errstate(all="ignore"):
            a = self.net.forward_pass(self.X[:PROBE])[0]
        if self.members is None:
            return len(a) < 2 or bool(xp.any(xp.ptp(a, axis=0) > 0)) or not bool(xp.isfinite(a).all())
        if a.shape[-2] < 2:
            return np.ones(self.members, dtype=bool)
        return to_host(xp.any(xp.ptp(a, axis=-2) > 0, axis=-1) | ~xp.isfinite(a).all(axis=(-2, -1)))

    def diverge(self, message: str, member=None) -> None:
        """Training diverged: a network's run stops with TrainingDiverged; a population's `member` stops alone
        (frozen at its arrays of now, the reason in the History), the others train on."""
        if self.members is None:
            raise TrainingDiverged(message)
        if not self.active[member]:
            return
        self.active[member] = False
        self._frozen[member] = {k: v[member].copy() for k, v in self.net.arrays().items()}
        self.history.stop(member, message)

    def _restore_frozen(self) -> None:
        """Put every stopped member's arrays back as they were when it stopped (the step just moved them)."""
        arrays = self.net.arrays()
        for i, saved in self._frozen.items():
            for k, v in saved.items():
                arrays[k][i] = v

    @property
    def all_stopped(self) -> bool:
        """True when every member of a population has stopped (never for a network)."""
        return self.active is not None and not self.active.any()

    def run(self) -> History:
        try:
            # a network constant from the start, or data with one target for all, is not diverging when constant
            xp = array_module(self.Y)
            self.outputs_varied = self._outputs_vary() & bool(xp.any(xp.ptp(self.Y[:PROBE], axis=0) > 0))
            stop = self._fire("on_train_begin")
            while not stop and self.epoch < self.epochs:
                self.epoch += 1
                self.epoch_started = time.perf_counter()
                self._fire("on_epoch_begin", self.epoch)
                stop = self._run_epoch()
                logs = self.logs = {}
                stop = self._fire("on_epoch_end", self.epoch, logs) or stop
        except BaseException as e:
            self.error = e
            raise
        finally:
            self._fire("on_train_end")
        return self.history

    def _run_epoch(self) -> bool:
        """One pass over the training set; True when a callback asked to stop after a batch."""
        net, optimizer = self.net, self.optimizer
        self.params = net.param_arrays(trainable=True)
        self.opt_state = optimizer.state_for(self.params)  # the explicit state each step reads and updates
        # weight gradients stay lazy products for an optimizer that folds them into its step, unless a callback
        # reads them; else they are evaluated into buffers kept for the run
        lazy = optimizer.takes_products and not any(cb.reads_gradients for cb in self.callbacks)
        if not lazy and [b.shape for b in self._buffers] != [p.shape for p in self.params]:
            self._buffers = [array_module(p).empty_like(p) for p in self.params]
        batch_hooks = [cb for cb in self.callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
        order = to_device(epoch_order(self.shuffle, self.epoch - 1, self.n_train, self.rng), device_of(self.X))
        self.batch_costs = costs = []
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # divergence is checked, not warned
            stopped = self._batches(order, batch_hooks, costs, None if lazy else self._buffers, lazy)
        if stopped:
            return True
        if self.members is not None:
            for i in np.flatnonzero(self.outputs_varied & ~self._outputs_vary() & self.active):
                self.diverge(self._dead_message(i), i)
            if self._frozen:
                self._restore_frozen()
            return self.all_stopped
        if self.outputs_varied and not self._outputs_vary():
            raise TrainingDiverged(self._dead_message())
        return False

    def _dead_message(self, member=None) -> str:
        return (f"training diverged: after epoch {self.epoch} the network gives the same output for every input "
                f"(dead or saturated units; {divergence_hint(self, member)})")

    def _batches(self, order, batch_hooks, costs, out, lazy) -> bool:
        """The mini-batch steps of one epoch; True when a callback asked to stop after a batch. Batch costs
        are checked and recorded before each step on the CPU, every CHECK_EVERY batches on a device."""
        net, X, Y, optimizer, rng, n, bs = self.net, self.X, self.Y, self.optimizer, self.rng, self.n_train, self.batch_size
        augment, l2, every = self.augment, self.l2, 1 if device_of(X) == CPU else CHECK_EVERY
        params, state = self.params, self.opt_state
        batch_rng, pending = device_generator(rng, array_module(X)), []  # dropout on a device: a device generator
        for b, start in enumerate(range(0, n, bs), 1):
            idx = order[start:start + bs]
            xb = X.take(idx, axis=0)  # gathering per batch is cheaper than copying a shuffled epoch
            yb = Y.take(idx, axis=0)
            if augment is not None:
                xb = _augmented(augment, xb, rng, net.dtype)
            c, self.grads = net.backprop(xb, yb, True, batch_rng, l2, n, out, lazy)
            pending.append(c)
            if len(pending) == every:
                self._check(pending, b, costs)
            optimizer.step(params, self.grads, state)
            if self._frozen:
                self._restore_frozen()
                if self.all_stopped:
                    return True
            if batch_hooks and any([cb.on_batch_end(self, b, c) is True for cb in batch_hooks]):
                self._check(pending, b, costs)
                return True
        self._check(pending, b, costs)
        return self.all_stopped

    def _check(self, pending, last, costs) -> None:
        """Read the pending batch costs (the batches up to `last`) to the host, one wait on a device; stop with
        TrainingDiverged at the first that is not finite or far above the run's first; else append them to
        `costs` and empty `pending`."""
        if not pending:
            return
        if self.members is not None:
            return self._check_members(pending, last, costs)
        values = pending if isinstance(pending[0], float) else [float(v) for v in to_host(  # host costs: floats
            array_module(pending[0]).stack(pending))]
        limit = None if self.first_cost is None else DIVERGENCE_FACTOR * max(self.first_cost, 1.0)
        for b, c in enumerate(values, last - len(values) + 1):
            if not math.isfinite(c):
                raise TrainingDiverged(f"training diverged: the cost became {c} at epoch {self.epoch}, batch {b} "
                                       f"({divergence_hint(self)})")
            if limit is None:
                self.first_cost = c
                limit = DIVERGENCE_FACTOR * max(c, 1.0)
            if c > limit:
                raise TrainingDiverged(f"training diverged: the cost rose to {c:.4g} at epoch {self.epoch}, batch "
                                       f"{b}, from {self.first_cost:.4g} at the start ({divergence_hint(self)})")
            costs.append(c)
        pending.clear()

    def _check_members(self, pending, last, costs) -> None:
        """`_check` for a population: each batch's K costs (one host read for all pending batches); a running
        member whose cost is not finite or far above its own first stops (`diverge`), the others go on."""
        rows = to_host(array_module(pending[0]).stack(pending)).astype(np.float64).reshape(len(pending), -1)
        if self.first_cost is None:
            self.first_cost = np.full(self.members, np.nan)
        first = self.first_cost
        for b, row in enumerate(rows, last - len(rows) + 1):
            finite = np.isfinite(row)
            unset = np.isnan(first) & finite & self.active
            first[unset] = row[unset]
            with np.errstate(invalid="ignore"):
                bad = self.active & (~finite | (row > DIVERGENCE_FACTOR * np.maximum(first, 1.0)))
            for i in np.flatnonzero(bad):
                c = row[i]
                self.diverge(f"training diverged: the cost became {c} at epoch {self.epoch}, batch {b} "
                             f"({divergence_hint(self, i)})" if not finite[i] else
                             f"training diverged: the cost rose to {c:.4g} at epoch {self.epoch}, batch {b}, from "
                             f"{first[i]:.4g} at the start ({divergence_hint(self, i)})", i)
            costs.append(row)
        pending.clear()


def _augmented(augment, xb, rng, dtype):
    """The augmented batch; augmentations run on the host, so on a device each batch makes a round trip."""
    device = device_of(xb)
    out = augment(to_host(xb), rng)
    if not isinstance(out, np.ndarray) or out.shape != xb.shape:
        raise ValueError(f"augment must return an array of shape {xb.shape}, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    out = out if out.dtype == dtype else out.astype(dtype)
    return out if device == CPU else to_device(out, device)


def epoch_order(shuffle, epoch, n, rng):
    """The order in which 0-based `epoch` visits the n training examples (see `fit`'s shuffle)."""
    if shuffle is True:
        return rng.permutation(n)
    if shuffle is False:
        return np.arange(n)
    if shuffle == "replacement":  # Saito's np.random.choice: n indices drawn with replacement
        return rng.integers(0, n, n)
    order = np.asarray(shuffle(epoch, n))
    if order.shape != (n,) or order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"shuffle({epoch}, {n}) must return a permutation of 0..{n - 1} (integers, shape ({n},)), "
                         f"got a {order.dtype} array of shape {order.shape}")
    return order


def fit(net, X, y, epochs, batch_size=10, optimizer=None, l2=0.0, validation_data=None, seed=None,
        verbose=None, schedule=None, early_stopping=None, monitor_training=False, augment=None,
        checkpoint_dir=None, resume=None, callbacks=(), on_epoch_end=None, progress=None, log=None,
        shuffle=True) -> History:
    """Train `net` on (X, y) and return the History.

    epochs: total number of epochs (with `resume`, training continues from the checkpoint's epoch to this).
    optimizer: an Optimizer (default SGD(0.1)). schedule: a Schedule setting optimizer.lr each epoch from the
    initial rate. early_stopping: an EarlyStopping or a patience (int) on validation accuracy.
    monitor_training: also evaluate cost and accuracy on the training set each epoch (a full extra pass).
    augment: callable (X_batch, rng) -> X_batch applied to each mini-batch's inputs (fresh each epoch).
    checkpoint_dir: write a checkpoint after every epoch. resume: a Checkpoint or checkpoint directory.
    callbacks: Callback instances, called after the built-in ones (monitoring, history, schedule, early
    stopping, log, progress bar) and before the checkpoint, which saves every callback's state.
    on_epoch_end: callable (epoch, history) called after every epoch; returning True stops training.
    verbose: 0 silent, 1 a line per epoch, 2 also a progress bar (shown only on a terminal).
    shuffle: True (a fresh random order every epoch, from `seed`), False (the data's own order every epoch),
    or a callable (epoch, n) -> the order of the n examples in that epoch (0-based epoch; a permutation of
    0..n-1), e.g. to replay another program's mini-batches.
    "replacement": n indices drawn with replacement each epoch (Saito's np.random.choice), from `seed`.
    Long: the public entry point checks every argument, then wires the built-in callbacks."""
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    l2 = check_l2(l2, getattr(net, "members", None))
    verbose = 0 if verbose is None else int(verbose)
    check_seed(seed)
    if not (shuffle is True or shuffle is False or shuffle == "replacement" or callable(shuffle)):
        raise ValueError(f"shuffle must be True, False, 'replacement' or a callable (epoch, n) -> order, "
                         f"got {shuffle!r}")
    if augment is not None and not callable(augment):
        raise ValueError("augment must be a callable (X, rng) -> X")
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ValueError(f"callbacks must be numnet Callback instances, got {cb!r}")
    _warn_if_unscaled(X)
    X = net.prepare_inputs(X, "training X")
    n = len(X)
    if n == 0:
        raise ValueError("training set is empty")
    Y, labels = net.prepare_targets(y, n, "training y")
    validation = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        Xv = net.prepare_inputs(validation_data[0], "validation X")
        Yv, labels_v = net.prepare_targets(validation_data[1], len(Xv), "validation y")
        validation = (Xv, Yv, labels_v) if len(Xv) else None
    if isinstance(early_stopping, (int, np.integer)) and not isinstance(early_stopping, bool):
        early_stopping = EarlyStopping(patience=int(early_stopping))
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise ValueError("early_stopping must be an EarlyStopping or a patience (positive integer)")
    if early_stopping is not None and early_stopping.monitor.startswith("val") and validation is None:
        raise ValueError("early stopping on a validation metric needs validation_data")
    if early_stopping is not None and early_stopping.monitor.startswith("train"):
        monitor_training = True

    rng = np.random.default_rng(seed)
    ckpt = None
    if resume is not None:
        ckpt = resume if isinstance(resume, CheckpointState) else load_checkpoint(resume, type(net).from_architecture)
        optimizer, schedule, lr0 = _resume_into(net, ckpt, optimizer, schedule, rng)
    if optimizer is None:
        optimizer = SGD(0.1)
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be a numnet Optimizer (e.g. numnet.SGD(0.1)), got {optimizer!r}")
    if ckpt is None:
        lr0 = optimizer.lr
    if schedule is None:
        schedule = Constant()
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a numnet Schedule, got {schedule!r}")
    settings = {"epochs": epochs, "batch_size": batch_size, "l2": l2, "seed": seed,
                "monitor_training": bool(monitor_training), "n_train": n}

    say = log or (lambda msg: print(msg, flush=True))
    built_in: list[Callback] = [Monitor((X, Y, labels) if monitor_training else None, validation), RecordHistory(),
                                LearningRateSchedule(schedule, lr0)]
    if early_stopping is not None:
        built_in.append(early_stopping)
    if verbose >= 1:
        built_in.append(ConsoleLog())
    if verbose >= 2:
        built_in.append(ProgressBar(progress))
    if on_epoch_end is not None:
        built_in.append(LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: on_epoch_end(epoch, trainer.history)))
    last = [ModelCheckpoint(checkpoint_dir)] if checkpoint_dir is not None else []  # after every other callback
    trainer = Trainer(net, X, Y, epochs, batch_size, optimizer, schedule, lr0, rng, l2, built_in + callbacks + last,
                      augment, shuffle, settings=settings, log=say)
    if ckpt is not None:
        trainer.history = ckpt.history
        trainer.history.truncate(ckpt.epoch)
        trainer.start_epoch = trainer.epoch = ckpt.epoch
        for cb in trainer.callbacks:
            if cb.key in ckpt.callbacks:
                cb.load_state_dict(ckpt.callbacks[cb.key])
    return trainer.run()


def check_l2(l2, members=None):
    """λ: a finite number >= 0, or for a population of K members (`members`) also K such numbers (a float64
    array)."""
    if members is not None and np.ndim(l2) == 1:
        try:
            values = np.asarray(to_host(l2), dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or values.shape != (members,) or not (np.isfinite(values).all() and (values >= 0).all()):
            raise ValueError(f"l2 must be a finite number >= 0 or {members} such numbers (one per member), "
                             f"got {l2!r}")
        return values
    try:
        return number(float(l2), "l2", 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}") from None


def _warn_if_unscaled(X) -> None:
    """Integer inputs above 1 (pixels as 0..255) train badly: say so, once, without refusing them."""
    dtype = getattr(X, "dtype", None)
    if dtype is not None and dtype.kind in "ui" and np.size(X) and np.max(X) > 1:
        warnings.warn(f"inputs look unscaled: {dtype} values up to {np.max(X)}; divide by 255 (or scale them "
                      "to [0, 1]) before training", UserWarning, stacklevel=3)


def _resume_into(net, ckpt, optimizer, schedule, rng):
    """Continue from a checkpoint: its weights into `net`, the optimizer and schedule it held (or the given
    ones, keeping the saved state where they are of the same kind), its random generator state."""
    if ckpt.network is not net:
        if [l.name for l in ckpt.network.layers] != [l.name for l in net.layers] or ckpt.network.sizes != net.sizes:
            raise ValueError("the checkpoint's network does not match this network's architecture")
        net.set_weights(ckpt.network.arrays())
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
    return optimizer, schedule, lr0
