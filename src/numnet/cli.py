"""The `numnet` command line: train, evaluate, predict, gradcheck, plot, recipes, compare-optimizers, lab.
Each handler parses, calls the library (runs/, model/, report/) and prints; no training logic lives here.

A user error prints one line, `numnet: error: ...`, and exits with status 2; never a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import warnings
from pathlib import Path

import numpy as np

from .runs import settings as cfgmod
from .runs.run import DEFAULT_MODEL, RunError
from .utils.files import check_output_dir


class UserError(Exception):
    """An error in what the user asked for: reported in one line, exit status 2."""


# ---------------------------------------------------------------------------------------------- parser
def _floats_or_one(text):
    try:
        vals = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or comma-separated numbers, got {text!r}") from None
    return vals[0] if len(vals) == 1 else vals


def _sizes(text):
    try:
        return cfgmod.parse_int_list(text, "--sizes")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a UserError (one line, exit status 2) instead of usage text + SystemExit;
    subcommand parsers inherit this class."""

    def error(self, message):
        raise UserError(f"{message} (see: {self.prog} --help)")


def _checked(resolve, name):
    """argparse type from a resolving function: its ValueError becomes a one-line argument error."""
    def check(text):
        try:
            return resolve(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    check.__name__ = name
    return check


def _resolver(registry):
    """argparse type: a registered name (aliases and '-'/'_' accepted), or a one-line error listing the known."""
    return _checked(registry.resolve, registry.kind)


def _run_arguments(t) -> None:
    """The network, optimisation and data flags of a run (train, lr-find); defaults come from the settings."""
    from .nn import ACTIVATIONS, COSTS, INITIALIZERS, hidden_names, resolve_hidden
    from .train import OPTIMIZERS, SCHEDULES

    S = argparse.SUPPRESS
    hidden = ", ".join(hidden_names())
    n = t.add_argument_group("network")
    n.add_argument("--sizes", type=_sizes, default=S, help="layer sizes, e.g. 784,30,10")
    n.add_argument("--activation", type=_checked(resolve_hidden, "activation"), default=S,
                   help=f"hidden activation: {hidden}")
    n.add_argument("--pieces", type=int, default=S,
                   help="affine pieces per maxout unit (--activation maxout; default 2)")
    n.add_argument("--output", type=_resolver(ACTIVATIONS), default=S,
                   help="output activation (default: the cost's usual one: softmax for log_likelihood, else sigmoid)")
    n.add_argument("--cost", type=_resolver(COSTS), default=S, help=", ".join(COSTS.names()))
    n.add_argument("--init", type=_resolver(INITIALIZERS), default=S, help="weight initializer: "
                                                                          + ", ".join(INITIALIZERS.names()))
    n.add_argument("--init-std", type=float, default=S,
                   help="std of an initializer that takes one (--init normal: N(0, std^2), default 0.01)")
    n.add_argument("--bias-init", type=float, default=S, help="set every bias to this constant (e.g. 0.01)")
    n.add_argument("--keep-prob", type=_floats_or_one, default=S, help="dropout keep probability: one value or "
                                                                         "one per hidden layer (1 = no dropout)")
    n.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=S, help="batch normalisation")
    n.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=S,
                   help="standardize each input feature, (x - mean) / std, fitted on the training data")
    n.add_argument("--dtype", default=S, choices=["float32", "float64"], help="compute type (default float32)")
    n.add_argument("--device", default=S, choices=cfgmod.DEVICES,
                   help="where to train: cpu (NumPy, default) or cuda (CuPy on a GPU: pip install \"numnet[gpu]\")")
    o = t.add_argument_group("optimisation")
    o.add_argument("--optimizer", type=_resolver(OPTIMIZERS), default=S, help=", ".join(OPTIMIZERS.names()))
    o.add_argument("--lr", type=float, default=S, help="learning rate (η, α); default: the optimizer's own "
                   "(" + ", ".join(f"{k} {c.default_lr:g}" for k, c in OPTIMIZERS.items()) + ")")
    known = {"beta": "β of momentum / RMSprop", "beta1": "Adam β1", "beta2": "Adam β2", "eps": "ε of RMSprop / Adam"}
    for key in sorted(cfgmod.optimizer_keys(), key=lambda k: (k not in known, k)):
        o.add_argument(f"--{key.replace('_', '-')}", type=float, default=S,
                       help=known.get(key, f"optimizer parameter {key}"))
    o.add_argument("--epochs", type=int, default=S, help="number of passes over the training set")
    o.add_argument("--batch-size", type=int, default=S, help="mini-batch size (1: stochastic)")
    o.add_argument("--l2", type=float, default=S, help="L2 regularisation λ")
    o.add_argument("--schedule", type=_resolver(SCHEDULES), default=S, help=", ".join(SCHEDULES.names()))
    known = {"decay": ("float", "inverse-time: α = α0/(1 + decay·epoch)"), "rate": ("float", "exponential: α = α0·rate^epoch"),
             "step": ("int", "step: epochs between reductions"), "factor": ("float", "step / plateau: reduction factor"),
             "lr_patience": ("int", "plateau: epochs without improvement before halving"),
             "min_lr": ("float", "cosine: final rate; plateau: stop below this rate")}
    for key in sorted(cfgmod.schedule_keys(), key=lambda k: (k not in known, k)):
        kind, text = known.get(key, ("float", f"schedule parameter {key}"))
        o.add_argument(f"--{key.replace('_', '-')}", type=int if kind == "int" else float, default=S, help=text)
    o.add_argument("--early-stopping", type=int, default=S, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without better validation accuracy; restore the best weights")
    d = t.add_argument_group("data")
    d.add_argument("--data", default=S, choices=cfgmod.DATA,
                   help="mnist (default), or random_regression: the activation notes' program, a network fitted to "
                        "--train-size (64) random points with real targets (identity output, quadratic cost)")
    d.add_argument("--augment", default=S, choices=cfgmod.AUGMENTS,
                   help="shift / affine: random shifts (and rotations) each epoch; expand: the book's one-pixel shifts")
    d.add_argument("--train-size", type=int, default=S, help="use only the first N training images")
    d.add_argument("--validation-size", type=int, default=S, help="images held out for validation (default 10000)")
    d.add_argument("--monitor-training", action=argparse.BooleanOptionalAction, default=S,
                   help="also measure cost and accuracy on the training set each epoch")
    d.add_argument("--gradient-health", action=argparse.BooleanOptionalAction, default=S,
                   help="watch gradient norms, update/weight ratios, dead and saturated units; warn with a remedy")
    d.add_argument("--seed", type=int, default=S, help="seed for the weights, shuffling, dropout and augmentation")
    d.add_argument("--classes", type=_sizes, default=S, metavar="DIGITS",
                   help="train on these digits only (e.g. 5,6,7,8,9), relabelled 0..k-1 in that order")
    d.add_argument("--train-dev-size", type=int, default=S, metavar="N",
                   help="hold out N training images (seeded) as a training-dev set; the run then reports the "
                        "error ladder's training, training-dev, dev and test errors")
    tr = t.add_argument_group("transfer learning")
    tr.add_argument("--init-from", default=S, metavar="MODEL", help="start from this saved model's weights")
    tr.add_argument("--replace-head", type=int, default=S, metavar="N",
                    help="replace the model's output layer with a new one of N units")
    tr.add_argument("--freeze", type=int, default=S, metavar="K",
                    help="freeze the first K layers with parameters (never updated)")
    tr.add_argument("--fine-tune-lr", type=float, default=S, metavar="LR",
                    help="after training, unfreeze every layer and fine-tune at this rate")
    tr.add_argument("--fine-tune-epochs", type=int, default=S, metavar="N",
                    help="epochs of fine-tuning (default: --epochs)")


def build_parser() -> argparse.ArgumentParser:
    """The parser; choices, help and optimizer/schedule parameter flags come from the registries, so a part
    registered before `main` runs is a choice like the built-in ones."""
    p = _Parser(prog="numnet", description="Neural networks from scratch in NumPy.")
    p.add_argument("--version", action="version", version=f"numnet {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a network on the bundled MNIST (defaults: a fast, accurate run)",
                       description="Train on MNIST. Settings come from the defaults, then --recipe, then --config, "
                                   "then the flags given.")
    g = t.add_argument_group("run")
    g.add_argument("--recipe", metavar="NAME", help="start from a named recipe (see `numnet recipes`)")
    g.add_argument("--config", metavar="TOML", help="a TOML file holding the run's settings (flat keys or tables)")
    g.add_argument("--resume", metavar="DIR", help="continue the run checkpointed in DIR (flags may change "
                                                    "lr, schedule, l2, keep-prob, epochs, ...)")
    g.add_argument("--checkpoint-dir", metavar="DIR", help="write a checkpoint here after every epoch")
    g.add_argument("--out", metavar="PATH", help=f"where to save the trained model (default ./{DEFAULT_MODEL})")
    g.add_argument("--history", metavar="PATH", help="save the training history as JSON")
    g.add_argument("--plot", metavar="DIR", help="write learning-curve PNGs to DIR")
    g.add_argument("--json-summary", metavar="PATH", help="write a JSON summary of the run (for scripts)")
    g.add_argument("--quiet", action="store_true", help="print only the final result")
    _run_arguments(t)

    e = sub.add_parser("evaluate", help="cost and accuracy of a saved model on MNIST, with error analysis")
    e.add_argument("model", help="a model file saved by numnet (.npz)")
    e.add_argument("--split", choices=["test", "validation", "train"], default="test")
    e.add_argument("--confusion", action="store_true", help="print the confusion matrix")
    e.add_argument("--worst", type=int, default=0, metavar="K", help="list the K most confident mistakes")
    e.add_argument("--worst-dir", metavar="DIR", help="also save the worst mistakes as PNG images here")
    e.add_argument("--confusion-png", metavar="PATH", help="draw the confusion matrix into this PNG")
    e.add_argument("--data", metavar="FILE", help="evaluate on FILE.npz (X, y) or IMAGES.idx,LABELS.idx instead")

    er = sub.add_parser("errors", help="error analysis: sample mistakes to tag (sheet + CSV), or count the tags",
                        description="numnet errors MODEL --sample 100 --out DIR writes DIR/errors.png and "
                                    "DIR/errors.csv; fill the CSV's tags column (several: a;b), then "
                                    "numnet errors --tags DIR/errors.csv counts them.")
    er.add_argument("model", nargs="?", help="a model file saved by numnet (.npz)")
    er.add_argument("--sample", type=int, default=100, metavar="K", help="number of mistakes to sample")
    er.add_argument("--out", metavar="DIR", help="folder for errors.png and errors.csv")
    er.add_argument("--split", choices=["test", "validation"], default="validation",
                    help="which MNIST set (default validation: error analysis looks at the dev set)")
    er.add_argument("--data", metavar="FILE", help="FILE.npz (X, y) or IMAGES.idx,LABELS.idx instead of MNIST")
    er.add_argument("--seed", type=int, default=0, help="seed of the sample")
    er.add_argument("--tags", metavar="CSV", help="count the tags of a filled-in errors CSV (with MODEL: also "
                                                 "check that it was written for this model and data)")

    li = sub.add_parser("label-issues", help="rank examples whose label is likely wrong (confident learning)")
    li.add_argument("model", help="a model file saved by numnet (.npz)")
    li.add_argument("--data", default="train", metavar="SET",
                    help="train, validation, test, FILE.npz or IMAGES.idx,LABELS.idx (default train)")
    li.add_argument("--top", type=int, default=50, metavar="K", help="how many to list and draw")
    li.add_argument("--out", metavar="DIR", help="write label-issues.png and label-issues.csv here")
    li.add_argument("--cross-fit", type=int, default=0, metavar="FOLDS",
                    help="train FOLDS fresh copies of the model's architecture for out-of-sample probabilities "
                         "(needed when the model was trained on these labels)")
    li.add_argument("--epochs", type=int, default=5, help="epochs of each cross-fitted copy (Adam, lr 0.001)")
    li.add_argument("--size", type=int, metavar="N", help="use only the first N examples")

    dg = sub.add_parser("diagnose", help="the error ladder: avoidable bias, variance, data mismatch, overfitting "
                                         "to dev, and the remedies for the largest gap")
    dg.add_argument("model", help="a model file saved by numnet (.npz)")
    dg.add_argument("--human-error", type=float, required=True, metavar="PERCENT",
                    help="human-level error in percent (a proxy for the Bayes error), e.g. 0.2")
    dg.add_argument("--train-dev-size", type=int, metavar="N",
                    help="the training-dev set of the run (numnet train --train-dev-size N --seed S)")
    dg.add_argument("--seed", type=int, default=0, help="the run's seed (it drew the training-dev set)")
    dg.add_argument("--train-size", type=int, metavar="N", help="the run's --train-size (first N images)")
    dg.add_argument("--shift", choices=["none", "thick", "thin", "rotate", "invert"], default="none",
                    help="apply this shift to the dev and test images (a data-mismatch demonstration)")

    pr = sub.add_parser("predict", help="classify digit images (PNG/JPEG) with a saved model")
    pr.add_argument("model", help="a model file saved by numnet (.npz)")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                    help="dark ink on light paper is inverted automatically; force with yes/no")

    gc = sub.add_parser("gradcheck", help="numerical gradient check of every activation/cost (or of a model)")
    gc.add_argument("--model", help="check this saved model instead of the built-in combinations")
    gc.add_argument("--sizes", type=_sizes, default=[6, 5, 4, 3], help="network sizes for the built-in checks")
    gc.add_argument("--examples", type=int, default=8, help="random examples in the checked batch")
    gc.add_argument("--tol", type=float, default=1e-7, help="largest relative error that passes")
    gc.add_argument("--seed", type=int, default=0, help="seed for the networks and the random batch")

    pl = sub.add_parser("plot", help="draw learning curves from a saved history JSON")
    pl.add_argument("history", help="a history JSON file (numnet train --history, or a checkpoint's history.json)")
    pl.add_argument("--out", default=".", metavar="DIR", help="folder for the PNG files")
    pl.add_argument("--window", type=int, default=5, help="epochs over which the curve rules read the trends")

    rc = sub.add_parser("recipes", help="list the named recipes")
    rc.add_argument("--names", action="store_true", help="names only, one per line")
    rc.add_argument("--show", metavar="NAME", help="print one recipe's settings")

    co = sub.add_parser("compare-optimizers",
                        help="the course's moons experiment: GD vs momentum vs Adam, batch modes, lr decay")
    co.add_argument("--out", default="compare-optimizers", metavar="DIR", help="folder for the plots and tables")
    co.add_argument("--epochs", type=int, default=10000, help="epochs of each optimizer's run")
    co.add_argument("--seed", type=int, default=1, help="seed of the data, weights and batch order")
    co.add_argument("--course-data", action="store_true",
                    help="optimizer comparison on the course notebook's own points, initial weights and mini-batch "
                         "order (float64), replayed exactly, instead of numnet's seeded generator")
    lb = sub.add_parser("lab", help="a local web page: draw digits, train with live curves, look inside, playground, "
                                    "tag mistakes, follow a search",
                        description="Start the lab on this machine and open it in the browser. The printed URL holds a "
                                    "random token; every request needs it. Needs the lab extra: "
                                    "pip install \"numnet[lab]\" (and numnet[search] for the Search panel).")
    lb.add_argument("model", nargs="?", help="a model file to start with (default: the .npz models in --dir; "
                                             "the lab trains one otherwise)")
    lb.add_argument("--port", type=int, default=8765, help="port (the next free one is used when taken; 0: any)")
    lb.add_argument("--host", default="127.0.0.1", help="address to listen on, also accepted in the Host header "
                                                         "(default 127.0.0.1: this machine only)")
    lb.add_argument("--dir", default=".", metavar="DIR", help="the lab's working directory: trained models and "
                                                               "errors.csv go here (default: the current one)")
    lb.add_argument("--storage", metavar="URL", help="also show this search storage in the Search panel (an RDB URL "
                                                     "or a journal file; the journal files in --dir are found)")
    lb.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lf = sub.add_parser("lr-find", help="learning-rate finder: raise the rate exponentially, plot cost vs rate, "
                                        "suggest a rate", description="Train for a few hundred mini-batches while "
                        "the rate rises exponentially; suggests half the rate at which the cost starts to blow up.")
    lf.add_argument("--recipe", metavar="NAME", help="start from a named recipe")
    lf.add_argument("--config", metavar="TOML", help="a TOML file holding the run's settings")
    lf.add_argument("--start-lr", dest="lr_min", type=float, default=1e-6, metavar="LR", help="first rate (1e-6)")
    lf.add_argument("--end-lr", dest="lr_max", type=float, default=10.0, metavar="LR", help="last rate (10)")
    lf.add_argument("--steps", type=int, default=300, help="mini-batches (default 300)")
    lf.add_argument("--plot", default="lr-find.png", metavar="PNG", help="cost vs rate plot (default lr-find.png)")
    _run_arguments(lf)
    wa = sub.add_parser("watch", help="follow a run: print each epoch and redraw its curves as it trains",
                        description="Follow DIR/history.json (numnet train --checkpoint-dir DIR) or a history file: "
                                    "prints each new epoch and redraws cost.png and accuracy.png; Ctrl-C stops.")
    wa.add_argument("run", metavar="DIR", help="a run folder (its history.json) or a history JSON file")
    wa.add_argument("--out", metavar="DIR", help="folder for the PNG curves (default: the run folder)")
    wa.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="poll interval (default 2)")
    wa.add_argument("--once", action="store_true", help="print and draw once, then exit")
    wa.add_argument("--no-plot", action="store_true", help="print only, draw no PNG")
    se = sub.add_parser("search", help="hyperparameter search on Optuna over a SPACE.toml (random, grid, TPE)",
                        description="Search the settings of SPACE.toml: each trial is an in-process run reporting its "
                                    "validation accuracy after every epoch. Rerunning the command continues the study.")
    se.add_argument("space", metavar="SPACE.toml", help="the base run and each searched setting's distribution")
    se.add_argument("--trials", type=int, default=20, help="the study's total number of trials (default 20)")
    se.add_argument("--budget", type=float, metavar="SECONDS", help="stop starting trials after this many seconds")
    se.add_argument("--epochs", type=int, help="epochs per trial (default: the space's)")
    se.add_argument("--train-size", type=int, help="training images per trial (the first N)")
    se.add_argument("--sampler", choices=["random", "grid", "tpe"], default="random",
                    help="how points are chosen: random (default), grid (every point once; needs `steps` for "
                         "continuous ranges), tpe (Optuna's TPE: learns from the trials so far)")
    se.add_argument("--pruner", choices=["none", "median", "hyperband"], default="none",
                    help="stop poor trials early: none (default), median (below the median of earlier trials at "
                         "the same epoch), hyperband")
    se.add_argument("--workers", type=int, default=1, help="worker processes (BLAS threads = cores / workers; "
                                                           "at most 2 per core)")
    se.add_argument("--storage", metavar="URL", help="journal file or RDB URL (default: DIR/journal.log)")
    se.add_argument("--study", metavar="NAME", help="study name (default: the space file's name)")
    se.add_argument("--seed", type=int, help="sampler seed: trial N's point depends on the seed and N (reruns and "
                                           "crashes never repeat points; one worker: the same trials in the same order)")
    se.add_argument("--out", default="search", metavar="DIR", help="folder for trials.csv, best.toml, plots")
    se.add_argument("--refine-from", metavar="DIR", help="coarse to fine: narrow each range to the top trials of "
                                                           "the search in DIR and search again")
    se.add_argument("--top", type=int, default=5, metavar="K", help="trials --refine-from narrows to (default 5)")
    se.add_argument("--heartbeat", type=float, default=10.0, metavar="SECONDS",
                    help="worker heartbeat interval, 1 to 3600 (default 10); a trial silent for 3 intervals is "
                         "failed and retried")
    se.add_argument("--keep-train-size", action="store_true",
                    help="best.toml keeps the trials' train_size (by default it is left out, so that "
                         "`numnet train --config best.toml` trains on the whole training set)")
    se.add_argument("--quiet", action="store_true", help="print only the table")
    se.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p


