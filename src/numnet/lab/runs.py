"""Training runs started from the page: settings checked before the run starts (a bad value is a 400, never
a run failing later), one run at a time (starts serialised: two clicks never train into one file), metrics
streamed to the page, a stop that keeps the model and says how far the last epoch got, and the history of
every run (settings and per-epoch train/validation cost and accuracy) kept in lab-runs.json, so comparisons
survive a restart of the lab."""
from __future__ import annotations

import json
import math
import os
import stat
import threading
import time
from pathlib import Path

from ..runs.run import resolve_settings, run
from ..train.callbacks import Callback
from ..utils.backend import DeviceError, require_device
from ..utils.files import write_text_atomic
from .base import Busy, Job, LabError, check_keys, check_name, number, plain_message

QUICK = {"sizes": [784, 100, 10], "optimizer": "adam", "lr": 0.002, "epochs": 2, "batch_size": 64,
         "train_size": 20000, "validation_size": 2000}
TRAIN_KEYS = {"sizes": list, "lr": float, "epochs": int, "optimizer": str, "train_size": int, "batch_size": int,
              "activation": str, "l2": float, "validation_size": int, "seed": int, "device": str,
              "keep_prob": float}
BODY_KEYS = set(TRAIN_KEYS) | {"recipe", "name"}
HISTORY = "lab-runs.json"
MAX_HISTORY = 50  # runs kept in lab-runs.json
MAX_HISTORY_BYTES = 4 * 1024 * 1024
MNIST_TRAIN = 60000


def _value(key, kind, value):
    if kind is list:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or len(items) > 12:
            raise LabError(f"{key}: a list of layer widths like 784,100,10")
        return [number(v, key, int, 1, 4096 if 0 < i < len(items) - 1 else 784) for i, v in enumerate(items)]
    if kind is str:
        if not isinstance(value, str) or len(value) > 40:
            raise LabError(f"{key}: bad value {value!r}")
        return value
    return number(value, key, kind)


def check_run(body: dict, quick=False) -> tuple:
    """(recipe, overrides, settings) of a requested run; every refusal a LabError naming the setting."""
    check_keys(body, BODY_KEYS, "train")
    recipe = body.get("recipe") or None
    if recipe is not None and not isinstance(recipe, str):
        raise LabError("recipe must be a name")
    overrides = dict(QUICK) if quick else {}
    overrides["monitor_training"] = True  # the train curve beside the validation one: overfitting shows
    for key, kind in TRAIN_KEYS.items():
        value = body.get(key)
        if value is not None and value != "":
            overrides[key] = _value(key, kind, value)
    try:
        settings = resolve_settings(recipe, None, overrides)
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise LabError(plain_message(e)) from None
    try:
        require_device(settings["device"])  # no CuPy or no GPU: refused now, not inside the run
    except DeviceError as e:
        raise LabError(str(e)) from None
    _check_fits(settings)
    overrides["seed"] = settings["seed"]
    return recipe, overrides, settings


def _check_fits(settings):
    sizes = settings["sizes"]
    if sizes[0] != 784 or sizes[-1] != 10:
        raise LabError("the lab trains MNIST networks: sizes must start with 784 and end with 10")
    if len(sizes) > 10 or max(sizes[1:]) > 4096 or not 1 <= settings["epochs"] <= 1000:
        raise LabError("too big for the lab: at most 8 hidden layers of 4096 units and 1000 epochs")
    validation = settings.get("validation_size") or 0
    if not 0 <= validation < MNIST_TRAIN:
        raise LabError(f"validation_size must be in 0..{MNIST_TRAIN - 1}")
    if settings.get("train_size") is not None and settings["train_size"] > MNIST_TRAIN - validation:
        raise LabError(f"train_size {settings['train_size']} exceeds the {MNIST_TRAIN - validation} training "
                       f"images left beside {validation} validation images")
    try:
        from ..nn.layers import resolve_hidden

        resolve_hidden(settings["activation"])
    except ImportError:  # pragma: no cover - the engine's layout changed; the run checks it then
        pass
    except ValueError as e:
        raise LabError(str(e)) from None


