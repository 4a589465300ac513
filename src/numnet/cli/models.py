"""The commands that look at a saved model: evaluate, errors, label-issues, diagnose, predict, gradcheck, plot."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..utils.checks import number, positive_int
from ..utils.files import check_output_dir
from .parser import UserError, _error_text
from .training import _member_lines


def _load_model(path):
    from ..model import load

    return load(path)


def _data_for(net, split=None, data=None, size=None, real=False):
    """(X, y, name): a MNIST split ("train", "validation", "test") or a labelled file (real-valued targets for a
    regression model), checked against the model."""
    if real and not data:
        raise UserError("a regression model is evaluated on a file: give --data FILE.npz (arrays X and y)")
    if data:
        from ..data import load_labelled

        X, y = load_labelled(data, dtype=net.dtype.name, real=real)
        name = Path(data.split(",")[0]).name
    else:
        from ..data import load_mnist

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
    from ..report.analysis import class_report, confusion_matrix, format_class_report, format_confusion, worst_mistakes

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
    print(f"{name}: {'ensemble ' if hasattr(net, 'members') else ''}accuracy {100 * ev.accuracy:.2f}% "
          f"({round(ev.accuracy * len(X))}/{len(X)}), cost {ev.cost:.4f}")
    if hasattr(net, "members"):  # an ensemble file: each member too
        print(_member_lines(net.evaluate_members(X, y)))
    C = confusion_matrix(y, net.predict(X), classes=max(net.n_out, 2))
    print(format_class_report(class_report(C)))
    if args.confusion:
        print(format_confusion(C))
    if args.confusion_png:
        from ..report.plots import plot_confusion

        print(f"confusion matrix drawn to {plot_confusion(C, args.confusion_png, f'{name}: confusion matrix')}")
    if args.worst:
        mistakes = worst_mistakes(net, X, y, args.worst)
        print("most confident mistakes (index: true -> predicted, probability):")
        for i, t, p, c in mistakes:
            print(f"  {i:6d}: {t} -> {p}  {c:.3f}")
        if args.worst_dir:
            from ..data.images import digit_to_image

            Path(args.worst_dir).mkdir(parents=True, exist_ok=True)
            for i, t, p, c in mistakes:
                digit_to_image(X[i], Path(args.worst_dir) / f"{name}-{i}-true{t}-pred{p}.png", scale=4)
            print(f"images saved to {args.worst_dir}")
    return 0


def cmd_errors(args) -> int:
    from ..report import errors as E

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
    check_output_dir(args.out, "--out")
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
    from ..report.labels import label_issues

    if args.top < 1:
        raise UserError("--top must be positive")
    if args.cross_fit == 1 or args.cross_fit < 0:
        raise UserError("--cross-fit needs at least 2 folds (or 0: use the model's own probabilities)")
    if args.out:
        check_output_dir(args.out, "--out")
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
        from ..report.labels import write_label_issues

        for path in write_label_issues(issues, X, args.out, args.top, name):
            print(f"written: {path}")
    return 0


def cmd_diagnose(args) -> int:
    """The error ladder on the split the model was trained with (recorded in the model file)."""
    from ..data import load_mnist, shift_images, train_dev_split
    from ..report.diagnosis import check_human_error, error_ladder
    from ..runs.outputs import diagnosis_split, read_training_meta
    from ..runs.run import select_classes

    human = check_human_error(args.human_error)
    for flag, value in (("--train-size", args.train_size), ("--train-dev-size", args.train_dev_size)):
        if value is not None:
            positive_int(value, flag)  # 0 would mean every image, -1 all but one
    net = _load_model(args.model)
    if net.n_in != 784:
        raise UserError(f"{args.model} takes {net.n_in} inputs, not MNIST's 784")
    split, notes = diagnosis_split(read_training_meta(args.model), args.seed, args.train_size, args.train_dev_size)
    for note in notes:
        print(note)
    data = load_mnist(dtype=net.dtype.name, **({"validation_size": split["validation_size"]}
                                                if split["validation_size"] is not None else {}))
    (X, y), (Xv, yv), (Xt, yt) = select_classes(data, split["classes"]) if split["classes"] else data
    if split["train_size"]:
        X, y = X[:split["train_size"]], y[:split["train_size"]]
    train_dev = None
    if split["train_dev_size"]:
        (X, y), train_dev = train_dev_split(X, y, split["train_dev_size"], seed=split["seed"])
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
    from ..data.images import digit_to_image, load_digit

    if args.show_input:
        check_output_dir(Path(args.show_input).parent or ".", "--show-input")
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
        for i, ((path, x), pvec) in enumerate(zip(loaded, proba)):
            print(_prediction_line(path, pvec))
            if args.ascii:
                print(_ascii_digit(x))
            if args.show_input:
                shown = _input_path(args.show_input, i, len(loaded))
                digit_to_image(x, shown, scale=8)
                print(f"  the 28x28 input it read: {shown}")
    if failed and len(args.images) > 1:
        print(f"numnet: {failed} of {len(args.images)} images could not be read", file=sys.stderr)
    return 2 if failed else 0


#: a prediction below this probability gets a note: the image may not look like an MNIST digit to the model
LOW_CONFIDENCE = 0.6


def _prediction_line(path, pvec) -> str:
    """"PATH: 2 (probability 0.912); next: 7 (0.050), 3 (0.021)", with a note when the top one is unsure."""
    order = np.argsort(pvec)[::-1]
    k = int(order[0])
    line = f"{path}: {k} (probability {pvec[k]:.3f})"
    if len(order) > 1:
        line += "; next: " + ", ".join(f"{int(j)} ({pvec[j]:.3f})" for j in order[1:3])
    if pvec[k] < LOW_CONFIDENCE:
        line += ("  [low confidence: check the input the model saw with --show-input PNG or --ascii (the digit "
                 "dark on light paper, alone, filling most of the picture reads best)]")
    return line


def _ascii_digit(x) -> str:
    """The 28x28 input as text: ' ' for no ink up to '@' for full ink."""
    shades = " .:-=+*#%@"
    rows = np.asarray(x, dtype=float).reshape(28, 28)
    return "\n".join("  " + "".join(shades[min(9, int(v * 10))] * 2 for v in row) for row in rows)


def _input_path(target, i, n) -> Path:
    """--show-input's file for the i-th image: the path itself for one image, PATH-1.png, ... for several."""
    target = Path(target)
    return target if n == 1 else target.with_name(f"{target.stem}-{i + 1}{target.suffix or '.png'}")


def cmd_gradcheck(args) -> int:
    from ..model import gradcheck, gradcheck_combinations

    if args.examples < 1:
        raise UserError("--examples must be positive")
    if not np.isfinite(args.l2) or args.l2 < 0 or (args.l2 and not args.model):
        raise UserError("--l2 must be a number >= 0, given with --model")
    number(args.tol, "--tol", 0.0, low_open=True)  # nan would pass every check, -1 fail every one
    if args.model:
        net = _load_model(args.model)
        rng = np.random.default_rng(args.seed)
        X = rng.random((args.examples, net.n_in))
        y = rng.integers(0, max(net.n_out, 2), args.examples)
        r = gradcheck(net, X, y, l2=args.l2, seed=args.seed)
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
    from ..report.plots import plot_history
    from ..train.history import History

    from ..report.diagnosis import read_curves

    check_output_dir(args.out, "--out")
    history = History.load(args.history)
    for p in plot_history(history, args.out):
        print(p)
    if args.window is not None and args.window < 3:
        raise UserError("--window must be at least 3 epochs")
    print(read_curves(history, window=args.window).format())
    return 0
