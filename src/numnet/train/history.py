"""Training history: one entry per (1-based) epoch of costs, accuracies, rate and timing,
saved as JSON so curves can be plotted and training resumed from a checkpoint."""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy as np

from ..utils.checks import is_int
from ..utils.files import regular_file, write_text_atomic
from ..utils.jsonio import read_json
from ..utils.tables import format_table as _table

__all__ = ["History", "MemberHistories", "ewa", "format_table", "FIELDS"]

FIELDS = ("epoch", "train_cost", "train_accuracy", "val_cost", "val_accuracy",
          "lr", "epoch_time", "batch_cost", "val_task_accuracy", "gradient_health")
#: fields that files written before they existed may lack (read as None for every epoch)
_ADDED_LATER = ("val_task_accuracy", "gradient_health")
METRICS = ("train_cost", "train_accuracy", "val_cost", "val_accuracy", "lr", "epoch_time")
_OPTIONAL = ("train_cost", "train_accuracy", "val_cost", "val_accuracy")


def _finite(name, value, *, low=None, high=None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high:g} (accuracies are fractions), got {value!r}")
    return float(value)


class History:
    """Per-epoch record of a training run; `h["val_accuracy"]` or `h.val_accuracy` gives a list.

    Accuracies are fractions in [0, 1]; entries are None where a set was not monitored.
    """

    def __init__(self):
        self._data: dict[str, list] = {field: [] for field in FIELDS}

    def record(self, epoch, *, train_cost=None, train_accuracy=None, val_cost=None,
               val_accuracy=None, lr, epoch_time, batch_cost=(), val_task_accuracy=None,
               gradient_health=None) -> None:
        """Append one epoch; epoch numbers are 1-based and strictly increasing."""
        if not is_int(epoch) or epoch < 1:
            raise ValueError(f"epoch must be a 1-based integer, got {epoch!r}")
        if self._data["epoch"] and epoch <= self._data["epoch"][-1]:
            raise ValueError(f"epoch must increase: got {epoch} after epoch {self._data['epoch'][-1]}")
        row = {
            "epoch": int(epoch),
            "train_cost": None if train_cost is None else _finite("train_cost", train_cost),
            "train_accuracy": None if train_accuracy is None
            else _finite("train_accuracy", train_accuracy, low=0.0, high=1.0),
            "val_cost": None if val_cost is None else _finite("val_cost", val_cost),
            "val_accuracy": None if val_accuracy is None
            else _finite("val_accuracy", val_accuracy, low=0.0, high=1.0),
            "lr": _finite("lr", lr, low=0.0),
            "epoch_time": _finite("epoch_time", epoch_time, low=0.0),
            "batch_cost": _float_list("batch_cost", batch_cost),
            "val_task_accuracy": None if val_task_accuracy is None else _task_list(val_task_accuracy),
            "gradient_health": None if gradient_health is None else _json_record(gradient_health),
        }
        for field, value in row.items():
            self._data[field].append(value)

    def annotate(self, field: str, value) -> None:
        """Attach a record to the latest epoch after it was recorded (GradientHealth adds its measurements)."""
        if field != "gradient_health":
            raise ValueError(f"only gradient_health is added after an epoch is recorded, not {field!r}")
        if not len(self):
            raise ValueError("history is empty: no epoch to annotate")
        self._data[field][-1] = _json_record(value)

    def __len__(self) -> int:
        return len(self._data["epoch"])

    def __getitem__(self, field: str) -> list:
        if field not in self._data:
            raise KeyError(f"unknown history field {field!r}; fields: {', '.join(FIELDS)}")
        if field in ("batch_cost", "val_task_accuracy"):
            return [None if v is None else list(v) for v in self._data[field]]
        if field == "gradient_health":
            return [None if v is None else json.loads(json.dumps(v)) for v in self._data[field]]
        return list(self._data[field])

    def __getattr__(self, name):
        if name in FIELDS:
            return self[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"History({len(self)} epochs)"

    @property
    def history(self) -> dict[str, list]:
        """Keras' `History.history`: a dict of per-epoch lists, "loss" (the mean of the epoch's mini-batch
        costs, as the console line shows), "accuracy" (training set, when monitored), "val_loss",
        "val_accuracy" (when there was validation data) and "lr"; a fresh copy on each access."""
        out = {"loss": [float(np.mean(c)) if c else None for c in self._data["batch_cost"]]}
        for key, field in (("accuracy", "train_accuracy"), ("val_loss", "val_cost"), ("val_accuracy", "val_accuracy")):
            if any(v is not None for v in self._data[field]):
                out[key] = list(self._data[field])
        out["lr"] = list(self._data["lr"])
        return out

    @property
    def last(self) -> dict:
        """The latest epoch's record as a dict."""
        if not len(self):
            raise ValueError("history is empty: no epoch has been recorded yet")
        return {field: self[field][-1] for field in FIELDS}

    def best_epoch(self, metric: str = "val_accuracy", mode: str = "max") -> int:
        """1-based epoch with the best value of `metric` (None entries ignored; first wins ties)."""
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        pairs = [(v, e) for v, e in zip(self._data[metric], self._data["epoch"]) if v is not None]
        if not pairs:
            raise ValueError(f"no values recorded for {metric!r}")
        pick = max if mode == "max" else min
        return pick(pairs, key=lambda p: p[0])[1]

    def truncate(self, n_epochs: int) -> None:
        """Keep only the first n_epochs epochs (used when resuming from a checkpoint)."""
        if not is_int(n_epochs) \
                or not 0 <= n_epochs <= len(self):
            raise ValueError(f"n_epochs must be an integer in [0, {len(self)}], got {n_epochs!r}")
        for values in self._data.values():
            del values[n_epochs:]

    # ------------------------------------------------------------------------- serialisation

    def to_dict(self) -> dict:
        """JSON-ready dict of per-epoch lists, one per field."""
        return {field: self[field] for field in FIELDS}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """Rebuild from `to_dict` output, validating keys, list lengths and numbers."""
        if not isinstance(d, dict):
            raise ValueError(f"history must be a dict of per-epoch lists, got {type(d).__name__}")
        unknown = sorted(map(str, set(d) - set(FIELDS)))
        if unknown:
            raise ValueError(f"unknown history field(s): {', '.join(unknown)}; fields: {', '.join(FIELDS)}")
        d = {**{f: [None] * len(d.get("epoch") or []) for f in _ADDED_LATER}, **d}
        missing = [f for f in FIELDS if f not in d]
        if missing:
            raise ValueError(f"history is missing field(s): {', '.join(missing)}")
        for field in FIELDS:
            if not isinstance(d[field], list):
                raise ValueError(f"history field {field!r} must be a list, got {type(d[field]).__name__}")
        n = len(d["epoch"])
        for field in FIELDS:
            if len(d[field]) != n:
                raise ValueError(f"history field {field!r} has {len(d[field])} entries but "
                                 f"'epoch' has {n}; all per-epoch lists must be the same length")
        h = cls()
        for i in range(n):
            row = {field: d[field][i] for field in FIELDS}
            if not isinstance(row["batch_cost"], list):
                raise ValueError(f"history field 'batch_cost' entry {i} must be a list")
            try:
                h.record(row.pop("epoch"), **row)
            except ValueError as e:
                raise ValueError(f"history entry {i}: {e}") from None
        return h

    def save(self, path) -> None:
        """Write the history as JSON atomically (one field per line, floats at full precision)."""
        lines = [f"  {json.dumps(f)}: {json.dumps(v, allow_nan=False)}" for f, v in self.to_dict().items()]
        write_text_atomic(path, "{\n" + ",\n".join(lines) + "\n}\n")

    @classmethod
    def load(cls, path) -> History:
        """Read a history saved by `save`."""
        path = regular_file(path, "history file")
        d = read_json(path, f"history file {path}")
        try:
            return cls.from_dict(d)
        except ValueError as e:
            raise ValueError(f"history file {path} is corrupt: {e}") from None


def _json_record(value) -> dict:
    """A JSON object of numbers, strings, lists and dicts (a gradient-health record), copied; a number that is
    not finite becomes None."""
    if not isinstance(value, dict):
        raise ValueError(f"gradient_health must be a dict, got {type(value).__name__}")

    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (bool, str)) or v is None:
            return v
        if isinstance(v, numbers.Real):
            return float(v) if math.isfinite(v) else None
        raise ValueError(f"gradient_health holds a {type(v).__name__}, not JSON")

    return clean(value)


