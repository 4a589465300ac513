"""Panda: follow one run as it trains. `watch` reads a run's history.json (rewritten after every epoch by
`numnet train --checkpoint-dir DIR`, or any `--history` file), prints each new epoch as a table row and
redraws the learning curves (cost.png, accuracy.png) whenever the file changes. It returns once the run's
run.json says the run finished or stopped, and fails when nothing is at the path after a short grace period
(a mistyped folder), instead of waiting forever."""
from __future__ import annotations

import time
from pathlib import Path

from ..runs.outputs import run_state
from ..train.history import History, format_table

HISTORY = "history.json"
#: seconds a missing run folder or history file is waited for (the run may be starting) before it is an error
GRACE_S = 20.0


def history_path(target) -> Path:
    """DIR/history.json for a run folder, or the history file itself."""
    target = Path(target)
    return target / HISTORY if target.is_dir() or not target.suffix else target


def watch(target, out=None, *, interval=2.0, once=False, plot=True, log=print, max_polls=None,
          grace=GRACE_S) -> int:
    """Follow `target` (a run folder or a history JSON file); the number of epochs seen.

    Prints the epochs as they arrive and redraws PNG curves into `out` (default: the run folder) after each
    change. once: read and draw once, then return (an error when there is no history yet). Returns when the
    run folder's run.json says "finished" or "stopped" (every epoch printed); FileNotFoundError when neither the
    folder nor the file exists after `grace` seconds. Stops on Ctrl-C (KeyboardInterrupt propagates to the
    caller) or after `max_polls` polls.
    """
    path = history_path(target)
    out = Path(out) if out is not None else path.parent
    if path.exists() and not path.is_file():  # a FIFO or a device would be polled for ever (or block a read)
        raise ValueError(f"{path} is not a regular file: not a history to watch")
    if once and not path.is_file():
        raise FileNotFoundError(f"no history to watch: {path} (start the run with --checkpoint-dir or --history)")
    if not (interval > 0):
        raise ValueError(f"--interval must be positive, got {interval!r}")
    seen, stamp, polls, waiting, started = 0, None, 0, False, time.monotonic()
    while True:
        polls += 1
        state = run_state(path.parent)  # read before the history: a run finishing in between is seen next poll
        current = path.stat().st_mtime_ns if path.is_file() else None
        if current is not None and current != stamp:
            try:
                hist = History.load(path)
            except ValueError:
                hist = None  # caught mid-write by a non-atomic writer: read it again next time
            if hist is not None:
                stamp = current
                if len(hist) < seen:  # a new run in the same folder
                    log(f"{path} restarted")
                    seen = 0
                if len(hist) > seen:
                    lines = format_table(hist).splitlines()
                    log("\n".join(lines[:2] + lines[2 + seen:] if seen == 0 else lines[2 + seen:]))
                    seen = len(hist)
                    if plot:
                        from ..report.plots import plot_history

                        plot_history(hist, out)
        elif current is None and not waiting:
            log(f"waiting for {path} ...")
            waiting = True
        if current is None and not path.parent.exists() and time.monotonic() - started >= grace:
            raise FileNotFoundError(f"no run at {target}: {path.parent} does not exist (mistyped? start the run "
                                    "with --checkpoint-dir or --history)")
        if state in ("finished", "stopped") and current == stamp:
            log(f"the run {state}")
            return seen
        if once or (max_polls is not None and polls >= max_polls):
            return seen
        time.sleep(interval)
