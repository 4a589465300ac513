"""What the lab computes, apart from HTTP: one Lab ties its parts together, each in its own module:
models (models.py: the working directory's models, the test set), model views (views.py: predictions on
drawn digits, weights, units, activations, gradient health), training runs (runs.py), the 2-D playground
(playground.py), the test mistakes and their tags in errors.csv (tags.py) and the searches read from
Optuna storages (searches.py). None of them knows HTTP (server.py does).

Every name that comes from a request is checked: models are plain file names inside the working directory
(or the one model given on the command line), searches are journal files found inside it (or the storage
given on the command line), never paths taken from the request.
"""
from __future__ import annotations

from .base import Busy, LabError, NotFound, TooLarge, Unavailable, check_name  # noqa: F401 - the lab's API
from .models import Models
from .netview import layer_outputs  # noqa: F401 - kept importable from here
from .playground import Playground
from .runs import Runs
from .searches import Searches
from .tags import ERRORS_COLUMNS, ERRORS_CSV, Tags  # noqa: F401
from .views import MAX_PIXELS, Views  # noqa: F401


class Lab:
    """The lab's state: its working directory and its parts (see the module docstring)."""

    def __init__(self, workdir=".", model=None, storage=None):
        self.store = Models(workdir, model)
        self.workdir = self.store.workdir
        self.views = Views(self.store)
        self.runs = Runs(self.workdir, self.store.given)
        self.play = Playground()
        self.tags = Tags(self.store)
        self.searches = Searches(self.workdir, storage)

    def models(self) -> list[str]:
        return self.store.names()

    def current(self, name=None) -> str:
        """The model a request names, or the newest one that loads."""
        return self.store.current(name)

    # the names the lab had before it was split (tests and scripts use them)
    def start_training(self, body: dict, quick=False) -> dict:
        return self.runs.start(body, quick)

    def stop_training(self) -> dict:
        return self.runs.stop()

    def training_status(self) -> dict:
        return self.runs.status()

    @property
    def train_job(self):
        return self.runs.job

    def close(self, wait=60.0):
        """Stop the playground and the training run; wait (up to `wait` s) until the run has saved its model."""
        if self.play.job is not None:
            self.play.job.stop()
        self.runs.close(wait)


__all__ = ["Lab", "LabError", "NotFound", "TooLarge", "Busy", "Unavailable", "check_name", "layer_outputs",
           "ERRORS_COLUMNS", "ERRORS_CSV", "MAX_PIXELS"]
