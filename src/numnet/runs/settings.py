"""Run settings: the settings of one run, from defaults, a named recipe, a TOML file and overrides (command-
line flags), later ones overriding earlier ones. Every key is validated here, so a typo in a config file is
an error naming the key, not a silently ignored setting.

Settings are flat keys (`lr = 0.01`); a TOML file may also group them in tables:

    [network]    sizes = [784, 100, 10]   activation = "relu"
    [network]    layers = "conv 20 5, pool 2, dense 100, dense 10"   (or [[network.layers]] tables: see
                 model/layerspec.py; a layer list takes the place of sizes)
    [optimizer]  name = "adam"   lr = 0.001   beta1 = 0.9
    [schedule]   name = "plateau"   patience = 3
    [training]   epochs = 10   batch_size = 128   l2 = 1.0
    [data]       augment = "shift"   train_size = 10000

Optimizer and schedule parameters are read from their registries, so a registered optimizer's own
parameters are settings too.
"""
from __future__ import annotations

import math
import sys
from importlib import resources
from pathlib import Path

from ..utils.backend import known_devices
from ..utils.files import read_bytes_bounded

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The default run (`numnet train` with no options): about 15 s of training on 2 CPU cores, about 98% test
# accuracy. Plain SGD with a constant rate, so flags alone reproduce the book (`--lr 3.0 --sizes 784,30,10 ...`);
# `numnet train --recipe best` is the most accurate run. lr None: the optimizer's own default rate.
DEFAULTS = {
    "sizes": [784, 256, 10],
    # a layer list (convolutional networks): "conv 20 5, pool 2, dense 100, dense 10" or a list of tables; when
    # given it replaces sizes (MNIST rows are fed as 1×28×28 images)
    "layers": None,
    "activation": "relu",
    "output": None,
    "cost": "log_likelihood",
    "init": "he",
    "init_std": None,
    "bias_init": None,
    "optimizer": "sgd",
    "lr": None,
    "beta": None,
    "beta1": None,
    "beta2": None,
    "eps": None,
    "epochs": 15,
    "batch_size": 64,
    "l2": 0.0,
    "keep_prob": None,
    "batch_norm": False,
    "pieces": None,
    "standardize": False,
    "augment": "none",
    "data": "mnist",
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
    "gradient_health": False,
    "seed": None,
    "dtype": "float32",
    # where training runs: "cpu" (NumPy) or "cuda" (CuPy on a GPU: pip install "numnet[gpu]")
    "device": "cpu",
    # CPU threads for the BLAS and numnet's kernels; None: the cores no other process keeps busy now, no more
    # than the network's products gain from (utils/threads.py)
    "threads": None,
    # transfer learning: start from a saved model, replace its output layer, freeze its first layers, then
    # optionally fine-tune every layer at another rate; classes: keep only these digits (relabelled 0..k-1)
    "init_from": None,
    "replace_head": None,
    "freeze": None,
    "fine_tune_lr": None,
    "fine_tune_epochs": None,
    "classes": None,
    # a seeded training-dev set carved out of the training data (error ladder: variance vs data mismatch)
    "train_dev_size": None,
}

# keys a recipe may carry that are descriptions, not settings; published_runs: the published figure is the
# best of that many runs (Nielsen's chapter 1 reports best-of-three runs); target / target_note: the accuracy
# numnet's own recipes (source "numnet") aim for, which nobody published; slow: hours on 2 CPU cores
# (convolutional networks: benchmarks/reproduce.py runs them only when asked)
INFO_KEYS = ("description", "published", "published_note", "published_runs", "target", "target_note", "source",
             "slow")

AUGMENTS = ("none", "shift", "affine", "expand")
#: where a run's data comes from: the bundled MNIST, or the activation notes' random regression problem
#: (train_size examples, 64 by default, of N(0, 1) inputs and targets sized by the network; fitted, then measured)
DATA = ("mnist", "random_regression")


#: nested tables and how their keys map to flat settings (None: the key is the setting's name)
TABLES = {
    "network": {}, "training": {}, "data": {}, "run": {}, "transfer": {},
    "optimizer": {"name": "optimizer"},
    "schedule": {"name": "schedule", "patience": "lr_patience"},
}
#: schedule constructor arguments that are not settings of their own (derived from other settings)
_SCHEDULE_DERIVED = {"epochs", "min_fraction"}


def optimizer_keys() -> set[str]:
    """Settings that are optimizer parameters: every registered optimizer's constructor arguments but lr."""
    from ..train.optimizers import OPTIMIZERS

    return {p for name in OPTIMIZERS.names() for p in OPTIMIZERS.params(name)} - {"lr"}


def schedule_keys() -> dict[str, str]:
    """setting -> schedule parameter, for every registered schedule's constructor arguments."""
    from ..train.schedules import SCHEDULES

    out = {}
    for name in SCHEDULES.names():
        for p in SCHEDULES.params(name):
            if p not in _SCHEDULE_DERIVED:
                out[TABLES["schedule"].get(p, p)] = p
    return out


def known_keys() -> set[str]:
    return set(DEFAULTS) | optimizer_keys() | set(schedule_keys())


