"""What a run gives back: its result (model, History, test metrics, settings, paths), and the two ways it ends early
as errors (a run that cannot be made, an interrupted one)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..model.network import Evaluation, Network
from ..train.history import History


class RunError(ValueError):
    """What the user asked for cannot be run (reported in one line by the CLI)."""


class RunInterrupted(Exception):
    """Ctrl-C or SIGTERM during training; `checkpoint_dir` (if any) holds the last finished epoch; without one,
    `saved` is the file the model, as trained when interrupted, was rescued into (None: it could not be)."""

    def __init__(self, checkpoint_dir=None, saved=None):
        self.checkpoint_dir, self.saved = checkpoint_dir, saved
        super().__init__("interrupted" + (f"; resume with: numnet train --resume {checkpoint_dir}" if checkpoint_dir
                                          else f"; the model as trained so far was saved to {saved}" if saved else ""))


@dataclass
class RunResult:
    """What a run produced: the trained model, its History, test metrics, the settings used and output paths."""

    model: Network
    history: History
    test: Evaluation | None
    settings: dict
    recipe: str | None
    seconds: float
    best_epoch: int
    best_val_accuracy: float | None
    paths: dict = field(default_factory=dict)
    #: error rates measured after training (train, train_dev when a training-dev set was carved, dev, test)
    errors: dict = field(default_factory=dict)

    def curves(self):
        """The training-curve rules applied to this run's History (see numnet.report.diagnosis.read_curves)."""
        from ..report.diagnosis import read_curves

        return read_curves(self.history)

    def summary(self) -> dict:
        """A JSON-ready summary (what `numnet train --json-summary` writes)."""
        test = {} if self.test is None else self.test._asdict()
        return {"recipe": self.recipe, "test_accuracy": test.get("accuracy"), "test_cost": test.get("cost"),
                **({"test_mse": test["mse"], "test_r2": test["r2"]} if "r2" in test else {}),
                "best_val_accuracy": self.best_val_accuracy,
                "best_epoch": self.best_epoch, "epochs": len(self.history), "seconds": self.seconds,
                "seed": self.settings.get("seed"), "config": self.settings,
                "model": str(self.paths.get("model")) if self.paths.get("model") else None,
                **({"errors": self.errors} if self.errors else {})}
