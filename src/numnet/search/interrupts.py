"""Ctrl-C and SIGTERM during a search, held back while the main thread holds the journal's write lock.

An interrupt raised halfway through taking or releasing the lock (or through Optuna's append under it) would
leave Optuna's lock file behind, and every later write would wait for it to go stale. `stop_on_signals()`
(the search's CLI) makes both signals a KeyboardInterrupt, raised at once, or when the main thread leaves the
journal's critical section (`critical()`, entered by the journal lock) if it is inside one.
"""
from __future__ import annotations

import contextlib
import signal
import threading

_state = {"depth": 0, "pending": None}


def _handler(signum, frame):
    if _state["depth"] and threading.current_thread() is threading.main_thread():
        _state["pending"] = signum
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_signals():
    """SIGINT and SIGTERM as KeyboardInterrupt (held back in the journal's critical section); yields the list
    of signals received (SIGTERM: the caller exits with 128 + 15). Outside the main thread: nothing changes."""
    received = []

    def handler(signum, frame):
        received.append(signum)
        _handler(signum, frame)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield received
        return
    try:
        yield received
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def enter_critical() -> None:
    if threading.current_thread() is threading.main_thread():
        _state["depth"] += 1


def leave_critical() -> None:
    """Leave the critical section; raise the interrupt that arrived inside it, if any, once outside."""
    if threading.current_thread() is not threading.main_thread():
        return
    _state["depth"] = max(0, _state["depth"] - 1)
    if _state["depth"] == 0 and _state["pending"] is not None:
        _state["pending"] = None
        raise KeyboardInterrupt


__all__ = ["stop_on_signals", "enter_critical", "leave_critical"]
