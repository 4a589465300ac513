"""Thread policy: how many threads the BLAS (and Numba's kernels) may use, chosen from the work and the machine.

Two rules, both measured (BENCHMARKS.md, "Threads"):
- a matrix product gains from a thread only when each thread gets enough work (MIN_FLOPS_PER_THREAD); below,
  starting and joining threads costs more than it saves, so small products run on one thread;
- threads on a core that another process keeps busy make every product wait for that core: on 2 cores with
  the second one busy, `numnet train` took 93 s with two BLAS threads and 10.8 s with one. The default
  (`default_threads`) therefore counts the cores that are idle now, not the cores there are.

`--threads N` on the command line (settings key `threads`) overrides the default. The pools are set at run time
with threadpoolctl, so OPENBLAS_NUM_THREADS and friends need not be set before Python starts.
"""
from __future__ import annotations

import contextlib
import math
import os
import time

from . import jit

#: floating-point operations (2·m·k·n for an (m × k)·(k × n) product) one BLAS thread needs to be worth
#: starting: about 0.2-0.4 ms of one core's work
MIN_FLOPS_PER_THREAD = 8e6
#: how long `busy_cores` watches the machine
SAMPLE_S = 0.1


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_times():
    """(busy, total) jiffies of the whole machine from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def busy_cores(sample_s: float = SAMPLE_S) -> float:
    """Cores kept busy by other processes: the machine's busy time over `sample_s` seconds while this one
    sleeps (Linux), else the 1-minute load average, else 0."""
    first = _cpu_times()
    if first is not None:
        time.sleep(sample_s)
        second = _cpu_times()
        if second is not None and second[1] > first[1]:
            fraction = (second[0] - first[0]) / (second[1] - first[1])
            return fraction * (os.cpu_count() or 1)
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def default_threads(sample_s: float = SAMPLE_S) -> int:
    """Threads for this process: the usable cores that no other process keeps busy now (at least one)."""
    cores = usable_cores()
    return max(1, min(cores, cores - math.floor(busy_cores(sample_s) + 0.25)))


def product_threads(m: int, k: int, n: int, threads: int) -> int:
    """Threads worth giving one (m × k)·(k × n) product, at most `threads`: one per MIN_FLOPS_PER_THREAD."""
    return max(1, min(int(threads), int(2.0 * m * k * n // MIN_FLOPS_PER_THREAD)))


def network_threads(sizes, batch_size: int, threads: int) -> int:
    """Threads worth giving a fully connected network's training products (its largest product decides:
    the forward X·W of batch_size rows through each layer), at most `threads`."""
    return max(product_threads(batch_size, a, b, threads) for a, b in zip(sizes[:-1], sizes[1:]))


def resolve(requested, sizes=None, batch_size=None, sample_s: float = SAMPLE_S) -> int:
    """The thread count a run uses: `requested` (a positive integer, as given by --threads) as it is; None:
    the idle cores (`default_threads`), no more than the network's products can use."""
    if requested is not None:
        return int(requested)
    if sizes and batch_size:
        useful = network_threads(sizes, batch_size, usable_cores())
        return 1 if useful == 1 else min(useful, default_threads(sample_s))  # small networks: no sampling
    return default_threads(sample_s)


@contextlib.contextmanager
def limited(threads: int):
    """The BLAS pools (OpenBLAS, MKL, BLIS, OpenMP) and Numba's kernels limited to `threads` inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads)):
        jit.set_threads(threads)
        try:
            yield threads
        finally:
            jit.set_threads(os.cpu_count() or 1)


class BlasThreads:
    """A cheap per-product setter of the BLAS pools' size (one C call when the count changes), for a layer
    that picks `product_threads` for each product: `bt = BlasThreads(); bt.set(product_threads(m, k, n, 4))`."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self._libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        self.current = None

    def set(self, n: int) -> None:
        if n != self.current:
            for lib in self._libs:
                lib.set_num_threads(int(n))
            self.current = n
