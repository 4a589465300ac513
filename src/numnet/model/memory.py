"""Memory of a population before it exists: its parameters, optimizer state and training activations estimated
from the architecture, so a K that cannot fit is refused with the estimate instead of failing half-way.

    parameters  K · P · (1 weight + 1 gradient buffer + 1 optimizer scratch + the optimizer's slots)
    activations K · batch · Σ widths · 4 (outputs, caches, deltas, temporaries of each layer), and the same
                for an evaluation chunk
The figures are estimates (NumPy and CuPy allocate a few temporaries more): the default budget is therefore a
share (`SAFE_SHARE`) of the memory free now, on the host or on the GPU.
"""
from __future__ import annotations

import math

from ..utils.backend import require_device

#: the share of the free memory a population may plan to use by default
SAFE_SHARE = 0.5
#: per-layer activation arrays alive in a training step per example and unit (output, cache, delta, temporary)
ACTIVATION_COPIES = 4


def free_memory(device: str = "cpu") -> int | None:
    """Bytes free now on `device`: the host's MemAvailable (Linux), or the GPU's free memory; None if unknown."""
    backend = require_device(device)
    if backend is not None:
        try:
            return int(backend.module.cuda.runtime.memGetInfo()[0])
        except Exception:  # a device without CUDA's query (a test stand-in): unknown
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate(n_params: int, widths: list[int], k: int, batch_size: int, itemsize: int, slots: int = 2,
             eval_rows: int = 0) -> int:
    """Estimated bytes to train a population of `k` networks of `n_params` parameters whose layers are
    `widths` wide, at `batch_size`, with an optimizer keeping `slots` arrays per parameter (Adam: 2), and to
    evaluate it `eval_rows` examples at a time."""
    params = n_params * (3 + slots)
    activations = sum(widths) * ACTIVATION_COPIES * (batch_size + eval_rows)
    return int(k * (params + activations) * itemsize)


def largest_k(per_member: int, budget: int) -> int:
    """The largest population whose estimate (linear in K) fits `budget` bytes."""
    return max(0, budget // max(per_member, 1))


def check_fits(per_member: int, k: int, budget: int | None, what: str = "population") -> None:
    """Refuse (ValueError, one line) a K whose estimate exceeds `budget` bytes, naming both and the largest K
    that fits; a budget of None (unknown free memory, none given) lets it through."""
    if budget is None:
        return
    need = per_member * k
    if need > budget:
        fits = largest_k(per_member, budget)
        raise ValueError(f"a {what} of {k} members needs about {_size(need)} (estimated: parameters, optimizer "
                         f"state and activations), more than the memory budget of {_size(budget)}; the largest "
                         f"that fits is {fits} member{'s' if fits != 1 else ''}")


def default_budget(device: str = "cpu") -> int | None:
    """The budget when none is given: `SAFE_SHARE` of the free memory of `device` (None when unknown)."""
    free = free_memory(device)
    return None if free is None else int(free * SAFE_SHARE)


def parse_size(text) -> int:
    """Bytes from "512M", "2G", "1.5GB", "100000" (a memory budget on the command line)."""
    s = str(text).strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(s[-1:], 1)
    try:
        value = float(s[:-1] if scale > 1 else s)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"memory must be a positive size such as 512M or 4G, got {text!r}")
    return int(value * scale)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
