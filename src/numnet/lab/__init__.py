"""numnet lab: a local web page to draw digits for a model, train runs with live curves, look inside a
network, play with 2-D toy sets and tag the test mistakes (`numnet lab`)."""
from .core import Lab, LabError
from .server import LabServer, make_server, open_browser

__all__ = ["Lab", "LabError", "LabServer", "make_server", "open_browser"]
