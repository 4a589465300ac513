"""The `numnet` command line: train, evaluate, predict, gradcheck, plot, recipes, compare-optimizers.

A user error prints one line, `numnet: error: ...`, and exits with status 2; never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import config as cfgmod

DEFAULT_MODEL = "numnet-model.npz"


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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="numnet", description="Neural networks from scratch in NumPy.")
    p.add_argument("--version", action="version", version=f"numnet {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a network on the bundled MNIST (defaults: a fast, accurate run)",
                       description="Train on MNIST. Settings come from the defaults, then --recipe, then --config, "
                                   "then the flags given.")
    S = argparse.SUPPRESS
    g = t.add_argument_group("run")
    g.add_argument("--recipe", metavar="NAME", help="start from a named recipe (see `numnet recipes`)")
    g.add_argument("--config", metavar="TOML", help="a TOML file holding the run's settings")
    g.add_argument("--resume", metavar="DIR", help="continue the run checkpointed in DIR (flags may change "
                                                    "lr, schedule, l2, keep-prob, epochs, ...)")
    g.add_argument("--checkpoint-dir", metavar="DIR", help="write a checkpoint here after every epoch")
    g.add_argument("--out", metavar="PATH", help=f"where to save the trained model (default ./{DEFAULT_MODEL})")
    g.add_argument("--history", metavar="PATH", help="save the training history as JSON")
    g.add_argument("--plot", metavar="DIR", help="write learning-curve PNGs to DIR")
    g.add_argument("--json-summary", metavar="PATH", help="write a JSON summary of the run (for scripts)")
    g.add_argument("--quiet", action="store_true", help="print only the final result")
    n = t.add_argument_group("network")
    n.add_argument("--sizes", type=_sizes, default=S, help="layer sizes, e.g. 784,30,10")
    n.add_argument("--activation", default=S, help="hidden activation: sigmoid, tanh, relu, leaky_relu, elu")
    n.add_argument("--output", default=S, help="output activation (default: softmax for log_likelihood, else sigmoid)")
    n.add_argument("--cost", default=S, help="quadratic, cross_entropy or log_likelihood")
    n.add_argument("--init", default=S, help="large, default, xavier or he")
    n.add_argument("--keep-prob", type=_floats_or_one, default=S, help="dropout keep probability: one value or "
                                                                         "one per hidden layer (1 = no dropout)")
    n.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=S, help="batch normalisation")
    n.add_argument("--dtype", default=S, choices=["float32", "float64"])
    o = t.add_argument_group("optimisation")
    o.add_argument("--optimizer", default=S, help="sgd, momentum, rmsprop or adam")
    o.add_argument("--lr", type=float, default=S, help="learning rate (η, α)")
    o.add_argument("--beta", type=float, default=S, help="β of momentum / RMSprop")
    o.add_argument("--beta1", type=float, default=S, help="Adam β1")
    o.add_argument("--beta2", type=float, default=S, help="Adam β2")
    o.add_argument("--eps", type=float, default=S, help="ε of RMSprop / Adam")
    o.add_argument("--epochs", type=int, default=S)
    o.add_argument("--batch-size", type=int, default=S, help="mini-batch size (1: stochastic)")
    o.add_argument("--l2", type=float, default=S, help="L2 regularisation λ")
    o.add_argument("--schedule", default=S, help="constant, inverse-time, exponential, step, cosine, plateau")
    o.add_argument("--decay", type=float, default=S, help="inverse-time: α = α0/(1 + decay·epoch)")
    o.add_argument("--rate", type=float, default=S, help="exponential: α = α0·rate^epoch")
    o.add_argument("--step", type=int, default=S, help="step: epochs between reductions")
    o.add_argument("--factor", type=float, default=S, help="step / plateau: reduction factor")
    o.add_argument("--lr-patience", type=int, default=S, help="plateau: epochs without improvement before halving")
    o.add_argument("--min-lr", type=float, default=S, help="cosine: final rate; plateau: stop below this rate")
    o.add_argument("--early-stopping", type=int, default=S, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without better validation accuracy; restore the best weights")
    d = t.add_argument_group("data")
    d.add_argument("--augment", default=S, choices=cfgmod.AUGMENTS,
                   help="shift / affine: random shifts (and rotations) each epoch; expand: the book's one-pixel shifts")
    d.add_argument("--train-size", type=int, default=S, help="use only the first N training images")
    d.add_argument("--validation-size", type=int, default=S, help="images held out for validation (default 10000)")
    d.add_argument("--monitor-training", action=argparse.BooleanOptionalAction, default=S,
                   help="also measure cost and accuracy on the training set each epoch")
    d.add_argument("--seed", type=int, default=S)

    e = sub.add_parser("evaluate", help="cost and accuracy of a saved model on MNIST, with error analysis")
    e.add_argument("model")
    e.add_argument("--split", choices=["test", "validation", "train"], default="test")
    e.add_argument("--confusion", action="store_true", help="print the confusion matrix")
    e.add_argument("--worst", type=int, default=0, metavar="K", help="list the K most confident mistakes")
    e.add_argument("--worst-dir", metavar="DIR", help="also save the worst mistakes as PNG images here")

    pr = sub.add_parser("predict", help="classify digit images (PNG/JPEG) with a saved model")
    pr.add_argument("model")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                    help="dark ink on light paper is inverted automatically; force with yes/no")

    gc = sub.add_parser("gradcheck", help="numerical gradient check of every activation/cost (or of a model)")
    gc.add_argument("--model", help="check this saved model instead of the built-in combinations")
    gc.add_argument("--sizes", type=_sizes, default=[6, 5, 4, 3], help="network sizes for the built-in checks")
    gc.add_argument("--examples", type=int, default=8)
    gc.add_argument("--tol", type=float, default=1e-7)
    gc.add_argument("--seed", type=int, default=0)

    pl = sub.add_parser("plot", help="draw learning curves from a saved history JSON")
    pl.add_argument("history")
    pl.add_argument("--out", default=".", metavar="DIR")

    rc = sub.add_parser("recipes", help="list the named recipes")
    rc.add_argument("--names", action="store_true", help="names only, one per line")
    rc.add_argument("--show", metavar="NAME", help="print one recipe's settings")

    co = sub.add_parser("compare-optimizers",
                        help="the course's moons experiment: GD vs momentum vs Adam, batch modes, lr decay")
    co.add_argument("--out", default="compare-optimizers", metavar="DIR")
    co.add_argument("--epochs", type=int, default=10000)
    co.add_argument("--seed", type=int, default=1)
    co.add_argument("--course-data", action="store_true",
                    help="optimizer comparison on the course notebook's own points, initial weights and mini-batch "
                         "order (float64), replayed exactly, instead of numnet's seeded generator")
    return p


def _version():
    from . import __version__

    return __version__


# ---------------------------------------------------------------------------------------------- train
def _run_config(args) -> dict:
    given = {k: v for k, v in vars(args).items() if k in cfgmod.DEFAULTS}
    layers = []
    if args.recipe:
        layers.append(cfgmod.load_recipe(args.recipe))
    if args.config:
        layers.append(cfgmod.read_toml(args.config))
    if given:
        layers.append(cfgmod._check_types(given, "command line"))
    return cfgmod.merge(*layers)


def _optimizer(cfg):
    from .optimizers import make_optimizer

    params = {"lr": cfg["lr"]}
    for key in ("beta", "beta1", "beta2", "eps"):
        if cfg.get(key) is not None:
            params[key] = cfg[key]
    return make_optimizer(cfg["optimizer"], **params)


def _schedule(cfg):
    from .schedules import make_schedule

    name = str(cfg["schedule"]).lower().replace("-", "_")
    params = {}
    if name == "cosine":
        params["epochs"] = cfg["epochs"]
    mapping = {"decay": "decay", "rate": "rate", "step": "step", "factor": "factor", "lr_patience": "patience"}
    for key, param in mapping.items():
        if cfg.get(key) is not None:
            params[param] = cfg[key]
    if cfg.get("min_lr") is not None:
        if name == "plateau":
            params["min_fraction"] = cfg["min_lr"] / cfg["lr"]
        else:
            params["min_lr"] = cfg["min_lr"]
    return make_schedule(name, **params)


def _augment(name):
    from .datasets import random_affine

    if name == "shift":
        return lambda X, rng: random_affine(X, rng, max_shift=2.0, max_degrees=0.0)
    if name == "affine":
        return lambda X, rng: random_affine(X, rng, max_shift=2.0, max_degrees=10.0)
    return None


def _data(cfg, log):
    from .datasets import expand_shifts, load_mnist

    (X, y), (Xv, yv), (Xt, yt) = load_mnist(validation_size=cfg["validation_size"], dtype=cfg["dtype"])
    if cfg["train_size"] is not None:
        if cfg["train_size"] > len(X):
            raise UserError(f"--train-size {cfg['train_size']} exceeds the {len(X)} training images")
        X, y = X[:cfg["train_size"]], y[:cfg["train_size"]]
    if cfg["augment"] == "expand":
        X, y = expand_shifts(X, y)
        log(f"expanded the training set with one-pixel shifts: {len(X)} images")
    return (X, y), (Xv, yv), (Xt, yt)


def _check_output_paths(args):
    """Fail before training, not after it, when an output file could not be written."""
    for flag, path in (("--out", args.out or DEFAULT_MODEL), ("--history", args.history),
                       ("--json-summary", args.json_summary)):
        if path is None:
            continue
        path = Path(path)
        if path.is_dir():
            raise UserError(f"{flag} {path} is a directory; give a file name")
        if not (path.parent if str(path.parent) else Path(".")).is_dir():
            raise UserError(f"{flag} {path}: directory {path.parent} does not exist")


def _is_default_run(args) -> bool:
    """`numnet train` with no recipe, config, resume or setting flags (a seed aside)."""
    if args.recipe or args.config or args.resume:
        return False
    return all(v is None for k, v in vars(args).items() if k in cfgmod.DEFAULTS and k != "seed")


def cmd_train(args) -> int:
    from .network import Network
    from .training import EarlyStopping, fit, load_checkpoint

    _check_output_paths(args)
    quiet = args.quiet
    log = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    ckpt = None
    if args.resume:
        if args.recipe or args.config:
            raise UserError("--resume continues the checkpointed run with its own settings; drop "
                            + " and ".join(f for f, v in (("--recipe", args.recipe), ("--config", args.config)) if v)
                            + " (change settings with flags)")
        ckpt = load_checkpoint(args.resume)
        run_file = Path(args.resume) / "run.json"
        saved = json.loads(run_file.read_text()) if run_file.exists() else {}
        if not saved:
            log(f"note: {run_file} not found; data settings (train/validation size, augmentation) are the defaults")
        given = {k: v for k, v in vars(args).items() if k in cfgmod.DEFAULTS}
        arch_keys = {"sizes", "activation", "output", "cost", "init", "batch_norm", "dtype"} & set(given)
        if arch_keys:
            raise UserError(f"--resume keeps the checkpoint's network; drop {', '.join('--' + k.replace('_', '-') for k in sorted(arch_keys))}")
        cfg = cfgmod.merge(cfgmod._check_types(saved, f"{run_file}"), cfgmod._check_types(given, "command line"))
        net = ckpt.network
        if "keep_prob" in given:
            from .layers import Dropout

            drops = [l for l in net.layers if isinstance(l, Dropout)]
            kp = given["keep_prob"] if isinstance(given["keep_prob"], list) else [given["keep_prob"]] * len(drops)
            if not drops and any(k != 1 for k in (kp or [given["keep_prob"]])):
                raise UserError("the checkpoint's network has no dropout layers; --keep-prob cannot add them")
            if len(kp) != len(drops):
                raise UserError(f"the checkpoint's network has {len(drops)} dropout layers; --keep-prob gave {len(kp)} values")
            for layer, k in zip(drops, kp):
                layer.keep_prob = float(k)
        optimizer = _optimizer(cfg) if {"optimizer", "lr", "beta", "beta1", "beta2", "eps"} & set(given) else None
        schedule = _schedule(cfg) if {"schedule", "decay", "rate", "step", "factor", "lr_patience", "min_lr"} & set(given) else None
        checkpoint_dir = args.checkpoint_dir or args.resume
        log(f"resuming {args.resume} after epoch {ckpt.epoch}; training to epoch {cfg['epochs']}")
    else:
        cfg = _run_config(args)
        if cfg["seed"] is None:
            cfg["seed"] = int(np.random.SeedSequence().entropy % 2**31)
        net = Network.from_sizes(cfg["sizes"], activation=cfg["activation"], output=cfg["output"], cost=cfg["cost"],
                                 init=cfg["init"], seed=cfg["seed"], dtype=cfg["dtype"], keep_prob=cfg["keep_prob"],
                                 batch_norm=cfg["batch_norm"])
        optimizer, schedule = _optimizer(cfg), _schedule(cfg)
        checkpoint_dir = args.checkpoint_dir
    if net.n_in != 784:
        raise UserError(f"MNIST images have 784 pixels but the network takes {net.n_in} inputs")
    early = EarlyStopping(patience=cfg["early_stopping"]) if cfg["early_stopping"] else None
    (X, y), (Xv, yv), (Xt, yt) = _data(cfg, log)
    validation = (Xv, yv) if len(Xv) else None
    if early is not None and validation is None:
        raise UserError("--early-stopping needs a validation set (--validation-size > 0)")
    if checkpoint_dir:
        from .files import write_text_atomic

        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(checkpoint_dir) / "run.json", json.dumps(cfg, indent=1))
    if not args.resume:
        desc = cfgmod.load_recipe(args.recipe).get("description") if args.recipe else None
        log(f"numnet train{' --recipe ' + args.recipe if args.recipe else ''}: sizes {net.sizes}, "
            f"{cfg['activation']} hidden, cost {net.cost.name}, {optimizer!r}, batch {cfg['batch_size']}, "
            f"{cfg['epochs']} epochs, l2 {cfg['l2']:g}, seed {cfg['seed']}" + (f"\n  {desc}" if desc else ""))
    t0 = time.perf_counter()
    try:
        history = fit(net, X, y, epochs=cfg["epochs"], batch_size=cfg["batch_size"], optimizer=optimizer,
                      l2=cfg["l2"], validation_data=validation, seed=cfg["seed"], verbose=0 if quiet else 2,
                      schedule=schedule, early_stopping=early, monitor_training=cfg["monitor_training"],
                      augment=_augment(cfg["augment"]), checkpoint_dir=checkpoint_dir, resume=ckpt)
    except KeyboardInterrupt:
        where = f"; resume with: numnet train --resume {checkpoint_dir}" if checkpoint_dir else ""
        print(f"numnet: interrupted{where}", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    test = net.evaluate(Xt, yt)
    out = Path(args.out or DEFAULT_MODEL)
    net.save(out)
    if args.history:
        history.save(args.history)
    if args.plot:
        from .plots import plot_history

        paths = plot_history(history, args.plot)
        log("plots: " + ", ".join(str(p) for p in paths))
    best_val = None
    if validation is not None and any(v is not None for v in history.val_accuracy):
        best_epoch = history.best_epoch("val_accuracy")
        best_val = history.val_accuracy[best_epoch - 1]
    else:
        best_epoch = len(history)
    print(f"test accuracy {100 * test.accuracy:.2f}% (cost {test.cost:.4f}) after {len(history)} epoch{'' if len(history) == 1 else 's'} "
          f"in {seconds:.1f}s; model saved to {out}", flush=True)
    if _is_default_run(args):
        log("the most accurate recipe (about 99.1% test accuracy, about 4 minutes on 2 cores): "
            "numnet train --recipe best")
    if args.json_summary:
        from .files import write_text_atomic

        summary = {"recipe": args.recipe, "test_accuracy": test.accuracy, "test_cost": test.cost,
                   "best_val_accuracy": best_val, "best_epoch": best_epoch, "epochs": len(history),
                   "seconds": seconds, "seed": cfg["seed"], "config": cfg, "model": str(out)}
        write_text_atomic(args.json_summary, json.dumps(summary, indent=1))
    return 0


# ---------------------------------------------------------------------------------------------- other commands
def _load_model(path):
    from .network import load

    return load(path)


def cmd_evaluate(args) -> int:
    from .analysis import confusion_matrix, format_confusion, worst_mistakes
    from .datasets import load_mnist

    net = _load_model(args.model)
    if net.n_in != 784:
        raise UserError(f"{args.model} takes {net.n_in} inputs, not MNIST's 784")
    train, val, test = load_mnist(dtype=net.dtype.name)
    X, y = {"train": train, "validation": val, "test": test}[args.split]
    ev = net.evaluate(X, y)
    print(f"{args.split}: accuracy {100 * ev.accuracy:.2f}% ({round(ev.accuracy * len(X))}/{len(X)}), "
          f"cost {ev.cost:.4f}")
    if args.confusion:
        print(format_confusion(confusion_matrix(y, net.predict(X), classes=net.n_out)))
    if args.worst:
        mistakes = worst_mistakes(net, X, y, args.worst)
        print("most confident mistakes (index: true -> predicted, probability):")
        for i, t, p, c in mistakes:
            print(f"  {i:6d}: {t} -> {p}  {c:.3f}")
        if args.worst_dir:
            from .images import digit_to_image

            Path(args.worst_dir).mkdir(parents=True, exist_ok=True)
            for i, t, p, c in mistakes:
                digit_to_image(X[i], Path(args.worst_dir) / f"{args.split}-{i}-true{t}-pred{p}.png", scale=4)
            print(f"images saved to {args.worst_dir}")
    return 0


def cmd_predict(args) -> int:
    from .images import load_digit

    net = _load_model(args.model)
    if net.n_in != 784:
        raise UserError(f"{args.model} takes {net.n_in} inputs; image prediction needs a 784-input MNIST model")
    invert = {"auto": "auto", "yes": True, "no": False}[args.invert]
    X = np.stack([load_digit(p, invert=invert, dtype=net.dtype.name) for p in args.images])
    proba = net.predict_proba(X)
    for path, pvec in zip(args.images, proba):
        k = int(np.argmax(pvec))
        print(f"{path}: {k} (probability {pvec[k]:.3f})")
    return 0


def cmd_gradcheck(args) -> int:
    from .gradcheck import gradcheck
    from .network import Network

    rng = np.random.default_rng(args.seed)
    if args.examples < 1:
        raise UserError("--examples must be positive")
    rows = []
    if args.model:
        net = _load_model(args.model)
        X = rng.random((args.examples, net.n_in))
        y = rng.integers(0, max(net.n_out, 2), args.examples)
        rows.append((args.model, gradcheck(net, X, y, seed=args.seed).max_error))
    else:
        sizes = args.sizes
        X = rng.standard_normal((args.examples, sizes[0]))
        y = rng.integers(0, sizes[-1], args.examples)
        combos = [(a, o, c) for a in ("sigmoid", "tanh", "relu", "leaky_relu", "elu")
                  for o, c in (("sigmoid", "quadratic"), ("sigmoid", "cross_entropy"),
                               ("softmax", "log_likelihood"), ("identity", "quadratic"))]
        for a, o, c in combos:
            net = Network.from_sizes(sizes, activation=a, output=o, cost=c, seed=args.seed)
            rows.append((f"{a} hidden, {o} output, {c}", gradcheck(net, X, y, seed=args.seed).max_error))
        for label, kw in (("relu + dropout 0.8 + L2", {"keep_prob": 0.8}), ("relu + batch norm", {"batch_norm": True})):
            net = Network.from_sizes(sizes, activation="relu", cost="log_likelihood", seed=args.seed, **kw)
            rows.append((label, gradcheck(net, X, y, l2=0.5, n_train=100, seed=args.seed).max_error))
    width = max(len(r[0]) for r in rows)
    ok = True
    for name, err in rows:
        status = "ok" if err < args.tol else "FAIL"
        ok &= err < args.tol
        print(f"{name:<{width}}  relative error {err:.2e}  {status}")
    print("all gradients agree" if ok else f"some gradients differ by more than {args.tol:g}")
    return 0 if ok else 1


def cmd_plot(args) -> int:
    from .history import History
    from .plots import plot_history

    for p in plot_history(History.load(args.history), args.out):
        print(p)
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
        pub = f" [published: {r['published']}%{runs}]" if "published" in r else ""
        print(f"{name:<20} {r.get('description', '')}{pub}")
    print("\nrun one with: numnet train --recipe NAME")
    return 0


def cmd_compare(args) -> int:
    from .experiments import compare_batch_modes, compare_optimizers

    if args.epochs < 1:
        raise UserError("--epochs must be positive")
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
            extra = f"  (course: {r['course']})" if r.get("course") is not None else ""
            print(f"  {name:<28} train accuracy {100 * r['accuracy']:6.2f}%  {r.get('seconds', 0):6.1f}s{extra}")


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "gradcheck": cmd_gradcheck,
            "plot": cmd_plot, "recipes": cmd_recipes, "compare-optimizers": cmd_compare}


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return COMMANDS[args.command](args)
    except (UserError, ValueError, FileNotFoundError, IsADirectoryError, PermissionError, ImportError) as e:
        print(f"numnet: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("numnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