def flatten(cfg: dict, source: str) -> dict:
    """Nested tables ([optimizer], [schedule], ...) to flat settings; flat keys pass through."""
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            if key not in TABLES:
                raise ValueError(f"{source}: unknown table [{key}]; known: {', '.join(f'[{t}]' for t in TABLES)}")
            for k, v in value.items():
                if isinstance(v, dict):
                    raise ValueError(f"{source}: [{key}] cannot nest a table ({k!r})")
                flat = TABLES[key].get(k, k)
                if flat in out:
                    raise ValueError(f"{source}: setting {flat!r} is given twice")
                out[flat] = v
        else:
            if key in out:
                raise ValueError(f"{source}: setting {key!r} is given twice")
            out[key] = value
    return out


#: other libraries' spellings of numnet settings (Keras, PyTorch, scikit-learn), for "did you mean"
ALIASES = {"beta_1": "beta1", "beta_2": "beta2", "epsilon": "eps", "learning_rate": "lr", "learning_rate_init": "lr",
           "momentum": "beta", "batch": "batch_size", "n_epochs": "epochs", "max_iter": "epochs", "dropout": "keep_prob",
           "weight_decay": "l2", "alpha": "l2", "hidden_layer_sizes": "sizes", "random_state": "seed"}


def did_you_mean(name: str, known, aliases=None) -> str:
    """" (did you mean X?)" for a mistyped or foreign name (an alias, or the closest known name), else ""."""
    import difflib

    known = list(known)
    aliases = aliases or {}
    target = aliases.get(name, aliases.get(name.replace("-", "_")))
    if target is None:
        close = difflib.get_close_matches(name.replace("-", "_"), [k.replace("-", "_") for k in known], n=1)
        target = next((k for k in known if close and k.replace("-", "_") == close[0]), None)
    return f" (did you mean {target}?)" if target is not None and target in known else ""


def check_settings(cfg: dict, source: str) -> dict:
    """`cfg` flattened and every value checked (errors name `source`). Long: one check per settings key, in the
    order of DEFAULTS."""
    cfg = flatten(cfg, source)
    extra_numbers = (optimizer_keys() | set(schedule_keys())) - set(DEFAULTS)
    unknown = set(cfg) - known_keys() - set(INFO_KEYS)
    if unknown:
        hints = "".join(did_you_mean(k, known_keys(), ALIASES) for k in sorted(unknown))
        raise ValueError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))}{hints}; "
                         f"known: {', '.join(sorted(known_keys()))}")
    for key in extra_numbers & set(cfg):
        v = cfg[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise ValueError(f"{source}: {key} must be a number, got {v!r}")
    out = dict(cfg)
    for key in ("activation", "output", "cost", "init", "optimizer", "schedule", "dtype"):
        v = out.get(key)
        if v is not None and not isinstance(v, str):
            raise ValueError(f"{source}: {key} must be a name (a string), got {v!r}")
    if "sizes" in out:
        sizes = out["sizes"]
        if isinstance(sizes, str):
            sizes = parse_int_list(sizes, f"{source}: sizes")
        if not isinstance(sizes, list) or len(sizes) < 2 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ValueError(f"{source}: sizes must be a list of at least two positive integers, got {sizes!r}")
        out["sizes"] = sizes
    if out.get("layers") is not None:
        from ..model.layerspec import check_layers

        try:
            out["layers"] = check_layers(out["layers"])
        except ValueError as e:
            raise ValueError(f"{source}: layers: {e}") from None
    for key in ("epochs", "batch_size", "train_size", "early_stopping", "step", "lr_patience", "replace_head",
                "fine_tune_epochs", "train_dev_size", "threads"):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise ValueError(f"{source}: {key} must be a positive integer, got {v!r}")
    v = out.get("pieces")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 2):
        raise ValueError(f"{source}: pieces must be an integer >= 2 (affine pieces per maxout unit), got {v!r}")
    v = out.get("published_runs")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
        raise ValueError(f"{source}: published_runs must be a positive integer, got {v!r}")
    for key in ("validation_size", "seed", "freeze"):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{source}: {key} must be a non-negative integer, got {v!r}")
    for key in ("lr", "l2", "beta", "beta1", "beta2", "eps", "decay", "rate", "factor", "min_lr", "init_std",
                "bias_init", "fine_tune_lr"):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise ValueError(f"{source}: {key} must be a number, got {v!r}")
    for key in ("lr", "fine_tune_lr", "init_std"):
        if out.get(key) is not None and out[key] <= 0:
            raise ValueError(f"{source}: {key} must be positive, got {out[key]!r}")
    if out.get("init_from") is not None and not isinstance(out["init_from"], str):
        raise ValueError(f"{source}: init_from must be a model file path (a string), got {out['init_from']!r}")
    if "classes" in out and out["classes"] is not None:
        cl = out["classes"]
        if isinstance(cl, str):
            cl = parse_int_list(cl, f"{source}: classes")
        if (not isinstance(cl, list) or len(cl) < 2 or len(set(cl)) != len(cl)
                or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9 for c in cl)):
            raise ValueError(f"{source}: classes must list at least two distinct digits 0-9, got {out['classes']!r}")
        out["classes"] = cl
    if out.get("l2") is not None and out["l2"] < 0:
        raise ValueError(f"{source}: l2 must be >= 0, got {out['l2']!r}")
    kp = out.get("keep_prob")
    if kp is not None:
        vals = kp if isinstance(kp, list) else [kp]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in vals):
            raise ValueError(f"{source}: keep_prob must be in (0, 1] (one value or one per hidden layer), got {kp!r}")
    if out.get("data") is not None and out["data"] not in DATA:
        raise ValueError(f"{source}: data must be one of {', '.join(DATA)}, got {out['data']!r}")
    if out.get("device") is not None and out["device"] not in known_devices():
        raise ValueError(f"{source}: device must be one of {', '.join(known_devices())}, got {out['device']!r}")
    if out.get("augment") is not None and out["augment"] not in AUGMENTS:
        raise ValueError(f"{source}: augment must be one of {', '.join(AUGMENTS)}, got {out['augment']!r}")
    for key in ("batch_norm", "monitor_training", "standardize", "gradient_health"):
        if key in out and not isinstance(out[key], bool):
            raise ValueError(f"{source}: {key} must be true or false, got {out[key]!r}")
    _check_ranges(out, source)
    return out


