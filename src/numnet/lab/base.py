"""What every part of the lab shares: its refusals (LabError and the 4xx they map to), name and value checks
for what comes from a request, and Job, a background thread whose events the page follows."""
from __future__ import annotations

import math
import re
import threading

import numpy as np

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\.npz$")
OBJECT_REPR = re.compile(r"<[^<>]*\bobject at 0x[0-9a-fA-F]+>")


class LabError(Exception):
    """A request the lab refuses; `status` is the HTTP status (400 unless a subclass says otherwise)."""

    status = 400


class NotFound(LabError):
    status = 404


class TooLarge(LabError):
    status = 413


class Busy(LabError):
    status = 409


class Unavailable(LabError):
    status = 501


def check_name(name) -> str:
    """A model name: a plain .npz file name (letters, digits, '_', '-', '.'), never a path."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise LabError(f"bad model name {name!r}: a file name like run-1.npz, no paths")
    return name


def check_keys(body: dict, allowed, what: str) -> dict:
    """The body when it names only `allowed` keys; else a LabError naming the first unknown one (a typo
    would otherwise train with a default, silently)."""
    for key in body:
        if key not in allowed:
            raise LabError(f"{what}: unknown setting {key!r} (known: {', '.join(sorted(allowed))})")
    return body


def number(value, key, kind=float, low=None, high=None):
    """A finite number of `kind` (int or float) from JSON or form text, within [low, high]."""
    if isinstance(value, bool) or isinstance(value, (dict, list)) or value is None:
        raise LabError(f"{key}: bad value {value!r}")
    try:
        if isinstance(value, str) and len(value) > 40:
            raise ValueError
        x = float(value) if kind is float else int(str(value).strip()) if isinstance(value, str) else value
        if kind is int and isinstance(x, float):
            if not x.is_integer():
                raise ValueError
            x = int(x)
        x = kind(x)
    except (TypeError, ValueError, OverflowError):
        raise LabError(f"{key}: bad value {_short(value)}") from None
    if kind is float and not math.isfinite(x):
        raise LabError(f"{key} must be a finite number, got {_short(value)}")
    if (low is not None and x < low) or (high is not None and x > high):
        raise LabError(f"{key} must be in {low}..{high}, got {_short(value)}")
    return x


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def plain_message(e: BaseException) -> str:
    """An exception's message for the page: object reprs (<... object at 0x...>) left out."""
    text = OBJECT_REPR.sub("the upload", str(e)).strip()
    return text or type(e).__name__


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def rounded(a, digits=4):
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


def digit(value, what) -> int:
    try:
        d = int(value)
    except (TypeError, ValueError):
        raise LabError(f"{what} must be a digit 0-9") from None
    if not 0 <= d <= 9:
        raise LabError(f"{what} must be a digit 0-9")
    return d


def index(value, n) -> int:
    try:
        i = int(value)
    except (TypeError, ValueError, OverflowError):
        raise LabError("index must be an integer") from None
    if not 0 <= i < n:
        raise NotFound(f"no test image {i}")
    return i


class Job:
    """A background thread with an event list that readers follow (server-sent events or polling)."""

    def __init__(self, kind, target):
        self.kind, self.status = kind, "running"
        self.events: list[dict] = []
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(target,), name=f"lab-{kind}", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def emit(self, event):
        with self.cond:
            event["i"] = len(self.events)
            self.events.append(event)
            self.cond.notify_all()

    def _main(self, target):
        try:
            target(self)
            status = "stopped" if self.stopping.is_set() else "done"
        except Exception as e:  # noqa: BLE001 - reported to the page, the server keeps running
            self.emit({"type": "error", "message": plain_message(e)})
            status = "error"
        with self.cond:
            self.status = status
            self.cond.notify_all()

    @property
    def running(self):
        return self.status == "running"

    def stop(self, timeout=None) -> bool:
        """Ask the job to stop; with a timeout, wait for it; whether it has ended."""
        self.stopping.set()
        if timeout is not None and self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def wait_events(self, since, timeout):
        """Events from index `since` (waiting up to `timeout` s for one while running), and whether it ended."""
        with self.cond:
            if len(self.events) <= since and self.running:
                self.cond.wait(timeout)
            return self.events[since:], not self.running
