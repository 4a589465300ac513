"""Search spaces: a base run plus, for each searched setting, its distribution on its own scale.

A SPACE.toml file:

    recipe = "default"            # or config = "base.toml" (relative to the space file); optional
    epochs = 2                    # any other top-level key or table ([training], ...): a fixed setting

    [search.lr]                   # α on a log scale
    dist = "log"
    low = 1e-4
    high = 1.0
    [search.beta]                 # 1 − β on a log scale: β in [0.9, 0.999]
    dist = "one-minus-log"
    low = 0.9
    high = 0.999
    [search.hidden]               # hidden units, log-uniform integers; sizes = [784, h, ..., 10]
    dist = "int-log"
    low = 16
    high = 512
    [search.layers]               # number of hidden layers (with `hidden`)
    dist = "int"
    low = 1
    high = 3
    [search.keep_prob]
    dist = "uniform"
    low = 0.5
    high = 1.0
    [search.batch_size]
    dist = "choice"
    values = [32, 64, 128, 256]

Distributions: log, one-minus-log, int-log, int, uniform, choice. `steps = N` gives a continuous (or
int) range N grid points on its own scale (needed by the grid sampler for log, one-minus-log and uniform).
"""
from __future__ import annotations

import copy
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runs import settings as S
from ..utils.files import read_bytes_bounded

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DISTS = ("log", "one-minus-log", "int-log", "int", "uniform", "choice")
#: settings that exist only in a search: they expand to `sizes`
ARCH_KEYS = ("hidden", "layers")


class SpaceError(ValueError):
    """A search space that cannot be searched (reported in one line by the CLI)."""


