"""Hyperparameter search (Optuna), the learning-rate finder, watching a run, and a scikit-learn estimator.

    from numnet.search import search
    result = search("space.toml", trials=30, epochs=3, out="search")

`NumnetClassifier` and `NumnetRegressor` (scikit-learn) are imported on first use, so scikit-learn is needed only for it.
"""
from .space import Param, Space, SpaceError, load_space, parse_space, refine
from .study import SearchError, SearchResult, TrialReporter, search, work

__all__ = ["search", "work", "SearchResult", "SearchError", "TrialReporter", "Space", "Param", "SpaceError",
           "load_space", "parse_space", "refine", "NumnetClassifier", "NumnetRegressor", "lr_find"]


def __getattr__(name):
    if name in ("NumnetClassifier", "NumnetRegressor"):
        from . import estimator

        return getattr(estimator, name)
    if name == "lr_find":
        from .lrfind import lr_find

        return lr_find
    raise AttributeError(f"module 'numnet.search' has no attribute {name!r}")