def _task_list(values) -> list:
    """Per-task accuracies (multi-task outputs): fractions in [0, 1], None for a task without labelled examples."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"val_task_accuracy must be a sequence of fractions, got {values!r}")
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(_finite("val_task_accuracy", v, low=0.0, high=1.0))
    return out


def _float_list(name, values) -> list[float]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers") from None
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a 1-D sequence of finite numbers")
    return array.tolist()


def ewa(values, beta: float = 0.9, bias_correction: bool = True) -> np.ndarray:
    """Exponentially weighted average v_t = β·v_{t−1} + (1 − β)·θ_t, v_0 = 0,
    bias-corrected to v_t / (1 − β^t) so the first values are not pulled towards 0."""
    beta = _finite("beta", beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    theta = _float_list("values", values)
    out = np.empty(len(theta))
    v = 0.0
    for t, x in enumerate(theta):
        v = beta * v + (1.0 - beta) * x
        out[t] = v
    if bias_correction:
        out /= 1.0 - beta ** np.arange(1, len(theta) + 1)
    return out


def format_table(history) -> str:
    """Plain-text table of the history (epoch, train cost/acc, val cost/acc, lr, time)."""
    if isinstance(history, dict):
        history = History.from_dict(history)
    headers = ("epoch", "train cost", "train acc", "val cost", "val acc", "lr", "time")

    def cost(v):
        return "-" if v is None else f"{v:.4f}"

    def acc(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    rows = [(str(r[0]), cost(r[1]), acc(r[2]), cost(r[3]), acc(r[4]), f"{r[5]:.4g}", f"{r[6]:.1f}s")
            for r in zip(*(history[f] for f in FIELDS[:7]))]
    return _table(rows, headers, markdown=False, align="right")


#: per-member fields of a population's epoch: one value per member (K values; lr a number when shared)
_PER_MEMBER = ("train_cost", "train_accuracy", "val_cost", "val_accuracy", "lr")


class MemberHistories:
    """A population's training record: one History per member, filled from the epoch's per-member values
    (arrays of K), and the reason each stopped member stopped. A stopped member records no further epoch, as its
    run alone would have ended there; `members[i]` is member i's History."""

    def __init__(self, k: int):
        self.members = [History() for _ in range(int(k))]
        self.stopped: dict[int, str] = {}  # member -> why it stopped (divergence)

    def record(self, epoch, *, batch_cost=(), val_task_accuracy=None, gradient_health=None, epoch_time,
               **fields) -> None:
        """Append the epoch to every running member's History, taking member i's entry of each per-member field
        (batch_cost: one row of K costs per batch)."""
        rows = np.asarray(batch_cost, dtype=np.float64).reshape(-1, len(self.members))
        for i, h in enumerate(self.members):
            if i in self.stopped:
                continue
            own = {k: (None if v is None else float(v) if np.ndim(v) == 0 else float(v[i])) for k, v in fields.items()}
            h.record(epoch, epoch_time=epoch_time, batch_cost=rows[:, i],
                     val_task_accuracy=None if val_task_accuracy is None else val_task_accuracy[i],
                     gradient_health=gradient_health, **own)

    def stop(self, member: int, reason: str) -> None:
        self.stopped[int(member)] = reason

    def __len__(self) -> int:
        """The number of epochs recorded by the longest-running member."""
        return max((len(h) for h in self.members), default=0)

    def __getitem__(self, i: int) -> History:
        return self.members[i]

    def __iter__(self):
        return iter(self.members)

    def truncate(self, n_epochs: int) -> None:
        for h in self.members:
            h.truncate(min(n_epochs, len(h)))

    @property
    def epoch(self) -> list[int]:
        return list(range(1, len(self) + 1))

    def __repr__(self) -> str:
        return f"MemberHistories({len(self.members)} members, {len(self)} epochs, {len(self.stopped)} stopped)"