#: most layer sizes a run may list (a model file holds at most MAX_LAYERS layers)
MAX_SIZES = 1000
#: sane bounds of the initialisation and dropout settings: beyond them the first forward pass overflows (a
#: bias of 1e30, a weight std of 1e308, an inverted-dropout scale 1/keep_prob of 1e300), and the run would
#: then "diverge" for a reason the learning rate has nothing to do with
INIT_STD_MAX = 100.0
BIAS_INIT_MAX = 100.0
KEEP_PROB_MIN = 0.01


def _check_ranges(out: dict, source: str) -> None:
    """Bounds that keep a network buildable and its first forward pass finite (see the constants above)."""
    if len(out.get("sizes") or []) > MAX_SIZES:
        raise ValueError(f"{source}: sizes lists {len(out['sizes'])} layers; at most {MAX_SIZES}")
    if out.get("init_std") is not None and out["init_std"] > INIT_STD_MAX:
        raise ValueError(f"{source}: init_std (--init-std) must be in (0, {INIT_STD_MAX:g}], got {out['init_std']!r}: "
                         "larger initial weights overflow the first forward pass")
    if out.get("bias_init") is not None and abs(out["bias_init"]) > BIAS_INIT_MAX:
        raise ValueError(f"{source}: bias_init (--bias-init) must be in [-{BIAS_INIT_MAX:g}, {BIAS_INIT_MAX:g}], got "
                         f"{out['bias_init']!r}: larger initial biases overflow the first forward pass")
    kp = out.get("keep_prob")
    if kp is not None and any(k < KEEP_PROB_MIN for k in (kp if isinstance(kp, list) else [kp])):
        raise ValueError(f"{source}: keep_prob (--keep-prob) must be in [{KEEP_PROB_MIN:g}, 1], got {kp!r}: inverted "
                         f"dropout scales the kept units by 1/keep_prob")


def parse_int_list(text: str, what: str) -> list[int]:
    """"784,30,10" → [784, 30, 10]; an empty entry ("784,,10") is an error, not skipped."""
    parts = str(text).replace(" ", "").split(",")
    try:
        return [int(s) for s in parts]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers like 784,30,10, got {text!r}") from None


#: largest config file read (a run's settings are a few hundred bytes)
MAX_CONFIG_BYTES = 2**20


def read_toml(path) -> dict:
    """A run configuration from a TOML file (flat keys as in DEFAULTS, or nested tables: see above)."""
    path = Path(path)
    raw = read_bytes_bounded(path, "config file", MAX_CONFIG_BYTES)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {path} is not UTF-8 text") from None
    except RecursionError:
        raise ValueError(f"config file {path} is nested too deeply: not a run configuration") from None
    except ValueError as e:  # a number of more than 4300 digits, say
        raise ValueError(f"config file {path} could not be read: {e}") from None
    return check_settings(data, f"config file {path}")


def recipe_names() -> list[str]:
    folder = resources.files("numnet.runs") / "recipes"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_recipe(name: str) -> dict:
    """A recipe shipped with numnet (src/numnet/runs/recipes/NAME.toml)."""
    names = recipe_names()
    if name not in names:
        raise ValueError(f"unknown recipe {name!r}{did_you_mean(name, names)}; known: {', '.join(names)}")
    path = resources.files("numnet.runs") / "recipes" / f"{name}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return check_settings(data, f"recipe {name}")


def merge(*layers: dict) -> dict:
    """DEFAULTS overridden by each layer in turn (None values in flags mean 'not given')."""
    cfg = dict(DEFAULTS)
    cfg.update({k: None for k in known_keys() - set(DEFAULTS)})
    for layer in layers:
        cfg.update({k: v for k, v in layer.items() if v is not None or k not in cfg})
    return cfg
