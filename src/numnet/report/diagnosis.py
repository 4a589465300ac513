"""Where the errors come from: the error ladder (bias, variance, data mismatch, overfitting to dev) and the
training-curve rules.

    human-level (≈ Bayes) → train: avoidable bias     train → train-dev: variance
    train-dev → dev: data mismatch                    dev → test: overfitting to the dev set

The training-dev set has the training distribution and is never trained on; without one, variance is read
as dev − train and mismatch cannot be told apart from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REMEDIES = {
    "avoidable bias": ["train a bigger network", "train longer or use a better optimizer (momentum, RMSprop, Adam)",
                       "search for a better architecture or hyperparameters"],
    "variance": ["get more training data", "regularise: L2, dropout, data augmentation",
                 "search for a better architecture or hyperparameters"],
    "data mismatch": ["do error analysis of the difference between training and dev data",
                      "make the training data more like the dev/test data (collect more like it)",
                      "artificial data synthesis (beware synthesising from a tiny subset of the possible space)"],
    "overfitting to dev": ["get a bigger dev set"],
}
LEVELS = (("human", "human-level error"), ("train", "training error"), ("train_dev", "training-dev error"),
          ("dev", "dev error"), ("test", "test error"))
GAPS = (("avoidable bias", "human", "train"), ("variance", "train", "train_dev"),
        ("data mismatch", "train_dev", "dev"), ("overfitting to dev", "dev", "test"))


@dataclass
class Ladder:
    """Error rates (fractions; None where not measured) and the gaps between neighbouring rungs."""

    errors: dict
    gaps: dict

    @property
    def largest(self) -> str | None:
        """The name of the largest positive gap (None when no gap is positive)."""
        best = max(((g, v) for g, v in self.gaps.items() if v is not None), key=lambda kv: kv[1], default=None)
        return best[0] if best and best[1] > 0 else None

    def remedies(self) -> list[str]:
        return list(REMEDIES.get(self.largest, []))

    def format(self) -> str:
        lines = []
        for key, label in LEVELS:
            v = self.errors.get(key)
            if v is not None:
                lines.append(f"  {label:<20} {100 * v:6.2f}%")
        lines.append("gaps:")
        for name, v in self.gaps.items():
            if v is not None:
                lines.append(f"  {name:<20} {100 * v:+6.2f} points")
        largest = self.largest
        if largest is None:
            lines.append("no gap is positive: the model is at human level on every set")
        else:
            lines.append(f"largest gap: {largest} ({100 * self.gaps[largest]:.2f} points); remedies:")
            lines += [f"  - {r}" for r in self.remedies()]
        if self.errors.get("train_dev") is None:
            lines.append("note: without a training-dev set, variance and data mismatch are not told apart")
        return "\n".join(lines)


def error_ladder(human=0.0, train=None, train_dev=None, dev=None, test=None) -> Ladder:
    """The ladder from error rates given as fractions in [0, 1] (None: not measured). Without a training-dev
    error the train → dev gap is reported as variance."""
    errors = {"human": human, "train": train, "train_dev": train_dev, "dev": dev, "test": test}
    for k, v in errors.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.floating))
                              or not 0 <= v <= 1):
            raise ValueError(f"{k} error must be a fraction in [0, 1], got {v!r}")
    if train is None:
        raise ValueError("the ladder needs the training error")
    gaps = {}
    for name, low, high in GAPS:
        a, b = errors[low], errors[high]
        if name == "variance" and b is None:
            b = errors["dev"]
        if name == "data mismatch" and a is None:
            gaps[name] = None
            continue
        gaps[name] = None if a is None or b is None else float(b) - float(a)
    return Ladder({k: None if v is None else float(v) for k, v in errors.items()}, gaps)


def check_human_error(percent) -> float:
    """Human-level error given in percent, checked to lie in [0, 100]; returned as a fraction."""
    try:
        v = float(percent)
    except (TypeError, ValueError):
        raise ValueError(f"human error must be a percentage in [0, 100], got {percent!r}") from None
    if not np.isfinite(v) or not 0 <= v <= 100:
        raise ValueError(f"human error must be a percentage in [0, 100], got {percent!r}")
    return v / 100


# ---------------------------------------------------------------------------------------------- curves
CURVE_RULES = {
    ("falling", "falling"): ("learning", "keep training; both curves still improve"),
    ("falling", "flat"): ("overfitting", "get more data, use a smaller network, dropout or L2"),
    ("falling", "rising"): ("overfitting", "get more data, use a smaller network, dropout or L2"),
    ("flat", "flat"): ("bottleneck", "lower the learning rate or the batch size"),
    ("flat", "falling"): ("look at the data", "validation improves while training does not: check the data "
                                              "(split, labels, preprocessing)"),
    ("rising", "rising"): ("diverging", "bad architecture, bad hyperparameters or a bug"),
}


def trend(values, window=5, tolerance=0.02) -> str | None:
    """'falling', 'rising' or 'flat' for the last `window` values: the least-squares slope over the window,
    times its length, relative to the mean magnitude, beyond ±tolerance. None with fewer than 3 values."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    v = v[np.isfinite(v)][-window:]
    if len(v) < 3:
        return None
    x = np.arange(len(v))
    slope = np.polyfit(x, v, 1)[0]
    change = slope * (len(v) - 1) / max(np.mean(np.abs(v)), 1e-12)
    return "falling" if change < -tolerance else "rising" if change > tolerance else "flat"


@dataclass
class CurveReading:
    train: str | None
    val: str | None
    verdict: str | None
    advice: str

    def format(self) -> str:
        if self.verdict is None:
            return f"curves: {self.advice}"
        return f"curves: training cost {self.train}, validation cost {self.val} -> {self.verdict}: {self.advice}"


def read_curves(history, window=5, tolerance=0.02) -> CurveReading:
    """Apply the training-curve rules to a History: the training cost (or, when the training set was not
    monitored, the epoch's mean mini-batch cost) against the validation cost over the last `window` epochs."""
    train = history.train_cost
    if all(v is None for v in train):
        train = [float(np.mean(b)) if b else None for b in history.batch_cost]
    val = history.val_cost
    t, v = trend(train, window, tolerance), trend(val, window, tolerance)
    if t is None or v is None:
        return CurveReading(t, v, None, "too few epochs (or no validation set) to read the curves: "
                                        "need 3 epochs of training and validation cost")
    verdict, advice = CURVE_RULES.get((t, v), ("mixed", "no rule applies; look at the plots"))
    if (t, v) == ("rising", "falling") or (t, v) == ("rising", "flat"):
        verdict, advice = "unstable training", "the training cost rises: lower the learning rate, check for a bug"
    if (t, v) == ("flat", "rising"):
        verdict, advice = "overfitting", "validation cost rises while training stalls: more data, L2, dropout"
    return CurveReading(t, v, verdict, advice)