@dataclass
class Param:
    """One searched setting: its distribution and range (or values)."""

    name: str
    dist: str
    low: float | None = None
    high: float | None = None
    values: list | None = None
    steps: int | None = None

    # ---------------------------------------------------------------- scales
    @property
    def numeric(self) -> bool:
        return self.dist != "choice"

    @property
    def is_int(self) -> bool:
        return self.dist in ("int", "int-log")

    @property
    def optuna_name(self) -> str:
        """The name Optuna (and its dashboard) shows: the sampled quantity, one_minus_beta = 1 − β for
        one-minus-log (sampled on a log scale; the trial's user attribute `beta` holds β itself)."""
        return f"one_minus_{self.name}" if self.dist == "one-minus-log" else self.name

    @property
    def optuna_names(self) -> tuple[str, ...]:
        """optuna_name, then the name studies of numnet 0.x used ("1-beta"): for reading older studies."""
        return (self.optuna_name, f"1-{self.name}") if self.dist == "one-minus-log" else (self.optuna_name,)

    def from_trial(self, params: dict):
        """This setting's value in a trial's Optuna parameters (None when the trial has none)."""
        for key in self.optuna_names:
            if key in params:
                v = params[key]
                return 1 - v if self.dist == "one-minus-log" else v
        return None

    def to_scale(self, value) -> float:
        """A setting value on the scale it is sampled uniformly on (log10, log10(1 − v) or itself)."""
        if self.dist in ("log", "int-log"):
            return math.log10(value)
        if self.dist == "one-minus-log":
            return math.log10(1 - value)
        return float(value)

    def from_scale(self, x) -> float:
        if self.dist in ("log", "int-log"):
            return 10 ** x
        if self.dist == "one-minus-log":
            return 1 - 10 ** x
        return x

    def grid(self) -> list:
        """The grid points of this setting (its values for choice), in the sampled quantity (1 − β for β)."""
        if self.dist == "choice":
            return list(self.values)
        if self.steps is None:
            if self.dist == "int":
                return list(range(int(self.low), int(self.high) + 1))
            raise SpaceError(f"the grid sampler needs `steps` for {self.name} ({self.dist} is continuous); "
                             f"add steps = N to [search.{self.name}] or give values with dist = \"choice\"")
        a, b = sorted((self.to_scale(self.low), self.to_scale(self.high)))
        points = [min(max(self.from_scale(x), self.low), self.high) for x in np.linspace(a, b, self.steps)]
        if self.is_int:
            points = sorted({int(round(p)) for p in points})
        if self.dist == "one-minus-log":
            points = [1 - p for p in points]
        return [float(p) if not self.is_int else p for p in points]

    # ---------------------------------------------------------------- sampling
    def suggest(self, trial):
        """The setting's value for an Optuna trial."""
        if self.dist == "choice":
            return trial.suggest_categorical(self.name, self.values)
        if self.dist == "log":
            return trial.suggest_float(self.name, self.low, self.high, log=True)
        if self.dist == "one-minus-log":
            return 1 - trial.suggest_float(self.optuna_name, 1 - self.high, 1 - self.low, log=True)
        if self.dist == "int-log":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=True)
        if self.dist == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_float(self.name, self.low, self.high)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n values drawn as a random sampler draws them (without Optuna): for tests and the benchmarks."""
        if self.dist == "choice":
            return np.array([self.values[i] for i in rng.integers(0, len(self.values), n)])
        if self.dist == "int":
            return rng.integers(int(self.low), int(self.high) + 1, n)
        if self.dist == "int-log":
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            return np.clip(np.round(np.exp(rng.uniform(lo, hi, n))), self.low, self.high).astype(int)
        a, b = self.to_scale(self.low), self.to_scale(self.high)
        return np.array([self.from_scale(x) for x in rng.uniform(min(a, b), max(a, b), n)])

    def as_dict(self) -> dict:
        d = {"dist": self.dist}
        if self.dist == "choice":
            d["values"] = list(self.values)
        else:
            d["low"], d["high"] = self.low, self.high
        if self.steps is not None:
            d["steps"] = self.steps
        return d


@dataclass
class Space:
    """A base run (recipe, config, fixed settings) and the searched settings."""

    params: dict[str, Param]
    recipe: str | None = None
    config: dict | None = None
    fixed: dict = field(default_factory=dict)
    source: str = "space"

    def as_dict(self) -> dict:
        """JSON-ready; two spaces are the same search when these are equal."""
        return {"recipe": self.recipe, "config": self.config, "fixed": self.fixed,
                "search": {k: p.as_dict() for k, p in self.params.items()}}

    def signature(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def base_settings(self) -> dict:
        """The base run's resolved settings (without the searched ones)."""
        from ..runs.run import resolve_settings

        return resolve_settings(self.recipe, self.config, self.fixed)

    def settings_for(self, values: dict) -> dict:
        """Override settings for one point: `hidden`/`layers` expand to sizes [n_in, h, ..., n_out]."""
        values = dict(values)
        out = {k: v for k, v in values.items() if k not in ARCH_KEYS}
        if any(k in values for k in ARCH_KEYS):
            sizes = self.fixed.get("sizes") or self.base_settings()["sizes"]
            hidden = values.get("hidden", sizes[1] if len(sizes) > 2 else 100)
            layers = values.get("layers", max(1, len(sizes) - 2))
            out["sizes"] = [sizes[0]] + [int(hidden)] * int(layers) + [sizes[-1]]
        for k, v in out.items():
            if isinstance(v, np.generic):
                out[k] = v.item()
        return out

    def suggest(self, trial) -> tuple[dict, dict]:
        """(searched values, the run's override settings) for an Optuna trial."""
        values = {name: p.suggest(trial) for name, p in self.params.items()}
        return values, self.settings_for(values)

    def grid(self) -> dict:
        return {p.optuna_name: p.grid() for p in self.params.values()}