def _version():
    from . import __version__

    return __version__


# ---------------------------------------------------------------------------------------------- train
def _is_default_run(args, given) -> bool:
    """`numnet train` with no recipe, config, resume or setting flags (a seed aside)."""
    return not (args.recipe or args.config or args.resume) and not (set(given) - {"seed"})


def cmd_train(args) -> int:
    from .runs import RunInterrupted, run

    given = {k: v for k, v in vars(args).items() if k in cfgmod.known_keys()}
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    if args.quiet:  # numerical RuntimeWarnings are noise under --quiet (divergence is an error of its own)
        warnings.simplefilter("ignore", RuntimeWarning)
    try:
        with _sigterm_as_interrupt() as received:
            r = run(args.recipe, args.config, given, resume=args.resume, out=args.out or DEFAULT_MODEL,
                    checkpoint_dir=args.checkpoint_dir, history=args.history, plot=args.plot,
                    json_summary=args.json_summary, verbose=0 if args.quiet else 2, log=log)
    except RunInterrupted as e:
        print(f"numnet: {e}" + (" (terminated)" if received else ""), file=sys.stderr)
        return 128 + signal.SIGTERM if received else 130
    except KeyboardInterrupt:  # before or after training (loading data, saving)
        if not received:
            raise
        print("numnet: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    _diagnosis(r, log)
    epochs = len(r.history)
    measured = (f"test MSE {r.test.mse:.4g}, R² {r.test.r2:.4f}" if hasattr(r.test, "r2")
                else f"test accuracy {100 * r.test.accuracy:.2f}% (cost {r.test.cost:.4f})")
    print(f"{measured} after {epochs} epoch{'' if epochs == 1 else 's'} in {r.seconds:.1f}s; model saved to "
          f"{r.paths['model']}", flush=True)
    if _is_default_run(args, given):
        log("the most accurate recipe (about 99.1% test accuracy, about 4 minutes on 2 cores): "
            "numnet train --recipe best")
    return 0


def _diagnosis(r, log) -> None:
    """The training-curve reading and, with a training-dev set, the error ladder."""
    log(r.curves().format())
    if r.errors:
        from .report.diagnosis import error_ladder

        log("error ladder (human-level error unknown: numnet diagnose --human-error P):\n"
            + error_ladder(0.0, r.errors["train"], r.errors["train_dev"], r.errors["dev"], r.errors["test"]).format())


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While training, SIGTERM (kill, a batch system's time limit) stops the run as Ctrl-C does: the last
    checkpoint stays and the resume hint is printed. Yields a list that holds the signal once received."""
    received = []

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield received
        return
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------- other commands
def _load_model(path):
    from .model import load

    return load(path)


def _data_for(net, split=None, data=None, size=None, real=False):
    """(X, y, name): a MNIST split ("train", "validation", "test") or a labelled file (real-valued targets for a
    regression model), checked against the model."""
    if real and not data:
        raise UserError("a regression model is evaluated on a file: give --data FILE.npz (arrays X and y)")
    if data:
        from .data import load_labelled

        X, y = load_labelled(data, dtype=net.dtype.name, real=real)
        name = Path(data.split(",")[0]).name
    else:
        from .data import load_mnist

        if net.n_in != 784:
            raise UserError(f"the model takes {net.n_in} inputs, not MNIST's 784; give --data")
        train, val, test = load_mnist(dtype=net.dtype.name)
        X, y = {"train": train, "validation": val, "test": test}[split]
        name = split
    if X.shape[1] != net.n_in:
        raise UserError(f"{name} has {X.shape[1]} features but the model takes {net.n_in} inputs")
    if size is not None:
        if size < 1:
            raise UserError("--size must be positive")
        X, y = X[:size], y[:size]
    return X, y, name


def cmd_evaluate(args) -> int:
    from .report.analysis import class_report, confusion_matrix, format_class_report, format_confusion, worst_mistakes

    if args.worst_dir:
        check_output_dir(args.worst_dir, "--worst-dir")
    net = _load_model(args.model)
    if net.regression:  # real-valued targets: MSE and R², no classes
        X, y, name = _data_for(net, args.split, args.data, real=True)
        ev = net.evaluate_regression(X, y)
        print(f"{name}: MSE {ev.mse:.6g}, R² {ev.r2:.4f}, cost {ev.cost:.6g} ({len(X)} examples)")
        return 0
    X, y, name = _data_for(net, args.split, args.data)
    ev = net.evaluate(X, y)
    print(f"{name}: accuracy {100 * ev.accuracy:.2f}% ({round(ev.accuracy * len(X))}/{len(X)}), cost {ev.cost:.4f}")
    C = confusion_matrix(y, net.predict(X), classes=max(net.n_out, 2))
    print(format_class_report(class_report(C)))
    if args.confusion:
        print(format_confusion(C))
    if args.confusion_png:
        from .report.plots import plot_confusion

        print(f"confusion matrix drawn to {plot_confusion(C, args.confusion_png, f'{name}: confusion matrix')}")
    if args.worst:
        mistakes = worst_mistakes(net, X, y, args.worst)
        print("most confident mistakes (index: true -> predicted, probability):")
        for i, t, p, c in mistakes:
            print(f"  {i:6d}: {t} -> {p}  {c:.3f}")
        if args.worst_dir:
            from .data.images import digit_to_image

            Path(args.worst_dir).mkdir(parents=True, exist_ok=True)
            for i, t, p, c in mistakes:
                digit_to_image(X[i], Path(args.worst_dir) / f"{name}-{i}-true{t}-pred{p}.png", scale=4)
            print(f"images saved to {args.worst_dir}")
    return 0


def cmd_errors(args) -> int:
    from .report import errors as E

    if args.tags:
        tagged = E.read_errors_csv(args.tags)
        if args.model:
            net = _load_model(args.model)
            X, y, name = _data_for(net, args.split, args.data)
            E.check_tags_match(tagged, net, X, y, name)
        print(E.format_tag_summary(E.tag_summary(tagged), tagged))
        return 0
    if not args.model or not args.out:
        raise UserError("give MODEL and --out DIR to sample mistakes, or --tags CSV to count tags")
    if args.sample < 1:
        raise UserError("--sample must be positive")
    net = _load_model(args.model)
    X, y, name = _data_for(net, args.split, args.data)
    sample = E.sample_mistakes(net, X, y, args.sample, seed=args.seed, data_name=name)
    if not len(sample):
        print(f"{name}: no mistakes to analyse")
        return 0
    out = Path(args.out)
    csv_path = E.write_errors_csv(sample, out / "errors.csv")
    sheet = E.write_error_sheet(sample, X, out / "errors.png", title=f"{len(sample)} of {sample.n_errors} mistakes "
                                f"on {name} ({100 * sample.error_rate:.2f}% error)")
    print(f"{name}: {sample.n_errors} mistakes of {sample.n_examples} ({100 * sample.error_rate:.2f}% error); "
          f"sampled {len(sample)}")
    print(f"contact sheet: {sheet}\nspreadsheet: {csv_path} (fill the tags column, several tags as a;b), then:\n"
          f"  numnet errors {args.model} --tags {csv_path}" + (f" --data {args.data}" if args.data else
                                                             f" --split {args.split}"))
    return 0


def cmd_label_issues(args) -> int:
    from .report.labels import label_issues

    if args.top < 1:
        raise UserError("--top must be positive")
    if args.cross_fit == 1 or args.cross_fit < 0:
        raise UserError("--cross-fit needs at least 2 folds (or 0: use the model's own probabilities)")
    net = _load_model(args.model)
    split = args.data if args.data in ("train", "validation", "test") else None
    X, y, name = _data_for(net, split, None if split else args.data, args.size)
    train = {"epochs": args.epochs} if args.cross_fit else {}
    issues = label_issues(net, X, y, cross_fit=args.cross_fit, **train)
    if not args.cross_fit and split == "train":
        print("note: the model was likely trained on these labels; --cross-fit 2 gives out-of-sample probabilities")
    top = issues.order[:args.top]
    print(f"{name}: {issues.n_suspects} of {len(y)} examples are suspects; the {len(top)} most likely label errors:")
    print("   index  given  suggested  p(given)  score")
    for k, i in enumerate(top):
        print(f"  {i:6d}  {issues.given[k]:5d}  {issues.suggested[k]:9d}  {issues.self_confidence[k]:8.4f}  "
              f"{issues.score[k]:.4f}")
    if args.out:
        from .report.labels import write_label_issues

        for path in write_label_issues(issues, X, args.out, args.top, name):
            print(f"written: {path}")
    return 0


def cmd_diagnose(args) -> int:
    from .data import load_mnist, shift_images, train_dev_split
    from .report.diagnosis import check_human_error, error_ladder

    human = check_human_error(args.human_error)
    net = _load_model(args.model)
    if net.n_in != 784:
        raise UserError(f"{args.model} takes {net.n_in} inputs, not MNIST's 784")
    (X, y), (Xv, yv), (Xt, yt) = load_mnist(dtype=net.dtype.name)
    if args.train_size:
        X, y = X[:args.train_size], y[:args.train_size]
    train_dev = None
    if args.train_dev_size:
        (X, y), train_dev = train_dev_split(X, y, args.train_dev_size, seed=args.seed)
    if args.shift != "none":
        Xv, Xt = shift_images(Xv, args.shift), shift_images(Xt, args.shift)
        print(f"dev and test images shifted: {args.shift}")
    err = {"train": 1 - net.accuracy(X, y), "dev": 1 - net.accuracy(Xv, yv), "test": 1 - net.accuracy(Xt, yt),
           "train_dev": None if train_dev is None else 1 - net.accuracy(*train_dev)}
    print(error_ladder(human, **err).format())
    return 0


def cmd_predict(args) -> int:
    """Classify every readable image; each one that cannot be read is reported on stderr (one line each) and
    the exit status is 2 when any failed."""
    from .data.images import load_digit

    net = _load_model(args.model)
    if net.n_in != 784:
        raise UserError(f"{args.model} takes {net.n_in} inputs; image prediction needs a 784-input MNIST model")
    invert = {"auto": "auto", "yes": True, "no": False}[args.invert]
    loaded, failed = [], 0
    for path in args.images:
        try:
            loaded.append((path, load_digit(path, invert=invert, dtype=net.dtype.name)))
        except (ValueError, OSError) as e:
            failed += 1
            print(f"numnet: error: {_error_text(e)}", file=sys.stderr)
    if loaded:
        proba = net.predict_proba(np.stack([x for _, x in loaded]))
        for (path, _), pvec in zip(loaded, proba):
            k = int(np.argmax(pvec))
            print(f"{path}: {k} (probability {pvec[k]:.3f})")
    if failed and len(args.images) > 1:
        print(f"numnet: {failed} of {len(args.images)} images could not be read", file=sys.stderr)
    return 2 if failed else 0


def cmd_gradcheck(args) -> int:
    from .model import gradcheck, gradcheck_combinations

    if args.examples < 1:
        raise UserError("--examples must be positive")
    if args.model:
        net = _load_model(args.model)
        rng = np.random.default_rng(args.seed)
        X = rng.random((args.examples, net.n_in))
        y = rng.integers(0, max(net.n_out, 2), args.examples)
        r = gradcheck(net, X, y, seed=args.seed)
        rows = [(f"{args.model} {key}", err, "absolute" if key in r.absolute else "relative")
                for key, err in r.errors.items()]  # absolute: both gradients are (near) zero
    else:
        rows = [(name, err, "relative") for name, err in gradcheck_combinations(args.sizes, args.examples, args.seed)]
    width = max(len(r[0]) for r in rows)
    ok = True
    for name, err, kind in rows:
        status = "ok" if err < args.tol else "FAIL"
        ok &= err < args.tol
        print(f"{name:<{width}}  {kind} error {err:.2e}  {status}")
    print("all gradients agree" if ok else f"some gradients differ by more than {args.tol:g}")
    return 0 if ok else 1


def cmd_plot(args) -> int:
    from .report.plots import plot_history
    from .train.history import History

    from .report.diagnosis import read_curves

    check_output_dir(args.out, "--out")
    history = History.load(args.history)
    for p in plot_history(history, args.out):
        print(p)
    if args.window < 3:
        raise UserError("--window must be at least 3 epochs")
    print(read_curves(history, window=args.window).format())
    return 0


def cmd_recipes(args) -> int:
    names = cfgmod.recipe_names()
    if args.show:
        r = cfgmod.load_recipe(args.show)
        for k, v in r.items():
            print(f"{k} = {json.dumps(v)}")
        return 0
    if args.names:
        print("\n".join(names))
        return 0
    for name in names:
        r = cfgmod.load_recipe(name)
        runs = f", best of {r['published_runs']} runs" if r.get("published_runs", 1) > 1 else ""
        pub = (f" [published: {r['published']}%{runs}]" if "published" in r
               else f" [target: {r['target']}%]" if "target" in r else "")
        print(f"{name:<20} {r.get('description', '')}{pub}")
    print("\nrun one with: numnet train --recipe NAME")
    return 0


def cmd_compare(args) -> int:
    from .runs.experiments import compare_batch_modes, compare_optimizers

    if args.epochs < 1:
        raise UserError("--epochs must be positive")
    check_output_dir(args.out, "--out")
    data = "the course notebook's points, weights and batch order" if args.course_data else f"seed {args.seed}"
    print(f"moons: 300 points, noise 0.2 ({data}); [2,5,2,1] relu-relu-sigmoid, He init, batch 64, lr 0.0007, "
          f"{args.epochs} epochs")
    res = compare_optimizers(out_dir=Path(args.out) / "optimizers", epochs=args.epochs, seed=args.seed,
                             course_data=args.course_data)
    _print_results(res)
    res2 = compare_batch_modes(out_dir=Path(args.out) / "batch-modes", seed=args.seed, epochs=min(200, args.epochs),
                               decay_epochs=min(2000, args.epochs))
    _print_results(res2)
    print(f"plots and tables in {args.out}/")
    return 0


def _print_results(res):
    for name, r in res.items():
        if isinstance(r, dict) and "accuracy" in r:
            extra = f"  (course: {100 * r['course']:.2f}%)" if r.get("course") is not None else ""
            print(f"  {name:<28} train accuracy {100 * r['accuracy']:6.2f}%  {r.get('seconds', 0):6.1f}s{extra}")


def cmd_lab(args) -> int:
    from .lab import make_server, open_browser

    if not 0 <= args.port <= 65535:
        raise UserError("--port must be in 0-65535")
    server = make_server(args.dir, args.model, host=args.host, port=args.port, storage=args.storage)
    url = server.url()
    print(f"numnet lab: serving {server.lab.workdir} at\n    {url}\n(Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        open_browser(url)
    try:
        with _stop_on_signals():
            server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("numnet lab: stopped", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _stop_on_signals():
    """Ctrl-C and SIGTERM stop a server cleanly, even where the process was started with SIGINT ignored (a
    background job of a non-interactive shell inherits that)."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_search(args) -> int:
    from .search import search
    from .search.interrupts import stop_on_signals

    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    try:
        with stop_on_signals() as received:
            if args.worker:
                return _search_worker(args, log)
            r = search(args.space, args.trials, budget=args.budget, epochs=args.epochs, train_size=args.train_size,
                       sampler=args.sampler, pruner=args.pruner, workers=args.workers, storage=args.storage,
                       study=args.study, seed=args.seed, out=args.out, refine_from=args.refine_from, top=args.top,
                       heartbeat=args.heartbeat, log=log, keep_train_size=args.keep_train_size)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: the workers are stopped, their trials queued again
        if not args.worker:  # a worker stops without a word: its parent says it once
            print("numnet: interrupted; running trials are queued again: rerun the same command to continue",
                  file=sys.stderr)
        return 128 + signal.SIGTERM if signal.SIGTERM in received else 130
    print(r.table)
    if r.best is not None:
        print(f"best: trial {r.best['number']} (stage {r.best['stage']}), validation accuracy "
              f"{100 * float(r.best['val_accuracy']):.2f}%")
    for key in ("csv", "best"):
        if key in r.paths:
            print(f"{key}: {r.paths[key]}")
    print(f"plots: {len(r.paths.get('plots', []))} PNG files in {args.out}")
    if "best" in r.paths:
        print(f"train the best: numnet train --config {r.paths['best']}")
    print(f"dashboard: {r.dashboard}  (pip install \"numnet[dashboard]\")")
    if r.failures and r.complete:
        print(f"numnet: warning: {'; '.join(r.failures)}; the other workers finished the search", file=sys.stderr)
    elif r.failures:
        raise UserError(f"{'; '.join(r.failures)}; the report covers the trials that finished: rerun the same "
                        f"command to continue")
    return 0


def _search_worker(args, log) -> int:
    """`numnet search --worker`: one of the processes `--workers K` starts (the parent writes the report)."""
    from .search import work

    if not args.storage or not args.study:
        raise UserError("--worker needs --storage and --study")
    work(args.storage, args.study, args.trials, budget=args.budget, sampler=args.sampler, pruner=args.pruner,
         seed=args.seed, heartbeat=args.heartbeat, log=log, queue_grid=False)
    return 0


def cmd_lr_find(args) -> int:
    from .search.lrfind import lr_find_run

    given = {k: v for k, v in vars(args).items() if k in cfgmod.known_keys() and k != "lr"}
    r = lr_find_run(args.recipe, args.config, given, lr_min=args.lr_min, lr_max=args.lr_max, steps=args.steps,
                    plot=args.plot)
    print(f"{len(r.rates)} mini-batches, rate {r.rates[0]:.3g} to {r.rates[-1]:.3g}")
    print(r.summary())
    print(f"plot: {r.paths['plot']}")
    print(f"suggested: --lr {r.suggested_lr:.3g}")
    return 0


def cmd_watch(args) -> int:
    from .search.watch import history_path, watch

    try:
        n = watch(args.run, args.out, interval=args.interval, once=args.once, plot=not args.no_plot,
                  log=lambda msg: print(msg, flush=True))
    except KeyboardInterrupt:
        return 0
    if not args.no_plot and n:
        print(f"curves: {args.out or history_path(args.run).parent}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "errors": cmd_errors, "label-issues": cmd_label_issues,
            "diagnose": cmd_diagnose, "predict": cmd_predict, "gradcheck": cmd_gradcheck,
            "plot": cmd_plot, "recipes": cmd_recipes, "compare-optimizers": cmd_compare, "lab": cmd_lab,
            "search": cmd_search, "lr-find": cmd_lr_find, "watch": cmd_watch}


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings in one line, without numnet's source paths: `numnet: warning: ...`."""
    print(f"numnet: warning: {message}", file=sys.stderr if file is None else file)


def _error_text(e: BaseException) -> str:
    """One line for an error: OSErrors as "PATH: reason" rather than "[Errno 28] ..."."""
    if isinstance(e, OSError) and e.strerror and not str(e).startswith(e.strerror):
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    return str(e)


def main(argv=None) -> int:
    parser = build_parser()
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help()
                return 2
            return COMMANDS[args.command](args)
        except BrokenPipeError:
            return 0
        except (UserError, RunError, ValueError, OSError, ImportError) as e:
            print(f"numnet: error: {_error_text(e)}", file=sys.stderr)
            return 2
        except RecursionError:
            print("numnet: error: input nested too deeply", file=sys.stderr)
            return 2
        except MemoryError:
            print("numnet: error: out of memory (an input or setting asks for more memory than there is)",
                  file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("numnet: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
