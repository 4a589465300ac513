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
        if self.errors.get("human") is None:
            lines.append("  avoidable bias: not measured (human-level error unknown)")
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
    error the train → dev gap is reported as variance; with human=None (human-level error unknown) the
    avoidable bias is not measured, so the ladder never asks for a bigger network on a guess."""
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
# The activation notes' five rules (train loss / test loss): 1 ↓ ↓ learning; 2 ↓ flat (or ↑) overfitting;
# 3 flat flat bottleneck; 4 flat ↓ look at the data; 5 ↑ ↑ bad architecture, settings or a bug.
OVERFITTING = "get more data, or regularise: L2, dropout, data augmentation, a smaller network"
CURVE_RULES = {
    ("falling", "falling"): (1, "learning", "keep training; both curves still improve"),
    ("falling", "flat"): (2, "overfitting", OVERFITTING),
    ("falling", "rising"): (2, "overfitting", OVERFITTING),
    ("flat", "rising"): (2, "overfitting", OVERFITTING),
    ("flat", "flat"): (3, "bottleneck", "lower the learning rate or the batch size"),
    ("flat", "falling"): (4, "look at the data", "validation improves while training does not: check the data "
                                                 "(split, labels, preprocessing, augmentation)"),
    ("rising", "rising"): (5, "diverging", "bad architecture, bad hyperparameters or a bug: lower the learning "
                                            "rate, check the data and the code"),
    ("rising", "falling"): (None, "unstable training", "the training cost rises: lower the learning rate, check "
                                                       "for a bug"),
    ("rising", "flat"): (None, "unstable training", "the training cost rises: lower the learning rate, check "
                                                    "for a bug"),
}


def trend(values, window=5, tolerance=0.02) -> str | None:
    """'falling', 'rising' or 'flat' for the last `window` values: the least-squares slope over the window,
    times its length, relative to the mean magnitude, beyond ±tolerance. None with fewer than 3 values."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    v = v[np.isfinite(v)][-window:]
    if len(v) < 3:
        return None
    return _direction(_change(v), tolerance)


def _change(v) -> float:
    """The least-squares slope over v times its length, relative to v's mean magnitude."""
    slope = np.polyfit(np.arange(len(v)), v, 1)[0]
    return float(slope * (len(v) - 1) / max(np.mean(np.abs(v)), 1e-12))


def _direction(change, tolerance) -> str:
    return "falling" if change < -tolerance else "rising" if change > tolerance else "flat"


@dataclass
class CurveReading:
    """One verdict on a run's curves: the trends, the notes' rule (1-5, None off the rules), the remedy and
    the numbers behind it."""

    train: str | None
    val: str | None
    verdict: str | None
    advice: str
    rule: int | None = None
    best_epoch: int | None = None
    evidence: tuple = ()

    def format(self) -> str:
        if self.verdict is None:
            return f"curves: {self.advice}"
        rule = f" (rule {self.rule})" if self.rule else ""
        why = f"; evidence: {'; '.join(self.evidence)}" if self.evidence else ""
        return (f"curves: training cost {self.train}, validation cost {self.val} -> {self.verdict}{rule}: "
                f"{self.advice}{why}")


def _curve_series(history):
    """Training cost (or the epochs' mean mini-batch cost), validation cost and rate as float arrays, kept
    only where both costs are known."""
    train = history.train_cost
    if all(v is None for v in train):
        train = [float(np.mean(b)) if b else None for b in history.batch_cost]
    rows = [(t, v, lr, e) for t, v, lr, e in zip(train, history.val_cost, history.lr, history.epoch)
            if t is not None and v is not None]
    if not rows:
        return (np.zeros(0),) * 4
    return tuple(np.array(c, dtype=float) for c in zip(*rows))