# ---------------------------------------------------------------------------------------------- parsing
def _number(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SpaceError(f"{what} must be a number, got {v!r}")
    return v


def parse_param(name: str, spec, source="space") -> Param:
    """A Param from its table, every mistake a one-line SpaceError."""
    where = f"{source}: [search.{name}]"
    if not isinstance(spec, dict):
        raise SpaceError(f"{where} must be a table with dist = one of {', '.join(DISTS)}")
    unknown = set(spec) - {"dist", "low", "high", "values", "steps"}
    if unknown:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: dist, low, high, values, steps")
    dist = spec.get("dist")
    if dist not in DISTS:
        raise SpaceError(f"{where}: dist must be one of {', '.join(DISTS)}, got {dist!r}")
    steps = spec.get("steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
        raise SpaceError(f"{where}: steps must be an integer >= 2, got {steps!r}")
    if dist == "choice":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{where}: choice needs a non-empty list `values`")
        if len(set(map(json.dumps, values))) != len(values):
            raise SpaceError(f"{where}: values repeat: {values!r}")
        if not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise SpaceError(f"{where}: values must be names or numbers, got {values!r}")
        p = Param(name, dist, values=list(values))
    else:
        if "low" not in spec or "high" not in spec:
            raise SpaceError(f"{where}: {dist} needs low and high")
        low, high = _number(spec["low"], f"{where} low"), _number(spec["high"], f"{where} high")
        if low >= high:
            raise SpaceError(f"{where}: empty or inverted range: low {low!r} must be below high {high!r}")
        if dist in ("log", "int-log") and low <= 0:
            raise SpaceError(f"{where}: a {dist} range must stay above 0 (log of {low!r}); got [{low!r}, {high!r}]")
        if dist == "one-minus-log" and not (0 < low < high < 1):
            raise SpaceError(f"{where}: a one-minus-log range (β-like) must lie inside (0, 1); got [{low!r}, {high!r}]")
        if dist in ("int", "int-log") and not (float(low).is_integer() and float(high).is_integer()):
            raise SpaceError(f"{where}: {dist} needs integer low and high, got [{low!r}, {high!r}]")
        if dist in ("int", "int-log"):
            low, high = int(low), int(high)
        p = Param(name, dist, low=low, high=high, steps=steps)
    _check_values(p, source)
    return p


def _check_values(p: Param, source):
    """Every value the setting can take must be a valid setting (keep_prob in (0, 1], a known optimizer, ...)."""
    if p.name in ARCH_KEYS:
        values = p.values if p.dist == "choice" else [p.low, p.high]
        if p.dist not in ("int", "int-log", "choice") or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            raise SpaceError(f"{source}: [search.{p.name}] must take positive integers (int, int-log or choice)")
        return
    probe = p.values if p.dist == "choice" else [p.low, p.high]
    for v in probe:
        try:
            S.check_settings({p.name: v}, f"{source}: [search.{p.name}]")
        except ValueError as e:
            raise SpaceError(str(e)) from None
    if p.dist == "choice" and p.name in ("activation", "optimizer", "cost", "init", "schedule"):
        from ..nn import ACTIVATIONS, COSTS, INITIALIZERS
        from ..train import OPTIMIZERS, SCHEDULES

        reg = {"activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "cost": COSTS, "init": INITIALIZERS,
               "schedule": SCHEDULES}[p.name]
        for v in p.values:
            try:
                reg.resolve(v)
            except ValueError as e:
                raise SpaceError(f"{source}: [search.{p.name}]: {e}") from None


def parse_space(data: dict, source="space", base_dir=None) -> Space:
    """A Space from a parsed SPACE.toml (or an equal dict)."""
    data = copy.deepcopy(data)
    recipe = data.pop("recipe", None)
    config = data.pop("config", None)
    search = data.pop("search", None)
    if not isinstance(search, dict) or not search:
        raise SpaceError(f"{source}: no [search.NAME] tables: nothing to search")
    if recipe is not None and not isinstance(recipe, str):
        raise SpaceError(f"{source}: recipe must be a recipe name (a string), got {type(recipe).__name__}")
    if config is not None and not isinstance(config, (str, dict)):
        raise SpaceError(f"{source}: config must be a file name or a table, got {type(config).__name__}")
    if recipe is not None:
        try:
            S.load_recipe(recipe)
        except ValueError as e:
            raise SpaceError(f"{source}: {e}") from None
    if config is not None and not isinstance(config, dict):
        path = Path(config)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        try:
            config = S.read_toml(path)
        except (ValueError, FileNotFoundError) as e:
            raise SpaceError(f"{source}: {e}") from None
    elif isinstance(config, dict):
        config = S.check_settings(config, f"{source}: config")
    try:
        fixed = S.check_settings(data, source)
    except ValueError as e:
        raise SpaceError(str(e)) from None
    for key in S.INFO_KEYS:
        fixed.pop(key, None)
    known = S.known_keys() | set(ARCH_KEYS)
    unknown = sorted(set(search) - known)
    if unknown:
        raise SpaceError(f"{source}: unknown setting(s) to search: {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    if "sizes" in search and set(ARCH_KEYS) & set(search):
        raise SpaceError(f"{source}: search either sizes or hidden/layers, not both")
    params = {name: parse_param(name, spec, source) for name, spec in search.items()}
    clash = set(params) & set(fixed)
    if clash:
        raise SpaceError(f"{source}: {', '.join(sorted(clash))} is both fixed and searched")
    space = Space(params, recipe, config, fixed, source)
    try:
        space.base_settings()
    except ValueError as e:
        raise SpaceError(f"{source}: base run: {e}") from None
    return space


#: a space file is a few lines of TOML; anything far larger is not one
MAX_SPACE_BYTES = 1 << 20


def load_space(space) -> Space:
    """A Space from a SPACE.toml path, a dict like its contents, or a Space."""
    if isinstance(space, Space):
        return space
    if isinstance(space, dict):
        return parse_space(space)
    path = Path(space)
    try:  # a regular file of at most MAX_SPACE_BYTES (a FIFO or /dev/zero is refused, never read)
        text = read_bytes_bounded(path, "space file", MAX_SPACE_BYTES).decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise SpaceError(f"space file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpaceError(f"space file {path} is not valid TOML: {e}") from None
    except RecursionError:
        raise SpaceError(f"space file {path} is nested too deeply") from None
    except ValueError as e:  # not a regular file, too large, or a number over Python's digit limit
        raise SpaceError(f"space file {path}: {e}" if str(path) not in str(e) else str(e)) from None
    return parse_space(data, f"space file {path}", base_dir=path.parent)


def space_from_dict(d: dict) -> Space:
    """The inverse of Space.as_dict (what a study stores)."""
    params = {k: parse_param(k, v) for k, v in d["search"].items()}
    return Space(params, d.get("recipe"), d.get("config"), d.get("fixed") or {})


# ---------------------------------------------------------------------------------------------- refine
def refine(space: Space, top_rows: list[dict], margin: float = 0.25, shrink: float = 0.5) -> Space:
    """Coarse to fine: each numeric range narrowed to the span of the top trials (best first) on its own scale,
    widened by `margin` of that span on each side (at least 5% of the old range), clipped to the old range; a
    choice keeps the values the top trials used. A range always narrows: when the top trials spread over more
    than `shrink` of the old range, the new one is that fraction of it, centred on the best trial."""
    if not top_rows:
        raise SpaceError("refine: no finished trials to refine from")
    params = {}
    for name, p in space.params.items():
        vals = [r[name] for r in top_rows if r.get(name) not in (None, "")]
        if not vals:
            params[name] = p
            continue
        if p.dist == "choice":
            kept = [v for v in p.values if any(str(v) == str(u) for u in vals)]
            params[name] = Param(name, "choice", values=kept or list(p.values))
            continue
        xs = [p.to_scale(float(v)) for v in vals]
        a, b = sorted((p.to_scale(p.low), p.to_scale(p.high)))
        lo, hi = min(xs), max(xs)
        pad = max(margin * (hi - lo), 0.05 * (b - a))
        lo, hi = max(a, lo - pad), min(b, hi + pad)
        if hi - lo > shrink * (b - a):
            half = shrink * (b - a) / 2
            centre = min(max(xs[0], a + half), b - half)
            lo, hi = centre - half, centre + half
        low, high = sorted((p.from_scale(lo), p.from_scale(hi)))
        if p.is_int:
            low, high = int(math.floor(low + 1e-9)), int(math.ceil(high - 1e-9))
            if low == high:
                high = min(int(p.high), high + 1) if high < p.high else high
                low = high - 1 if low == high else low
        else:
            low, high = max(low, p.low), min(high, p.high)
        params[name] = Param(name, p.dist, low=low, high=high, steps=p.steps)
    return Space(params, space.recipe, space.config, dict(space.fixed), space.source)
