"""Samplers and pruners by name, seeded per trial, and the grid as queued points.

A seeded sampler draws trial N's point from a generator seeded by (seed, N), not from one stream per process:
a rerun that continues a study (`--trials 2`, then `--trials 4`, same `--seed`) draws new points for trials
2-3 instead of repeating trials 0-1, the trials of a one-worker search are the same whatever its number of
reruns, and with several workers a trial's point depends on its number, not on which worker draws it (after a
crash, fresh trials do not repeat the retried ones).

The grid sampler's points are queued in the study (in an order fixed by the seed) before any worker starts:
workers pop queued trials atomically, so K workers cover each point exactly once.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np

from .errors import SearchError
from .optuna_compat import import_optuna, queued_params
from .space import Space, SpaceError

SAMPLERS = ("random", "grid", "tpe")
PRUNERS = ("none", "median", "hyperband")


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial `number`'s draws in a search seeded with `seed`."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(number)]).generate_state(1)[0])


def _seeded_class():
    BaseSampler = import_optuna().samplers.BaseSampler

    class TrialSeededSampler(BaseSampler):
        """A sampler that delegates each trial to a fresh `make(seed)` seeded by trial_seed(seed, number)."""

        def __init__(self, make, seed: int):
            self._make, self._seed, self._current = make, seed, (None, None)

        def _for(self, trial):
            number, sampler = self._current
            if number != trial.number:
                sampler = self._make(trial_seed(self._seed, trial.number))
                self._current = (trial.number, sampler)
            return sampler

        def infer_relative_search_space(self, study, trial):
            return self._for(trial).infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._for(trial).sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study, trial):
            self._for(trial).before_trial(study, trial)

        def after_trial(self, study, trial, state, values):
            self._for(trial).after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:  # the seed is per trial: nothing to reseed
            pass

    return TrialSeededSampler


def make_sampler(sampler, space: Space, seed):
    """An Optuna sampler for a name (an Optuna sampler object is returned as it is). "grid" checks that the
    space has a grid and samples nothing itself: its points are queued (enqueue_grid)."""
    optuna = import_optuna()
    if not isinstance(sampler, str):
        return sampler
    if sampler == "grid":
        grid_points(space)
    if sampler in ("random", "grid"):
        make = lambda s: optuna.samplers.RandomSampler(seed=s)  # noqa: E731
    elif sampler == "tpe":
        make = lambda s: optuna.samplers.TPESampler(seed=s)  # noqa: E731
    else:
        raise SearchError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    return make(None) if seed is None else _seeded_class()(make, seed)


def make_pruner(pruner, epochs: int):
    optuna = import_optuna()
    if not isinstance(pruner, str):
        return pruner
    if pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs), reduction_factor=3)
    raise SearchError(f"--pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")


# ---------------------------------------------------------------------------------------------- grid
def grid_points(space: Space) -> list[dict]:
    """Every grid point as Optuna parameters (names and sampled quantities as Optuna sees them)."""
    try:
        grid = space.grid()
    except SpaceError as e:
        raise SearchError(str(e)) from None
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def grid_size(space: Space) -> int:
    return math.prod(len(v) for v in space.grid().values())


def _key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def enqueue_grid(study, space: Space, trials: int, seed) -> int:
    """Queue the grid points the study has not tried, in the seed's order, until it holds min(trials, grid size)
    counted trials (failed ones do not count); the number queued."""
    TrialState = import_optuna().trial.TrialState
    points = grid_points(space)
    order = np.random.default_rng(seed).permutation(len(points))
    existing = study.get_trials(deepcopy=False)
    tried = {_key(t.params) for t in existing if t.params}
    tried |= {_key(queued_params(t)) for t in existing if t.state == TrialState.WAITING}
    need = min(trials, len(points)) - sum(t.state != TrialState.FAIL for t in existing)
    queued = 0
    for i in order:
        if queued >= need:
            break
        if _key(points[i]) not in tried:
            study.enqueue_trial(points[i])
            queued += 1
    return queued


def optuna_params(space: Space, values: dict) -> dict:
    """A point given as setting values ({"beta": 0.9}) as Optuna parameters ({"one_minus_beta": 0.1})."""
    out = {}
    for k, v in values.items():
        p = space.params.get(k)
        if p is None:
            raise SearchError(f"enqueue: {k} is not a searched setting")
        out[p.optuna_name] = 1 - v if p.dist == "one-minus-log" else v
    return out


__all__ = ["make_sampler", "make_pruner", "enqueue_grid", "grid_points", "grid_size", "optuna_params",
           "trial_seed", "SAMPLERS", "PRUNERS"]
