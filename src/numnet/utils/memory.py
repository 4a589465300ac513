"""Memory before allocating: how many bytes a network of given layer sizes needs to be built, trained on
mini-batches and evaluated, and how many bytes this process may still use (MemAvailable, a cgroup's
limit, RLIMIT_AS), so an oversized network or batch is refused in one line naming the estimate instead of
being killed by the kernel half-way through. Estimates are deliberately simple upper-bound-ish sums
(parameters, gradients, optimizer slots, one update scratch, the float64 temporaries of initialisation,
activations of the largest batch), good to a factor well under 2 for the MLPs numnet builds.

Also for inference batching and populations: `rows_that_fit` gives the largest batch whose activations fit
a budget; `estimate_training(...).total` times K is what K parallel trainings need.
"""
from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass

#: rows numnet evaluates at once (Network.predict_proba's default batch); the estimate's inference pass
INFERENCE_ROWS = 10000
#: arrays per hidden unit and example kept by a training step (pre-activation, activation, its gradient,
#: the incoming delta); dropout adds a mask, batch norm its normalised copy, centred copy and gradient
_PER_UNIT = 4
_PER_UNIT_DROPOUT = 1
_PER_UNIT_BATCH_NORM = 3
#: arrays per unit and example at inference (the layer's output and the activation's)
_PER_UNIT_INFERENCE = 2
#: what is reserved beyond the estimate: the interpreter, NumPy, data and fragmentation (a fraction of it)
_HEADROOM = 0.10


class NotEnoughMemory(ValueError):
    """What was asked for needs more memory than this process may use (a ValueError: one line, exit 2)."""


@dataclass
class Estimate:
    """Bytes a network needs, by kind; `total` is the peak."""

    parameters: int
    gradients: int = 0
    optimizer: int = 0
    scratch: int = 0
    activations: int = 0
    init: int = 0

    @property
    def total(self) -> int:
        steady = self.parameters + self.gradients + self.optimizer + self.scratch + self.activations
        return max(steady, self.parameters + self.init)

    def describe(self) -> str:
        parts = [("parameters", self.parameters), ("gradients", self.gradients), ("optimizer state", self.optimizer),
                 ("activations", self.activations)]
        return ", ".join(f"{name} {human(b)}" for name, b in parts if b)


def human(n: float) -> str:
    """Bytes for a message: "9.4 GB", "380 MB", "12 kB"."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def _weights(sizes, pieces) -> list[int]:
    """Weights and biases of each Dense (or Maxout: `pieces` affine maps) between consecutive sizes."""
    k = pieces or 1
    return [(a * b + b) * k for a, b in zip(sizes[:-1], sizes[1:])]


def parameter_count(sizes, pieces=None, batch_norm=False) -> int:
    """Parameters and buffers of `Network.from_sizes(sizes, ...)`: weights, biases, batch-norm γ, β and
    running mean and variance of each hidden layer."""
    hidden = sum(sizes[1:-1])
    return sum(_weights(sizes, pieces)) + (4 * hidden if batch_norm else 0)


def activation_bytes(sizes, rows, itemsize, training=True, dropout=False, batch_norm=False, pieces=None) -> int:
    """Bytes of the arrays one forward (and, training, backward) pass over `rows` examples keeps."""
    if training:
        per = _PER_UNIT + (_PER_UNIT_DROPOUT if dropout else 0) + (_PER_UNIT_BATCH_NORM if batch_norm else 0)
    else:
        per = _PER_UNIT_INFERENCE
    units = sum(s * (pieces or 1) for s in sizes[1:]) + sizes[0]
    return rows * units * per * itemsize


def estimate_training(sizes, batch_size, itemsize=4, optimizer_slots=0, dropout=False, batch_norm=False,
                      pieces=None, eval_rows=0) -> Estimate:
    """Peak bytes to build a network of `sizes` and train it on batches of `batch_size` rows with an optimizer
    holding `optimizer_slots` arrays per parameter (SGD 0, momentum and RMSprop 1, Adam 2), evaluating
    `eval_rows` rows at a time between epochs. Initialisation draws each weight matrix in float64 and scales
    it (two temporaries of the largest layer); an SGD step uses one scratch array of the largest layer."""
    sizes = [int(s) for s in sizes]
    weights = _weights(sizes, pieces)
    params = parameter_count(sizes, pieces, batch_norm) * itemsize
    largest = max(weights) if weights else 0
    acts = max(activation_bytes(sizes, batch_size, itemsize, True, dropout, batch_norm, pieces),
               activation_bytes(sizes, eval_rows, itemsize, False, pieces=pieces))
    return Estimate(parameters=params, gradients=params, optimizer=optimizer_slots * params,
                    scratch=largest * itemsize, activations=acts, init=2 * 8 * largest)


def estimate_inference(sizes, rows, itemsize=4, pieces=None, batch_norm=False) -> Estimate:
    """Peak bytes to evaluate a network of `sizes` on `rows` examples at once (parameters and activations)."""
    sizes = [int(s) for s in sizes]
    return Estimate(parameters=parameter_count(sizes, pieces, batch_norm) * itemsize,
                    activations=activation_bytes(sizes, rows, itemsize, False, pieces=pieces))


def rows_that_fit(sizes, budget, itemsize=4, pieces=None, largest=INFERENCE_ROWS) -> int:
    """The largest number of rows (at least 1, at most `largest`) whose inference activations fit in `budget`
    bytes (parameters not counted: they exist already)."""
    per_row = activation_bytes(sizes, 1, itemsize, False, pieces=pieces)
    return int(max(1, min(largest, budget // max(per_row, 1))))


def _read_int(path) -> int | None:
    try:
        with open(path) as f:
            text = f.read(64).strip()
        return None if text in ("", "max") else int(text)
    except (OSError, ValueError):
        return None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """What the cgroup (v2, else v1) still allows, where a limit is set."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit = _read_int(limit_file)
        if limit is not None and limit < 2**60:
            return max(0, limit - (_read_int(usage_file) or 0))
    return None


def _rlimit_available() -> int | None:
    """RLIMIT_AS less this process's current address space, where a limit is set."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return max(0, soft - used)


def available_bytes() -> int | None:
    """Bytes this process may still allocate: the smallest of the system's MemAvailable, the cgroup's
    remaining limit and RLIMIT_AS's remaining room; None when nothing can be read."""
    known = [b for b in (_meminfo_available(), _cgroup_available(), _rlimit_available()) if b is not None]
    return min(known) if known else None


def check_fits(estimate: Estimate, what: str, available: int | None = None, remedy: str = "") -> None:
    """Raise NotEnoughMemory naming `what`, the estimate and the available memory (then `remedy`) when the
    estimate (plus a margin) exceeds what this process may allocate; nothing when that is unknown."""
    available = available_bytes() if available is None else available
    if available is None or math.isnan(available):
        return
    if estimate.total * (1 + _HEADROOM) > available:
        raise NotEnoughMemory(f"{what} needs about {human(estimate.total)} of memory ({estimate.describe()}), more "
                              f"than the {human(available)} available" + (f"; {remedy}" if remedy else ""))
