"""Per-epoch progress bar (tqdm): examples done, running mean cost, examples/s, time left.

`update` runs once per mini-batch, so it only adds to plain Python floats (or, for a network on a GPU, to
a 0-d device array: nothing waits for the device per batch); the cost shown is read and refreshed at most
every ~0.1 s. When disabled (not a TTY, or $CI set) nothing is written.
"""
from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm

from ..utils.backend import to_scalar
from ..utils.checks import positive_int

__all__ = ["EpochProgress"]

REFRESH_S = 0.1


def _is_tty(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):   # no isatty, or a closed file
        return False


class EpochProgress:
    """Progress bar for one epoch ("epoch 3/30"); `epoch` is the 1-based number shown.

    >>> with EpochProgress(60000, epoch, epochs) as bar:
    ...     for X, Y in batches:
    ...         bar.update(len(X), cost)
    """

    def __init__(self, total_examples: int, epoch: int, epochs: int, enabled: bool | None = None,
                 file=None):
        total_examples = positive_int(total_examples, "total_examples")
        epochs = positive_int(epochs, "epochs")
        epoch = positive_int(epoch, "epoch")
        if epoch > epochs:
            raise ValueError(f"epoch must be in [1, epochs={epochs}] (1-based), got {epoch}")
        file = sys.stderr if file is None else file
        if enabled is None:
            enabled = _is_tty(file) and "CI" not in os.environ
        self._cost_sum = 0.0      # Σ batch_cost · n_examples
        self._examples = 0
        self._next_refresh = 0.0
        self._enabled = bool(enabled)
        self._bar = None
        if enabled:
            self._bar = tqdm(total=total_examples, desc=f"epoch {epoch}/{epochs}", unit="ex",
                             file=file, mininterval=REFRESH_S, leave=True, dynamic_ncols=True)

    @property
    def enabled(self) -> bool:
        """Whether this bar draws anything."""
        return self._enabled

    @property
    def running_cost(self) -> float | None:
        """Mean cost per example over the epoch so far (batches weighted by size); None before any."""
        return float(self._cost_sum / self._examples) if self._examples else None

    def update(self, n_examples: int, batch_cost: float) -> None:
        """Record one mini-batch of `n_examples` with mean cost `batch_cost`."""
        if n_examples < 1:
            raise ValueError(f"n_examples must be a positive integer, got {n_examples!r}")
        self._cost_sum += to_scalar(batch_cost) * n_examples
        self._examples += n_examples
        bar = self._bar
        if bar is not None:
            now = time.monotonic()
            if now >= self._next_refresh:
                self._next_refresh = now + REFRESH_S
                bar.set_postfix_str(f"cost={self.running_cost:.4f}", refresh=False)
            bar.update(n_examples)

    def close(self, clear: bool = False) -> None:
        """Show the final mean cost and close the bar (`clear`: erase its line instead, for a caller that
        prints the epoch's own line in its place); safe to call twice."""
        bar, self._bar = self._bar, None
        if bar is not None:
            if self._examples:
                bar.set_postfix_str(f"cost={self.running_cost:.4f}", refresh=False)
            if clear:
                bar.leave = False
            bar.close()

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
