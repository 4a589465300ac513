"""A whole run from its settings, in-process: data, network (new, or resumed from a checkpoint), optimizer,
schedule, augmentation, callbacks, training, test metrics and the output files. The CLI, the benchmark
scripts, search and the lab all call `run`; it raises clear errors (RunError, ValueError, OSError) and
prints nothing unless given a `log`.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ..data.augment import expand_shifts, random_affine
from ..data.mnist import load_mnist
from ..model.network import Network, load_checkpoint
from ..nn.layers import Dropout
from ..train.callbacks import EarlyStopping
from ..train.health import GradientHealth
from ..train.history import History
from ..train.optimizers import OPTIMIZERS, make_optimizer
from ..train.schedules import make_schedule
from ..train.checkpoints import CHECKPOINT_FILE
from ..utils.backend import CPU, require_device
from ..utils.files import check_output_dir, check_output_file, remove_stale_temporaries, write_text_atomic
from ..utils.jsonio import read_json
from ..utils.threads import limited, resolve
from . import settings as S
from .result import RunError, RunInterrupted, RunResult
from .outputs import RUN_EXTRAS, RUN_FILE, interrupted_path, training_meta, write_run_file
from .guards import GuardError, check_training_memory, clear_checkpoint, run_guard

DEFAULT_MODEL = "numnet-model.npz"
#: files atomically written into a checkpoint folder, whose leftover temporaries --resume removes
STALE_NAMES = (CHECKPOINT_FILE, "history.json", RUN_FILE)
NETWORK_KEYS = ("sizes", "layers", "activation", "output", "cost", "init", "init_std", "bias_init", "batch_norm", "pieces",
                "standardize", "dtype")


# ---------------------------------------------------------------------------------------------- settings
def resolve_settings(recipe=None, config=None, overrides=None) -> dict:
    """DEFAULTS < recipe < config file < overrides, validated; the seed and the rate are filled in."""
    layers = []
    if recipe:
        layers.append(S.load_recipe(recipe))
    if config:
        layers.append(S.read_toml(config) if not isinstance(config, dict) else S.check_settings(config, "config"))
    if overrides:
        layers.append(S.check_settings({k: v for k, v in overrides.items() if v is not None}, "settings"))
    cfg = S.merge(*layers)
    return _complete(cfg)


def _complete(cfg: dict) -> dict:
    if cfg["seed"] is None:
        cfg["seed"] = int(np.random.SeedSequence().entropy % 2**31)
    if cfg["lr"] is None:
        cfg["lr"] = OPTIMIZERS.get(cfg["optimizer"]).default_lr
    return cfg


def build_optimizer(cfg):
    params = {"lr": cfg["lr"]}
    for key in sorted(S.optimizer_keys()):
        if cfg.get(key) is not None:
            params[key] = cfg[key]
    return make_optimizer(cfg["optimizer"], **params)


def build_schedule(cfg):
    name = str(cfg["schedule"]).lower().replace("-", "_")
    params = {}
    if name == "cosine":
        params["epochs"] = cfg["epochs"]
    for key, param in S.schedule_keys().items():
        if key != "min_lr" and cfg.get(key) is not None:
            params[param] = cfg[key]
    if cfg.get("min_lr") is not None:
        if name == "plateau":
            params["min_fraction"] = cfg["min_lr"] / cfg["lr"]
        else:
            params["min_lr"] = cfg["min_lr"]
    return make_schedule(name, **params)


def build_network(cfg) -> Network:
    if cfg.get("init_from"):
        return transferred_network(cfg)
    for key in ("replace_head", "freeze", "fine_tune_lr", "fine_tune_epochs"):
        if cfg.get(key) is not None:
            raise RunError(f"--{key.replace('_', '-')} needs --init-from MODEL (a pretrained model to start from)")
    init = cfg["init"] if cfg["init_std"] is None else {"name": cfg["init"], "std": cfg["init_std"]}
    if cfg.get("layers"):
        return layered_network(cfg, init)
    return Network.from_sizes(cfg["sizes"], activation=cfg["activation"], output=cfg["output"], cost=cfg["cost"],
                              init=init, seed=cfg["seed"], dtype=cfg["dtype"], keep_prob=cfg["keep_prob"],
                              batch_norm=cfg["batch_norm"], pieces=cfg["pieces"], bias_init=cfg["bias_init"])


def layered_network(cfg, init) -> Network:
    """The network of a layer list (`layers`) on MNIST's 1×28×28 images; dropout and batch norm are entries
    of the list, so the flags that add them to a sizes network are refused rather than ignored."""
    given = [k for k in ("keep_prob", "batch_norm", "pieces", "bias_init") if cfg.get(k) not in (None, False)]
    if given:
        raise RunError(f"with a layer list, put dropout and batch norm in the list ('dropout 0.5', 'dense 100 bn'); "
                       f"drop {', '.join('--' + k.replace('_', '-') for k in given)}")
    if cfg.get("data") == "random_regression":
        raise RunError("a layer list builds an image network; the random regression data takes --sizes")
    return Network.from_layers(cfg["layers"], (1, 28, 28), activation=cfg["activation"], output=cfg["output"],
                               cost=cfg["cost"], init=init, seed=cfg["seed"], dtype=cfg["dtype"])


def transferred_network(cfg) -> Network:
    """The pretrained model of `init_from` with its head replaced (`replace_head` units) and its first `freeze`
    parameterised layers frozen (see numnet.model.transfer)."""
    from ..model.network import load
    from ..model.transfer import transfer

    changed = [k for k in NETWORK_KEYS if k != "dtype" and cfg.get(k) != S.DEFAULTS[k]]
    if changed:
        raise RunError(f"--init-from takes the network from the model; drop "
                       f"{', '.join('--' + k.replace('_', '-') for k in changed)}")
    pretrained = load(cfg["init_from"])
    if pretrained.dtype.name != cfg["dtype"]:
        pretrained = pretrained.astype(cfg["dtype"])
    try:
        return transfer(pretrained, replace_head=cfg.get("replace_head"), freeze=cfg.get("freeze") or 0,
                        seed=cfg["seed"])
    except ValueError as e:
        raise RunError(f"{cfg['init_from']}: {e}") from None


def select_classes(data, classes):
    """Keep only the examples of the listed classes, relabelled by their position in the list."""
    lookup = np.full(max(classes) + 1, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    out = []
    for X, y in data:
        keep = np.isin(y, classes)
        out.append((X[keep], lookup[y[keep]]))
    return tuple(out)


AUGMENTS = {
    "shift": lambda X, rng: random_affine(X, rng, max_shift=2.0, max_degrees=0.0),
    "affine": lambda X, rng: random_affine(X, rng, max_shift=2.0, max_degrees=10.0),
}


def mnist_data(cfg, log=None):
    """((X, y), (X_val, y_val), (X_test, y_test)) for the settings: train/validation sizes, expansion."""
    (X, y), (Xv, yv), (Xt, yt) = load_mnist(validation_size=cfg["validation_size"], dtype=cfg["dtype"])
    if cfg.get("classes"):
        (X, y), (Xv, yv), (Xt, yt) = select_classes(((X, y), (Xv, yv), (Xt, yt)), cfg["classes"])
    if cfg["train_size"] is not None:
        if cfg["train_size"] > len(X):
            raise RunError(f"--train-size {cfg['train_size']} exceeds the {len(X)} training images")
        X, y = X[:cfg["train_size"]], y[:cfg["train_size"]]
    if cfg["augment"] == "expand":
        X, y = expand_shifts(X, y)
        if log:
            log(f"expanded the training set with one-pixel shifts: {len(X)} images")
    return (X, y), (Xv, yv), (Xt, yt)


def regression_data(cfg):
    """The activation notes' program: fit `train_size` (default 64) random points; the test set is the same
    points (the program measures the fit), and there is no validation set."""
    from ..data.toy import make_random_regression

    X, Y = make_random_regression(cfg["train_size"] or 64, cfg["sizes"][0], cfg["sizes"][-1], cfg["seed"], cfg["dtype"])
    return (X, Y), (X[:0], Y[:0]), (X, Y)


def set_keep_prob(net: Network, keep_prob) -> None:
    """Change the dropout keep probabilities of a (loaded) network: one value, or one per Dropout layer."""
    drops = [layer for layer in net.layers if isinstance(layer, Dropout)]
    kp = keep_prob if isinstance(keep_prob, list) else [keep_prob] * len(drops)
    if not drops and any(k != 1 for k in (kp or [keep_prob])):
        raise RunError("the checkpoint's network has no dropout layers; --keep-prob cannot add them")
    if len(kp) != len(drops):
        raise RunError(f"the checkpoint's network has {len(drops)} dropout layers; --keep-prob gave {len(kp)} values")
    for layer, k in zip(drops, kp):
        layer.keep_prob = Dropout(k).keep_prob


def thread_pool(cfg, net: Network):
    """The CPU threads a run trains with (settings' `threads`, else the idle cores, fewer for small
    networks: utils/threads.py), as a context that sets the BLAS and kernel pools; none on a GPU."""
    if cfg.get("device", CPU) != CPU:
        return contextlib.nullcontext()
    return limited(resolve(cfg.get("threads"), net.sizes, cfg["batch_size"]))


def place(net: Network, device: str, optimizer=None) -> None:
    """Move `net` to `device`, carrying `optimizer`'s per-parameter state along (it is kept per array)."""
    if net.device == device:
        return
    states = optimizer.state_dict(net.param_arrays()) if optimizer is not None else None
    net.to(device)
    if optimizer is not None:
        optimizer.load_state_dict(net.param_arrays(), states)


