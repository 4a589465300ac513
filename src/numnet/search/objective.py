"""One trial: an in-process `numnet.runs.run(...)` on data loaded once per worker. A callback reports the
validation accuracy after every epoch (`trial.report`) and stops the run when the pruner says so (never at the
last epoch: a trial that ran every epoch is complete). The objective is the best validation accuracy of the run.

A worker stalled (SIGSTOP, a swapped-out machine) past its heartbeats finds on resume that its trial was
declared dead and queued again: it drops the run (TrialLost) instead of crashing on Optuna's
UpdateFinishedTrialError.
"""
from __future__ import annotations

import time

from ..runs.run import mnist_data, resolve_settings, run
from ..train.callbacks import Callback, TrainingDiverged
from .errors import SearchError
from .optuna_compat import import_optuna, is_journal, queued_params, stored_trial, update_finished_error
from .space import Space
from .workers import DIED, Heartbeat, retry_stale



class TrialLost(Exception):
    """This worker's trial was declared dead (and queued again) by another while this one was stalled."""


class NothingQueued(Exception):
    """A search that runs queued points only (the grid) got a fresh trial: another worker popped the last
    queued point between this worker's check and its ask. The trial is failed unrun (user attribute
    `nothing_queued`) and left out of the report."""


class TrialReporter(Callback):
    """Reports the validation accuracy to the Optuna trial after every epoch; stops the run when the pruner
    says so before the last epoch (the objective then raises TrialPruned), or when the trial was declared dead
    meanwhile (`lost`)."""

    def __init__(self, trial):
        self.trial = trial
        self.pruned_at = None
        self.lost = False

    def on_epoch_end(self, trainer, epoch, logs):
        acc = logs.get("val_accuracy")
        if acc is None:
            return False
        try:
            self.trial.report(float(acc), epoch)
        except update_finished_error():
            self.lost = True
            trainer.stop_reason = "the trial was declared dead while this worker was stalled"
            return True
        if epoch < getattr(trainer, "epochs", epoch + 1) and self.trial.should_prune():
            self.pruned_at = epoch
            trainer.stop_reason = f"pruned after epoch {epoch}"
            return True
        return False


class Objective:
    """The search's objective for Optuna (a callable on a trial) and what happened to the trial it last ran."""

    def __init__(self, space: Space, meta: dict, data, seed, heartbeat, log, queued_only=False):
        self.space, self.meta, self.data, self.seed, self.heartbeat, self.log = space, meta, data, seed, heartbeat, log
        self.queued_only = queued_only
        self.trial = None
        self.reporter = None

    def __call__(self, trial):
        self.trial, self.reporter = trial, TrialReporter(trial)
        try:
            return self._run(trial)
        except update_finished_error():
            raise TrialLost(f"trial {trial.number} was declared dead") from None

    def _run(self, trial):
        optuna = import_optuna()
        space, meta, reporter = self.space, self.meta, self.reporter
        if self.queued_only:
            t = stored_trial(trial.study, trial)
            if not (t.params or queued_params(t)):
                trial.set_user_attr("nothing_queued", True)
                raise NothingQueued(f"trial {trial.number}: no queued point left")
        values, overrides = space.suggest(trial)
        overrides = {**space.fixed, **overrides}
        if meta.get("epochs"):
            overrides["epochs"] = meta["epochs"]
        if meta.get("train_size"):
            overrides["train_size"] = meta["train_size"]
        if "seed" not in space.fixed and not (space.config or {}).get("seed"):
            overrides["seed"] = (self.seed or 0) + trial.number
        for name, p in space.params.items():
            if p.optuna_name != name:  # one_minus_beta in Optuna's tools: β itself beside it
                trial.set_user_attr(name, values[name])
        t0 = time.perf_counter()
        with Heartbeat(trial, self.heartbeat, beat=is_journal(trial.study)):
            try:
                r = run(space.recipe, space.config, overrides, out=None, data=self.data, verbose=0,
                        callbacks=[reporter])
            except TrainingDiverged:
                trial.set_user_attr("diverged", True)
                trial.set_user_attr("seconds", time.perf_counter() - t0)
                self.log(f"trial {trial.number}: diverged {fmt_values(values)}")
                return 0.0
        if reporter.lost:
            raise TrialLost(f"trial {trial.number} was declared dead")
        accs = [a for a in r.history.val_accuracy if a is not None]
        if not accs:
            raise SearchError("the search needs a validation set (validation_size > 0)")
        best = max(accs)
        for key, value in (("config", r.settings), ("best_epoch", r.best_epoch), ("epochs_run", len(r.history)),
                           ("seconds", time.perf_counter() - t0), ("best_so_far", best)):
            trial.set_user_attr(key, value)
        if reporter.pruned_at is not None:
            self.log(f"trial {trial.number}: pruned after epoch {reporter.pruned_at} "
                     f"(val {100 * accs[-1]:.2f}%) {fmt_values(values)}")
            raise optuna.TrialPruned(f"pruned after epoch {reporter.pruned_at}")
        self.log(f"trial {trial.number}: val {100 * best:.2f}% (epoch {r.best_epoch}) {fmt_values(values)}")
        return best

    def was_lost(self, study) -> bool:
        """Whether the last trial was declared dead by another worker (its result is then dropped)."""
        if self.trial is None:
            return False
        if self.reporter is not None and self.reporter.lost:
            return True
        t = stored_trial(study, self.trial)
        return t.state.name == "FAIL" and t.user_attrs.get("failed_because") == DIED

    def requeue_interrupted(self, study) -> int | None:
        """After Ctrl-C or SIGTERM: queue the interrupted trial's settings again (Optuna has marked it failed),
        so that rerunning the command runs it; its number (None when there was none)."""
        if self.trial is None:
            return None
        t = stored_trial(study, self.trial)
        if t.state.name != "FAIL":
            return None
        retry_stale(study, t)
        return t.number


def fmt_values(values: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def load_data(space: Space, meta: dict):
    """The worker's data, loaded once: MNIST with the base run's train/validation sizes."""
    overrides = dict(space.fixed)
    if meta.get("train_size"):
        overrides["train_size"] = meta["train_size"]
    cfg = resolve_settings(space.recipe, space.config, overrides)
    if cfg["validation_size"] == 0:
        raise SearchError("the search needs a validation set (validation_size > 0)")
    return mnist_data(cfg)


__all__ = ["Objective", "TrialReporter", "TrialLost", "NothingQueued", "load_data", "fmt_values"]
