"""Run configurations: the settings of one `numnet train` run, from defaults, a named recipe, a TOML file and
command-line flags (later ones override earlier ones). Every key is validated here, so a typo in a config
file is an error naming the key, not a silently ignored setting.
"""
from __future__ import annotations

import math
import sys
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The default run (`numnet train` with no options): about a minute on 2 CPU cores, about 98% test accuracy.
# Plain SGD with a constant rate, so flags alone reproduce the book (`--lr 3.0 --sizes 784,30,10 ...`);
# `numnet train --recipe best` is the most accurate run.
DEFAULTS = {
    "sizes": [784, 256, 10],
    "activation": "relu",
    "output": None,
    "cost": "log_likelihood",
    "init": "he",
    "optimizer": "sgd",
    "lr": 0.2,
    "beta": None,
    "beta1": None,
    "beta2": None,
    "eps": None,
    "epochs": 15,
    "batch_size": 64,
    "l2": 0.0,
    "keep_prob": None,
    "batch_norm": False,
    "augment": "none",
    "schedule": "constant",
    "decay": None,
    "rate": None,
    "step": None,
    "factor": None,
    "lr_patience": None,
    "min_lr": None,
    "early_stopping": None,
    "train_size": None,
    "validation_size": 10000,
    "monitor_training": False,
    "seed": None,
    "dtype": "float32",
}

# keys a recipe may carry that are descriptions, not settings; published_runs: the published figure is the
# best of that many runs (Nielsen's chapter 1 reports best-of-three runs)
INFO_KEYS = ("description", "published", "published_note", "published_runs", "source")

AUGMENTS = ("none", "shift", "affine", "expand")


def _check_types(cfg: dict, source: str) -> dict:
    unknown = set(cfg) - set(DEFAULTS) - set(INFO_KEYS)
    if unknown:
        raise ValueError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(DEFAULTS))}")
    out = dict(cfg)
    if "sizes" in out:
        sizes = out["sizes"]
        if isinstance(sizes, str):
            sizes = parse_int_list(sizes, f"{source}: sizes")
        if not isinstance(sizes, list) or len(sizes) < 2 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ValueError(f"{source}: sizes must be a list of at least two positive integers, got {sizes!r}")
        out["sizes"] = sizes
    for key in ("epochs", "batch_size", "train_size", "early_stopping", "step", "lr_patience"):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise ValueError(f"{source}: {key} must be a positive integer, got {v!r}")
    v = out.get("published_runs")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
        raise ValueError(f"{source}: published_runs must be a positive integer, got {v!r}")
    for key in ("validation_size", "seed"):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{source}: {key} must be a non-negative integer, got {v!r}")
    for key in ("lr", "l2", "beta", "beta1", "beta2", "eps", "decay", "rate", "factor", "min_lr"):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise ValueError(f"{source}: {key} must be a number, got {v!r}")
    if out.get("lr") is not None and out["lr"] <= 0:
        raise ValueError(f"{source}: lr must be positive, got {out['lr']!r}")
    if out.get("l2") is not None and out["l2"] < 0:
        raise ValueError(f"{source}: l2 must be >= 0, got {out['l2']!r}")
    kp = out.get("keep_prob")
    if kp is not None:
        vals = kp if isinstance(kp, list) else [kp]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in vals):
            raise ValueError(f"{source}: keep_prob must be in (0, 1] (one value or one per hidden layer), got {kp!r}")
    if out.get("augment") is not None and out["augment"] not in AUGMENTS:
        raise ValueError(f"{source}: augment must be one of {', '.join(AUGMENTS)}, got {out['augment']!r}")
    for key in ("batch_norm", "monitor_training"):
        if key in out and not isinstance(out[key], bool):
            raise ValueError(f"{source}: {key} must be true or false, got {out[key]!r}")
    return out


def parse_int_list(text: str, what: str) -> list[int]:
    """"784,30,10" → [784, 30, 10]."""
    try:
        return [int(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers like 784,30,10, got {text!r}") from None


def read_toml(path) -> dict:
    """A run configuration from a TOML file (flat keys as in DEFAULTS)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {path} is not UTF-8 text") from None
    return _check_types(data, f"config file {path}")


def recipe_names() -> list[str]:
    folder = resources.files("numnet") / "recipes"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_recipe(name: str) -> dict:
    """A recipe shipped with numnet (src/numnet/recipes/NAME.toml)."""
    names = recipe_names()
    if name not in names:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(names)}")
    path = resources.files("numnet") / "recipes" / f"{name}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return _check_types(data, f"recipe {name}")


def merge(*layers: dict) -> dict:
    """DEFAULTS overridden by each layer in turn (None values in flags mean 'not given')."""
    cfg = dict(DEFAULTS)
    for layer in layers:
        cfg.update({k: v for k, v in layer.items() if v is not None or k not in cfg})
    return cfg