def _recent_start(lr, n, window) -> int:
    """Where the recent stretch begins: `window` epochs back (default a fifth of the run, at least 5), or the
    last step of the learning rate by 4x or more (a resume at a new rate, a step decay) if later; at least 3
    epochs long."""
    if window is not None:
        return max(0, n - window)
    start = max(0, n - max(5, n // 5))
    steps = _rate_steps(lr)
    if steps:
        start = max(start, steps[-1])
    return min(start, max(0, n - 3))


def _rate_steps(lr) -> list[int]:
    """Indices where the learning rate changed 4x or more from the epoch before (a resume, a step decay)."""
    return [i for i in range(1, len(lr)) if max(lr[i], lr[i - 1]) >= 4 * max(min(lr[i], lr[i - 1]), 1e-30)]


def read_curves(history, window=None, tolerance=0.02) -> CurveReading:
    """The notes' training-curve rules applied to a whole History, one verdict with its evidence.

    Training cost (the epochs' mean mini-batch cost when the training set was not monitored) and validation
    cost. The training trend is read over the recent stretch (see _recent_start; `window` fixes it). The
    validation cost counts as flat or rising once its best epoch lies max(3, a fifth of the run) epochs back
    (rising when it is more than `tolerance` above that best), so a slowly but steadily falling validation cost
    still reads as falling, and a run whose validation cost turned long ago reads as overfitting however flat
    its last epochs are (a resume at a low rate included)."""
    T, V, lr, epochs = _curve_series(history)
    n = len(T)
    if n < 3:
        return CurveReading(None, None, None, "too few epochs (or no validation set) to read the curves: "
                                              "need 3 epochs of training and validation cost")
    start = _recent_start(lr, n, window)
    t_change, v_change = _change(T[start:]), _change(V[start:])
    t_state = _direction(t_change, tolerance)
    if t_state == "rising" and T[-1] <= T[:-1].min() * (1 + tolerance):
        t_state = "flat"  # a rise back to no worse than the best so far is noise, not divergence
    elif t_state == "flat" and t_change < -tolerance / 4:
        t_state = "falling"  # slowly, but falling
    best = int(np.argmin(V))
    since = n - 1 - best
    if since >= max(3, int(np.ceil(0.2 * n))):
        v_state = "rising" if V[-1] > V[best] * (1 + tolerance) else "flat"
        if v_state == "flat" and t_state != "rising" and T[-1] > T[best] * (1 - tolerance):
            t_state = "flat"  # neither cost has moved since the best validation epoch: no gap opens
    else:
        v_state = _direction(v_change, tolerance / 4)
    if t_state == "falling" and v_state == "falling" and v_change < -tolerance / 2 and t_change > v_change / 3:
        t_state = "flat"  # the training cost barely moves next to the validation cost: rule 4
    rule, verdict, advice = CURVE_RULES[(t_state, v_state)]
    evidence = _evidence(T, V, lr, epochs, start, best)
    if verdict == "bottleneck":
        advice = _bottleneck_advice(T, lr, tolerance)
    return CurveReading(t_state, v_state, verdict, advice, rule, int(epochs[best]), tuple(evidence))


def _evidence(T, V, lr, epochs, start, best) -> list[str]:
    """The numbers behind a verdict: best validation epoch, the costs then and now, the gap and its trend,
    the recent stretch, plateaus."""
    e = lambda i: int(epochs[i])  # noqa: E731
    out = [f"best validation cost {V[best]:.4g} at epoch {e(best)}, {V[-1]:.4g} at epoch {e(-1)} "
           f"({100 * (V[-1] - V[best]) / max(V[best], 1e-12):+.0f}%)",
           f"training cost {T[0]:.4g} -> {T[best]:.4g} (epoch {e(best)}) -> {T[-1]:.4g}",
           f"gap validation - training {V[best] - T[best]:.3g} at epoch {e(best)}, {V[-1] - T[-1]:.3g} now"]
    steps = _rate_steps(lr)
    if steps:
        s = steps[-1]
        out.append(f"epochs {e(s)}-{e(-1)} at lr {lr[-1]:.3g} (was {lr[s - 1]:.3g}): training cost "
                   f"{T[s - 1]:.4g} -> {T[-1]:.4g}, validation cost {V[s - 1]:.4g} -> {V[-1]:.4g}")
    plateau = _longest_plateau(T)
    if plateau:
        a, b = plateau
        out.append(f"training cost flat (under 0.5% per epoch) over epochs {e(a)}-{e(b)}")
    return out


def _longest_plateau(T, per_epoch=0.005, least=4):
    """(first, last) index of the longest stretch of at least `least` epochs where the training cost moves
    under `per_epoch` (relative) per epoch and after which it falls again, by 2% or more per epoch over the next
    epochs (a plateau left behind, not the end of learning)."""
    flat = np.abs(np.diff(T)) <= per_epoch * np.maximum(np.abs(T[:-1]), 1e-12)
    best, i = None, 0
    while i < len(flat):
        if not flat[i]:
            i += 1
            continue
        j = i
        while j < len(flat) and flat[j]:
            j += 1
        after = T[j:j + least + 1]
        falls = len(after) > 1 and (after[0] - after[-1]) / max(abs(after[0]), 1e-12) >= 0.02 * (len(after) - 1)
        if j - i + 1 >= least and falls and (best is None or j - i > best[1] - best[0]):
            best = (i, j)
        i = j
    return best


def _bottleneck_advice(T, lr, tolerance) -> str:
    """Rule 3's remedy, told by what the run already tried: a rate lowered 10x or more without change means
    the run has converged; a cost that never moved means nothing is learned (rate too small, dead units)."""
    if abs(T[-1] - T[0]) <= tolerance * max(abs(T[0]), 1e-12):
        return ("nothing is learned: the training cost has not moved since epoch 1; the rate may be too small or "
                "the units dead or saturated (numnet lr-find, --gradient-health)")
    if lr[-1] * 10 <= lr.max():
        return (f"converged: the rate is already {lr.max() / lr[-1]:.3g}x below its first value ({lr.max():.3g} -> "
                f"{lr[-1]:.3g}) and the costs no longer move; stop here, or change the data or the model")
    return f"lower the learning rate (now {lr[-1]:.3g}) or the batch size"