def check_output_paths(paths: dict, dirs: dict = None) -> None:
    """Fail before training, not after it, when an output file (`paths`) or folder (`dirs`) could not be
    written: a file where a folder is expected or the reverse, a missing or unwritable folder."""
    try:
        for flag, path in paths.items():
            if path is not None:
                check_output_file(path, flag)
        for flag, path in (dirs or {}).items():
            if path is not None:
                check_output_dir(path, flag)
    except ValueError as e:
        raise RunError(str(e)) from None


def _rescue_model(net, problem: str, targets=()) -> None:
    """After training, an output could not be written (disk full, folder gone): save the trained model to
    the first of `targets`, the current folder or the temporary folder that works, and raise a RunError
    naming the problem and where the model went (or that it is lost)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidates = [*targets, Path.cwd() / f"numnet-model-rescued-{stamp}.npz",
                  Path(tempfile.gettempdir()) / f"numnet-model-rescued-{stamp}.npz"]
    for fallback in candidates:
        try:
            net.save(fallback)
        except (OSError, ValueError):
            continue
        raise RunError(f"{problem}; the trained model was saved to {fallback}")
    raise RunError(f"{problem}; the model could not be saved anywhere else either: it is lost")


# ---------------------------------------------------------------------------------------------- the run
def run(recipe=None, config=None, overrides=None, *, resume=None, out=DEFAULT_MODEL, checkpoint_dir=None,
        overwrite=False, **options) -> RunResult:
    """Train one run and return its RunResult.

    recipe / config / overrides: the settings (see `resolve_settings`); resume: a checkpoint directory to
    continue (overrides may change the rate, schedule, L2, dropout, epochs, ...; not the network).
    out: where to save the model (None: not saved). checkpoint_dir: checkpoint after every epoch; a folder
    holding another run's checkpoint is refused unless `overwrite` (then that checkpoint is replaced). While
    the run lasts, `out` and the checkpoint folder are locked: a second run writing either is refused.
    history / plot / json_summary: optional output files. callbacks: extra Callbacks. data: ((X, y),
    (X_val, y_val), (X_test, y_test)) instead of the bundled MNIST. verbose: 0 silent, 1 a line per epoch,
    2 also a progress bar. log: print function for messages (default: none). Settings' `device` "cuda" trains
    on the GPU (the training set moved there once, evaluation there too); the returned model is back on the
    CPU, its results host floats.
    """
    try:
        with run_guard(out, checkpoint_dir, resume, overwrite):
            return _run(recipe, config, overrides, resume=resume, out=out, checkpoint_dir=checkpoint_dir,
                        overwrite=overwrite, **options)
    except GuardError as e:
        raise RunError(str(e)) from None


def _run(recipe=None, config=None, overrides=None, *, resume=None, out=DEFAULT_MODEL, checkpoint_dir=None,
         overwrite=False, history=None, plot=None, json_summary=None, callbacks=(), data=None, verbose=1, log=None,
         progress=None) -> RunResult:
    """`run` under its locks (see there); one function because each step feeds the next.
    Long: one function because each step feeds the next (settings, data, network, training, outputs)."""
    say = log or (lambda msg: None)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    check_output_paths({"--out": out, "--history": history, "--json-summary": json_summary},
                       {"--checkpoint-dir": checkpoint_dir, "--plot": plot, "--resume": resume})
    if resume:
        stale = remove_stale_temporaries(resume, STALE_NAMES)
        if stale:
            say(f"removed {len(stale)} temporary file(s) left in {resume} by an interrupted run")
        cfg, net, ckpt, optimizer, schedule = _resumed(resume, recipe, config, overrides, say)
        checkpoint_dir = checkpoint_dir or resume
    else:
        cfg = resolve_settings(recipe, config, overrides)
        check_training_memory(cfg, data)  # before anything is allocated: one line naming the estimate
        net, ckpt = build_network(cfg), None
        optimizer, schedule = build_optimizer(cfg), build_schedule(cfg)
    require_device(cfg["device"])  # no CuPy or no GPU: a clear error before any data is read
    if data is None:
        data = regression_data(cfg) if cfg.get("data") == "random_regression" else mnist_data(cfg, say)
    (X, y), (Xv, yv), (Xt, yt) = data
    train_dev = None
    if cfg.get("train_dev_size"):
        from ..data.splits import train_dev_split

        if cfg["train_dev_size"] >= len(X):
            raise RunError(f"--train-dev-size {cfg['train_dev_size']} leaves no training examples of {len(X)}")
        (X, y), train_dev = train_dev_split(X, y, cfg["train_dev_size"], seed=cfg["seed"])
        say(f"training-dev set: {len(train_dev[1])} training examples held out (seed {cfg['seed']})")
    if net.n_in != np.shape(X)[1]:
        raise RunError(f"the data has {np.shape(X)[1]} features but the network takes {net.n_in} inputs"
                       + (" (MNIST images have 784 pixels)" if data is None else ""))
    if cfg["standardize"] and not resume:
        net.standardize(X)  # μ and σ from the training data only
    validation = (Xv, yv) if len(Xv) else None
    if cfg["early_stopping"] and validation is None:
        raise RunError("--early-stopping needs a validation set (--validation-size > 0)")
    if checkpoint_dir:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        if overwrite and not (resume and Path(resume).resolve() == Path(checkpoint_dir).resolve()):
            clear_checkpoint(checkpoint_dir)  # nothing of the replaced run is left to resume by mistake
        write_run_file(checkpoint_dir, cfg, out, "running")
    if not resume:
        say(_header(cfg, recipe, net, optimizer))
        if cfg.get("init_from"):
            frozen = sum(1 for layer in net.layers if layer.params and not layer.trainable)
            say(f"transfer from {cfg['init_from']}: output layer {'replaced' if cfg.get('replace_head') else 'kept'}"
                f", {frozen} layer(s) frozen")
    place(net, cfg["device"], ckpt.optimizer if ckpt else None)
    early = EarlyStopping(patience=cfg["early_stopping"]) if cfg["early_stopping"] else None
    if cfg["gradient_health"]:
        callbacks = [*callbacks, GradientHealth(log=say)]
    with thread_pool(cfg, net):
        t0, state = time.perf_counter(), "stopped"
        try:
            hist = net.fit(X, y, epochs=cfg["epochs"], batch_size=cfg["batch_size"], optimizer=optimizer,
                           l2=cfg["l2"], validation_data=validation, seed=cfg["seed"], verbose=verbose, schedule=schedule,
                           early_stopping=early, monitor_training=cfg["monitor_training"],
                           augment=AUGMENTS.get(cfg["augment"]), checkpoint_dir=checkpoint_dir, resume=ckpt,
                           callbacks=callbacks, log=say, progress=progress)
            if cfg.get("fine_tune_lr") is not None:
                hist = _fine_tune(net, hist, cfg, X, y, validation, verbose, callbacks, say, progress)
            state = "finished"
        except KeyboardInterrupt:
            raise RunInterrupted(checkpoint_dir, None if checkpoint_dir else _save_interrupted(net, out)) from None
        except OSError as e:  # a checkpoint or callback could not write: keep what was trained
            _rescue_model(net, f"training stopped: a file could not be written ({_os_message(e)})",
                          [out] if out is not None else [])
        finally:
            if checkpoint_dir:  # `numnet watch` stops on it
                with contextlib.suppress(OSError):
                    write_run_file(checkpoint_dir, cfg, out, state)
    seconds = time.perf_counter() - t0
    test = None if not len(Xt) else net.evaluate_regression(Xt, yt) if net.regression else net.evaluate(Xt, yt)
    errors = {}
    if train_dev is not None:
        errors = {"train": 1 - net.evaluate(X, y).accuracy, "train_dev": 1 - net.evaluate(*train_dev).accuracy,
                  "dev": None if validation is None else 1 - net.evaluate(*validation).accuracy,
                  "test": None if test is None else 1 - test.accuracy}
    net.to(CPU)  # measured on its device; returned and saved from the host
    paths = {}
    if out is not None:
        try:
            paths["model"] = net.save(out, meta=training_meta(cfg))
        except OSError as e:
            _rescue_model(net, f"could not save the model to {out} ({_os_message(e)})")
    try:
        if history:
            paths["history"] = hist.save(history) or Path(history)
        if plot:
            from ..report.plots import plot_history

            paths["plots"] = plot_history(hist, plot)
            say("plots: " + ", ".join(str(p) for p in paths["plots"]))
    except OSError as e:
        saved = f"the model was saved to {paths['model']}, but " if "model" in paths else ""
        raise RunError(f"{saved}an output could not be written: {_os_message(e)}") from None
    best_val = None
    if validation is not None and any(v is not None for v in hist.val_accuracy):
        best_epoch = hist.best_epoch("val_accuracy")
        best_val = hist.val_accuracy[best_epoch - 1]
    else:
        best_epoch = len(hist)
    result = RunResult(net, hist, test, cfg, recipe, seconds, best_epoch, best_val, paths, errors)
    if json_summary:
        try:
            write_text_atomic(json_summary, json.dumps(result.summary(), indent=1))
        except OSError as e:
            saved = f"the model was saved to {paths['model']}, but " if "model" in paths else ""
            raise RunError(f"{saved}the summary could not be written: {_os_message(e)}") from None
        paths["json_summary"] = Path(json_summary)
    return result


def _save_interrupted(net, out):
    """Ctrl-C without a checkpoint folder: keep the trained weights in `interrupted_path(out)` (beside --out), not
    in --out itself; the path, or None when it could not be written or the run writes no model (out=None: a
    search trial, which must not leave files in the current folder)."""
    if out is None:
        return None
    try:
        return net.save(interrupted_path(out))
    except (OSError, ValueError, KeyboardInterrupt):
        return None


def _os_message(e: OSError) -> str:
    """An OSError in one line: "PATH: No space left on device"."""
    if e.strerror and e.filename:
        return f"{e.filename}: {e.strerror}"
    return e.strerror or str(e)


def _fine_tune(net, hist, cfg, X, y, validation, verbose, callbacks, say, progress) -> History:
    """Phase two of transfer learning: unfreeze every layer and train `fine_tune_epochs` more epochs (default:
    as many as phase one) at `fine_tune_lr`, with a fresh optimizer of the same kind; one History for both."""
    epochs = cfg.get("fine_tune_epochs") or cfg["epochs"]
    say(f"fine-tuning every layer: {epochs} epochs at lr {cfg['fine_tune_lr']:g}")
    net.freeze(0)
    optimizer = build_optimizer({**cfg, "lr": cfg["fine_tune_lr"]})
    more = net.fit(X, y, epochs=epochs, batch_size=cfg["batch_size"], optimizer=optimizer, l2=cfg["l2"],
                   validation_data=validation, seed=cfg["seed"] + 1, verbose=verbose,
                   monitor_training=cfg["monitor_training"], augment=AUGMENTS.get(cfg["augment"]),
                   callbacks=callbacks, log=say, progress=progress)
    merged = History.from_dict(hist.to_dict())
    offset = len(hist)
    for row in range(len(more)):
        merged.record(offset + row + 1, **{k: more[k][row] for k in ("train_cost", "train_accuracy", "val_cost",
                                                                      "val_accuracy", "lr", "epoch_time",
                                                                      "batch_cost")})
    return merged


def _header(cfg, recipe, net, optimizer) -> str:
    desc = S.load_recipe(recipe).get("description") if recipe else None
    epochs = cfg["epochs"]
    hidden = cfg["activation"] if not cfg.get("init_from") else "pretrained"
    extras = []
    drops = [layer.keep_prob for layer in net.layers if isinstance(layer, Dropout)]
    if drops:
        extras.append("dropout keep " + ",".join(f"{k:g}" for k in drops))
    if cfg.get("batch_norm"):
        extras.append("batch norm")
    if cfg.get("augment") not in (None, "none"):
        extras.append(f"augment {cfg['augment']}")
    schedule = str(cfg.get("schedule") or "constant")
    if schedule != "constant":
        extras.append(f"{schedule} schedule")
    if cfg.get("layers"):
        from ..model.layerspec import format_layers

        shape = f"layers {format_layers(cfg['layers'])!r}"
    else:
        shape = f"sizes {net.sizes}"
    return (f"numnet train{' --recipe ' + recipe if recipe else ''}: {shape}, "
            f"{hidden} hidden, cost {net.cost.name}, {optimizer!r}, batch {cfg['batch_size']}, "
            f"{epochs} epoch{'' if epochs == 1 else 's'}, l2 {cfg['l2']:g}, "
            + "".join(f"{x}, " for x in extras) + f"seed {cfg['seed']}" + (f"\n  {desc}" if desc else ""))


def _resumed(resume, recipe, config, overrides, say):
    """Settings, network, checkpoint, optimizer and schedule to continue the run checkpointed in `resume`."""
    if recipe or config:
        raise RunError("--resume continues the checkpointed run with its own settings; drop "
                       + " and ".join(f for f, v in (("--recipe", recipe), ("--config", config)) if v)
                       + " (change settings with flags)")
    ckpt = load_checkpoint(resume)
    run_file = Path(resume) / RUN_FILE
    try:
        saved = read_json(run_file, str(run_file)) if run_file.exists() else {}
    except ValueError as e:
        raise RunError(f"{run_file} is damaged: {e}") from None
    saved = {k: v for k, v in saved.items() if k not in RUN_EXTRAS} if isinstance(saved, dict) else saved
    if not saved:
        say(f"note: {run_file} not found; data settings (train/validation size, augmentation) are the defaults")
    arch_keys = (set(NETWORK_KEYS) | {"init_from", "replace_head", "freeze", "classes", "train_dev_size"}) & set(overrides)
    if arch_keys:
        raise RunError(f"--resume keeps the checkpoint's network; drop "
                       f"{', '.join('--' + k.replace('_', '-') for k in sorted(arch_keys))}")
    given = S.check_settings(overrides, "settings")
    cfg = _complete(S.merge(S.check_settings(saved, str(run_file)), given))
    net = ckpt.network
    if "keep_prob" in given:
        set_keep_prob(net, given["keep_prob"])
    opt_keys = {"optimizer", "lr"} | S.optimizer_keys()
    optimizer = build_optimizer(cfg) if opt_keys & set(given) else None
    schedule = build_schedule(cfg) if ({"schedule"} | set(S.schedule_keys())) & set(given) else None
    if cfg["epochs"] <= ckpt.epoch:
        asked = f"--epochs {cfg['epochs']} leaves nothing to train" if "epochs" in given else "it has finished"
        raise RunError(f"the run in {resume} is already at epoch {ckpt.epoch}; {asked} (give --epochs above "
                       f"{ckpt.epoch} to train more); nothing was written")
    say(f"resuming {resume} after epoch {ckpt.epoch}; training to epoch {cfg['epochs']}")
    return cfg, net, ckpt, optimizer, schedule
