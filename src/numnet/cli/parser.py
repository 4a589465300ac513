"""The `numnet` argument parser: one block per subcommand; choices, help and the optimizer and schedule
parameter flags come from the registries."""
from __future__ import annotations

import argparse

from ..runs import settings as cfgmod
from ..runs.run import DEFAULT_MODEL
from ..utils.backend import known_devices


#: subcommands declared beside their handler (`@subcommand`): name -> (help, add_arguments(parser), handler)
SUBCOMMANDS: dict = {}


def subcommand(name: str, help: str, add_arguments):
    """Register the decorated handler as `numnet NAME`, its flags added by `add_arguments(parser)`: a new command is
    its handler and that function in one cli/ module (plus the library code it calls)."""
    def register(handler):
        SUBCOMMANDS[name] = (help, add_arguments, handler)
        return handler
    return register


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


def _layer_list(text):
    from ..model.layerspec import parse_layers

    return parse_layers(text)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a UserError (one line, exit status 2) instead of usage text + SystemExit;
    subcommand parsers inherit this class."""

    def error(self, message):
        unknown = message.split("unrecognized arguments: ", 1)[1].split() if "unrecognized arguments: " in message else []
        parsers = [self, *(p for a in self._actions if isinstance(a, argparse._SubParsersAction)
                           for p in a.choices.values())]
        flags = sorted({o for p in parsers for a in p._actions for o in a.option_strings if o.startswith("--")})
        hint = "".join(cfgmod.did_you_mean(u.split("=")[0], flags, {f"--{k}": f"--{v.replace('_', '-')}"
                                                                      for k, v in cfgmod.ALIASES.items()})
                       for u in unknown if u.startswith("--"))
        raise UserError(f"{message}{hint} (see: {self.prog} --help)")


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


class _Only:
    """An argument group that adds only the flags whose setting is in `keep` (None: every flag)."""

    def __init__(self, group, keep):
        self.group, self.keep = group, keep

    def add_argument(self, *flags, **kw):
        dest = kw.get("dest") or flags[0].lstrip("-").replace("-", "_")
        if self.keep is None or dest in self.keep:
            self.group.add_argument(*flags, **kw)


#: the settings lr-find reads (network, optimizer, batch size, L2, training data); its --help lists only these
LR_FIND_KEYS = {"sizes", "activation", "pieces", "output", "cost", "init", "init_std", "bias_init", "keep_prob",
                "batch_norm", "dtype", "optimizer", "batch_size", "l2", "train_size", "validation_size", "seed",
                "classes", "init_from", "replace_head", "freeze"}


def _run_arguments(t, keep=None) -> None:
    """The network, optimisation and data flags of a run (train; lr-find keeps `keep`); defaults come from the
    settings.
    Long: one add_argument per flag, in the order `numnet train --help` lists them."""
    from ..nn import ACTIVATIONS, COSTS, INITIALIZERS, hidden_names, resolve_hidden
    from ..train import OPTIMIZERS, SCHEDULES

    S = argparse.SUPPRESS
    D = cfgmod.DEFAULTS
    keep = None if keep is None else keep | set(cfgmod.optimizer_keys())
    hidden = ", ".join(hidden_names())
    n = _Only(t.add_argument_group("network"), keep)
    n.add_argument("--sizes", type=_sizes, default=S,
                   help=f"layer sizes, e.g. 784,30,10 (default {','.join(map(str, D['sizes']))})")
    n.add_argument("--layers", type=_checked(_layer_list, "layers"), default=S,
                   help='a layer list in place of --sizes, e.g. "conv 20 5, pool 2, dense 100, dense 10"')
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
    n.add_argument("--device", default=S, choices=known_devices(),
                   help="where to train: cpu (NumPy, default) or cuda (CuPy on a GPU: pip install \"numnet[gpu]\")")
    n.add_argument("--threads", type=int, default=S, metavar="N",
                   help="CPU threads for the matrix products (default: the idle cores, fewer for small networks)")
    o = _Only(t.add_argument_group("optimisation"), keep)
    o.add_argument("--optimizer", type=_resolver(OPTIMIZERS), default=S, help=", ".join(OPTIMIZERS.names()))
    o.add_argument("--lr", type=float, default=S, help="learning rate (η, α); default: the optimizer's own "
                   "(" + ", ".join(f"{k} {c.default_lr:g}" for k, c in OPTIMIZERS.items()) + ")")
    known = {"beta": "β of momentum / RMSprop", "beta1": "Adam β1", "beta2": "Adam β2", "eps": "ε of RMSprop / Adam"}
    for key in sorted(cfgmod.optimizer_keys(), key=lambda k: (k not in known, k)):
        o.add_argument(f"--{key.replace('_', '-')}", type=float, default=S,
                       help=known.get(key, f"optimizer parameter {key}"))
    o.add_argument("--epochs", type=int, default=S, help=f"number of passes over the training set (default "
                                                          f"{D['epochs']})")
    o.add_argument("--batch-size", type=int, default=S, help=f"mini-batch size (1: stochastic; default "
                                                              f"{D['batch_size']})")
    o.add_argument("--l2", type=float, default=S, help="L2 regularisation λ")
    o.add_argument("--schedule", type=_resolver(SCHEDULES), default=S, help=", ".join(SCHEDULES.names()))
    known = {"decay": ("float", "inverse-time: α = α0/(1 + decay·epoch)"), "rate": ("float", "exponential: α = α0·rate^epoch"),
             "step": ("int", "step: epochs between reductions"), "factor": ("float", "step / plateau: reduction factor"),
             "lr_patience": ("int", "plateau: epochs without improvement before halving"),
             "min_lr": ("float", "cosine: final rate; plateau: stop below this rate"),
             "k": ("float", "inverse-sqrt: α = α0·k/√(epoch + 1)")}
    for key in sorted(cfgmod.schedule_keys(), key=lambda k: (k not in known, k)):
        kind, text = known.get(key, ("float", f"schedule parameter {key}"))
        o.add_argument(f"--{key.replace('_', '-')}", type=int if kind == "int" else float, default=S, help=text)
    o.add_argument("--early-stopping", type=int, default=S, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without better validation accuracy; restore the best weights")
    d = _Only(t.add_argument_group("data"), keep)
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
    tr = _Only(t.add_argument_group("transfer learning"), keep)
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
    registered before `main` runs is a choice like the built-in ones.
    Long: one parser block per subcommand, read top to bottom like the help."""
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
    g.add_argument("--overwrite", action="store_true", help="let --checkpoint-dir replace another run's checkpoint")
    g.add_argument("--out", metavar="PATH", help=f"where to save the trained model (default ./{DEFAULT_MODEL}; "
                                                  "with --resume, the resumed run's own --out)")
    g.add_argument("--history", metavar="PATH", help="save the training history as JSON")
    g.add_argument("--plot", metavar="DIR", help="write learning-curve PNGs to DIR")
    g.add_argument("--json-summary", metavar="PATH", help="write a JSON summary of the run (for scripts)")
    g.add_argument("--quiet", action="store_true", help="print only the final result")
    g.add_argument("--ensemble", type=int, metavar="K", help="train K networks at once (weight seeds S..S+K-1, "
                   "one batch order) and save one model whose predictions average theirs")
    g.add_argument("--memory", metavar="SIZE", help="memory budget of --ensemble (e.g. 4G; default: half the free "
                   "memory): a K that does not fit is refused with the largest that does")
    _run_arguments(t)

    e = sub.add_parser("evaluate", help="cost and accuracy of a saved model on MNIST, with error analysis")
    e.add_argument("model", help="a model file saved by numnet (.npz)")
    e.add_argument("--split", choices=["test", "validation", "train"], default="test",
                   help="which MNIST set to measure (default test; validation: the 10,000 held out of training)")
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
                    help="the training-dev set of the run (default: the one the model file records)")
    dg.add_argument("--seed", type=int, help="the run's seed, which drew the training-dev set (default: the one "
                                             "the model file records; a different one is refused)")
    dg.add_argument("--train-size", type=int, metavar="N",
                    help="the run's --train-size (first N images; default: the one the model file records)")
    dg.add_argument("--shift", choices=["none", "thick", "thin", "rotate", "invert"], default="none",
                    help="apply this shift to the dev and test images (a data-mismatch demonstration)")

    pr = sub.add_parser("predict", help="classify digit images (PNG/JPEG) with a saved model")
    pr.add_argument("model", help="a model file saved by numnet (.npz)")
    pr.add_argument("images", nargs="+", metavar="IMAGE", help="one or more digit images (PNG, JPEG, TIFF; a photo "
                                                                "or scan of one digit, any size)")
    pr.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                    help="dark ink on light paper is inverted automatically; force with yes/no")
    pr.add_argument("--show-input", metavar="PNG", help="save the 28x28 input the model read (enlarged) to PNG "
                                                        "(several images: PNG-1.png, PNG-2.png, ...)")
    pr.add_argument("--ascii", action="store_true", help="print the 28x28 input the model read as text")

    gc = sub.add_parser("gradcheck", help="numerical gradient check of every activation/cost (or of a model)")
    gc.add_argument("--model", help="check this saved model instead of the built-in combinations")
    gc.add_argument("--sizes", type=_sizes, default=[6, 5, 4, 3], help="network sizes for the built-in checks")
    gc.add_argument("--examples", type=int, default=8, help="random examples in the checked batch")
    gc.add_argument("--tol", type=float, default=1e-7, help="largest relative error that passes")
    gc.add_argument("--seed", type=int, default=0, help="seed for the networks and the random batch")
    gc.add_argument("--l2", type=float, default=0.0,
                    help="with --model: include the L2 term λ/(2n)·Σw² in the checked cost, as training did "
                         "(the notes: check the cost you train, regularisation included)")

    pl = sub.add_parser("plot", help="draw learning curves from a saved history JSON")
    pl.add_argument("history", help="a history JSON file (numnet train --history, or a checkpoint's history.json)")
    pl.add_argument("--out", default=".", metavar="DIR", help="folder for the PNG files")
    pl.add_argument("--window", type=int, default=None,
                    help="epochs over which the curve rules read the training trend (default: a fifth of the run, "
                         "at least 5, or since the last change of the learning rate)")

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
    _run_arguments(lf, LR_FIND_KEYS)
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
                    help="how settings are drawn: random (default; the course's advice), grid (every point once; "
                         "needs `steps` for continuous ranges), tpe (Bayesian: learns from finished trials)")
    se.add_argument("--pruner", choices=["none", "median", "hyperband"], default="none",
                    help="stop unpromising trials early: none (default), median (below the median of earlier trials "
                         "at the same epoch), hyperband (successive halving over several budgets)")
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
    for name, (text, add_arguments, _) in SUBCOMMANDS.items():
        add_arguments(sub.add_parser(name, help=text))
    return p


def _version():
    from .. import __version__

    return __version__


# ---------------------------------------------------------------------------------------------- train


def _error_text(e: BaseException) -> str:
    """One line for an error: OSErrors as "PATH: reason" rather than "[Errno 28] ..."."""
    if isinstance(e, OSError) and e.strerror and not str(e).startswith(e.strerror):
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    return str(e)
