"""Runs: a whole training run from its settings (defaults < recipe < config file < overrides), the shipped
recipes, and the course's experiments. Everything above the library (the CLI, benchmarks, search, the lab)
starts runs here."""
from .run import RunError, RunInterrupted, RunResult, resolve_settings, run

__all__ = ["run", "resolve_settings", "RunResult", "RunError", "RunInterrupted"]
