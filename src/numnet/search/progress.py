"""A progress bar over a search's trials (tqdm, on stderr when it is a terminal): counted trials of the
target and the best validation accuracy so far. Log lines go through `write`, above the bar, so that the two
never share a line."""
from __future__ import annotations

import os
import sys


def _is_tty(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class TrialBar:
    """`update(done, best)` moves the bar to `done` counted trials; `write(line)` gives a line to `log` (default
    print) with the bar cleared, so that it lands above the bar.
    enabled: None = when `file` (default stderr) is a terminal and $CI is not set."""

    def __init__(self, total: int, done: int = 0, enabled: bool | None = None, file=None, log=None):
        self.file = sys.stderr if file is None else file
        self.log = log or (lambda line: print(line, flush=True))
        if enabled is None:
            enabled = _is_tty(self.file) and "CI" not in os.environ
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=min(done, total), desc="trials", unit="trial", file=self.file,
                            leave=True, dynamic_ncols=True)

    @property
    def enabled(self) -> bool:
        return self.bar is not None

    def update(self, done: int, best: float | None = None) -> None:
        if self.bar is None:
            return
        if best is not None:
            self.bar.set_postfix_str(f"best {100 * best:.2f}%", refresh=False)
        self.bar.update(max(0, min(done, self.bar.total) - self.bar.n))

    def write(self, line: str) -> None:
        if self.bar is None:
            self.log(line)
            return
        with self.bar.external_write_mode(file=self.file):
            self.log(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["TrialBar"]