class _Stream(Callback):
    """Streams a run's batches (about 50 per epoch) and epochs into its job; stops when asked to. An epoch
    cut short by Stop is marked partial, with the fraction of its batches done."""

    def __init__(self, job, record):
        self.job, self.record, self.batch = job, record, 0

    def on_train_begin(self, trainer):
        self.batches = math.ceil(trainer.n_train / trainer.batch_size)
        self.every = max(1, self.batches // 50)
        self.job.emit({"type": "begin", "epochs": trainer.epochs, "batches": self.batches, "n_train": trainer.n_train})
        return self.job.stopping.is_set()

    def on_batch_end(self, trainer, batch, cost):
        self.batch = batch
        if batch % self.every == 0 or batch == self.batches:
            self.job.emit({"type": "batch", "epoch": trainer.epoch, "batch": batch, "cost": float(cost),
                           "x": trainer.epoch - 1 + batch / self.batches})
        return self.job.stopping.is_set()

    def on_epoch_end(self, trainer, epoch, logs):
        fraction = self.batch / self.batches if self.batches else 1.0
        event = {"type": "epoch", "epoch": epoch, "x": epoch - 1 + fraction, "partial": fraction < 1,
                 "fraction": round(fraction, 4),
                 **{k: (None if v is None else float(v)) for k, v in logs.items()
                    if isinstance(v, (int, float)) or v is None}}
        self.job.emit(event)
        self.record(event)
        self.batch = 0
        return self.job.stopping.is_set()


class Runs:
    def __init__(self, workdir: Path, given: dict):
        self.workdir, self.given = workdir, given
        self.job: Job | None = None
        self._start = threading.Lock()  # serialises starts: the check, the name and the job are one step
        self._reserved: set[str] = set()
        self.history_path = workdir / HISTORY
        self._history_lock = threading.Lock()

    def start(self, body: dict, quick=False) -> dict:
        recipe, overrides, settings = check_run(body, quick)
        with self._start:
            if self.job is not None and self.job.running:
                raise Busy("a run is already training; stop it first")
            name = self._new_name(body.get("name"))
            self._reserved.add(name)
            entry = {"model": name, "settings": _plain(settings), "status": "running", "epochs": [],
                     "started": time.time()}
            self._save_entry(entry)

            def record(event):
                entry["epochs"].append({k: _finite(event.get(k)) for k in ("epoch", "x", "partial", "train_cost",
                                                                            "val_cost", "train_accuracy",
                                                                            "val_accuracy")})
                self._save_entry(entry)

            def target(job):
                try:
                    r = run(recipe, None, overrides, out=self.workdir / name, callbacks=[_Stream(job, record)],
                            verbose=0)
                except BaseException as e:
                    entry.update(status="error", error=plain_message(e))
                    self._save_entry(entry)
                    raise
                done = entry["epochs"][-1]["x"] if entry["epochs"] else 0
                entry.update(status="stopped" if job.stopping.is_set() else "done", epochs_run=done,
                             test_accuracy=None if r.test is None else r.test.accuracy, seconds=r.seconds)
                self._save_entry(entry)
                job.emit({"type": "done", "model": name, "epochs": done, "full_epochs": len(r.history)
                          - bool(entry["epochs"] and entry["epochs"][-1]["partial"]),
                          "stopped": job.stopping.is_set(), "test_accuracy": entry["test_accuracy"],
                          "seconds": r.seconds})

            self.job = Job("train", target)
            self.job.model, self.job.settings = name, entry["settings"]
            self.job.start()
        return {"model": name, "settings": entry["settings"]}

    def _new_name(self, wanted) -> str:
        taken = lambda n: os.path.lexists(self.workdir / n) or n in self.given or n in self._reserved  # noqa: E731
        if wanted:
            name = check_name(wanted if str(wanted).endswith(".npz") else f"{wanted}.npz")
            if taken(name):
                raise Busy(f"a model named {name} exists already")
            return name
        n = 1
        while taken(f"lab-run-{n}.npz"):
            n += 1
        return f"lab-run-{n}.npz"

    def stop(self) -> dict:
        job = self.job
        if job is None or not job.running:
            return {"stopping": False}
        job.stopping.set()
        return {"stopping": True}

    def status(self) -> dict:
        job = self.job
        if job is None:
            return {"status": "idle", "events": []}
        with job.cond:
            return {"status": job.status, "model": job.model, "settings": job.settings, "events": list(job.events)}

    def close(self, wait=60.0) -> None:
        """Stop the running run and wait for it to save its model (Ctrl-C, the server closing)."""
        if self.job is not None:
            self.job.stop(wait)

    # ------------------------------------------------------------------ history
    def history(self) -> dict:
        """Every run this lab folder remembers, oldest first (a run whose model file is gone is kept: its
        curves still compare)."""
        with self._history_lock:
            runs, problem = self._read()
        return {"runs": runs, "problem": problem}

    def _read(self) -> tuple[list, str | None]:
        try:
            st = os.stat(self.history_path)
        except FileNotFoundError:
            return [], None
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_HISTORY_BYTES:
            return [], f"{HISTORY} is not a regular file under 4 MB: runs are not remembered"
        try:
            runs = json.loads(self.history_path.read_text(encoding="utf-8"))["runs"]
            if not isinstance(runs, list) or not all(isinstance(r, dict) and isinstance(r.get("model"), str)
                                                     for r in runs):
                raise ValueError
        except (OSError, ValueError, KeyError, TypeError):
            return [], f"{HISTORY} is damaged: earlier runs are not shown (new runs start it again)"
        return runs, None

    def _save_entry(self, entry) -> None:
        with self._history_lock:
            runs, _ = self._read()
            runs = [r for r in runs if r.get("model") != entry["model"] or r.get("started") != entry["started"]]
            runs = (runs + [entry])[-MAX_HISTORY:]
            try:
                write_text_atomic(self.history_path, json.dumps({"runs": runs}, allow_nan=False, default=str))
            except (OSError, ValueError):
                pass  # a full disk or a NaN cost: the run goes on, only its history entry is missing


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _plain(settings: dict) -> dict:
    """Settings as JSON values (tuples as lists, non-finite numbers as None)."""
    out = {}
    for k, v in settings.items():
        if isinstance(v, tuple):
            v = list(v)
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        if v is None or isinstance(v, (str, int, float, bool, list)):
            out[k] = v
    return out
