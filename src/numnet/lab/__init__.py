"""numnet lab: a local web page to draw digits for a model, train runs with live curves, look inside a
network, play with 2-D toy sets, tag the test mistakes and follow a search's trials (`numnet lab`).

The server (`make_server`, `LabServer`) needs the `lab` extra (Starlette, uvicorn) and is imported on first
use, so `numnet.lab.core` works without it."""
from .core import Lab, LabError

__all__ = ["Lab", "LabError", "LabServer", "make_server", "open_browser"]


def __getattr__(name):
    if name in ("LabServer", "make_server", "open_browser"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'numnet.lab' has no attribute {name!r}")
