"""Small reproducible experiments on the moons data set (Andrew Ng, course 2, week 2).

`compare_optimizers`: the course's optimization assignment. A [2, 5, 2, 1] ReLU-ReLU-sigmoid network, He
initialization, cross-entropy, mini-batches of 64, α = 0.0007, 10,000 epochs, trained from the same initial
weights with gradient descent, momentum (β = 0.9) and Adam (defaults). The course reports training accuracy
79.7% (GD), 79.7% (momentum) and 94% (Adam). By default the data come from numnet's seeded generator;
`course_data=True` replays the notebook itself: its points (`datasets.course_moons`), its initial weights
(`course_weights`) and its mini-batch order (`course_batch_order`), all drawn from NumPy's legacy generator
with the notebook's seeds.

`compare_batch_modes`: the same network and data trained by batch gradient descent (one step per epoch),
mini-batch gradient descent (batch 64) and stochastic gradient descent (batch 1) at one learning rate, plus
learning-rate decay α = α0 / (1 + decay·epoch) against a constant rate (SGD and Adam).

Both return {name: {"accuracy", "costs", "seconds", ...}} and, given `out_dir`, write the cost curves
(`costs.png`), one decision-boundary figure per run (`boundary_<name>.png`) and a markdown table
(`results.md`). Figures need matplotlib (pip install 'numnet[plot]').
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data.toy import course_moons, make_moons
from ..model.network import Network
from ..train.optimizers import SGD, Adam, Momentum
from ..train.schedules import Constant, InverseTimeDecay
from ..utils.files import write_text_atomic
from ..utils.tables import format_table

__all__ = ["compare_optimizers", "compare_batch_modes", "format_table", "course_weights", "course_batch_order",
           "COURSE_ACCURACY", "MOONS_SIZES"]

MOONS_SIZES = [2, 5, 2, 1]

# Training accuracies reported by the course for the optimizer comparison (10,000 epochs, α = 0.0007).
COURSE_ACCURACY = {"gd": 0.797, "momentum": 0.797, "adam": 0.94}


# ---------------------------------------------------------------------------------------------- one run
def _moons_net(seed, dtype) -> Network:
    return Network.from_sizes(MOONS_SIZES, activation="relu", output="sigmoid", cost="cross_entropy", init="he",
                              seed=seed, dtype=dtype)


def course_weights(net: Network) -> dict:
    """The notebook's He initialization for `net`'s dense layers: NumPy's legacy generator seeded with 3 draws
    W[l] = randn(n_l, n_(l-1))·√(2/n_(l-1)) layer after layer, and b[l] = 0. Returned in numnet's layout
    (W transposed to (n_in, n_out)), ready for `net.set_weights`."""
    rs = np.random.RandomState(3)
    arrays = net.get_weights()
    for key, value in arrays.items():
        if key.endswith(".W"):
            n_in, n_out = value.shape
            arrays[key] = (rs.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in)).T
        elif key.endswith(".b"):
            arrays[key] = np.zeros_like(value)
    return arrays


def course_batch_order(epoch: int, n: int):
    """The notebook's mini-batch order: epoch e (counted from 0) is a permutation drawn from NumPy's legacy
    generator seeded with 11 + e; its mini-batches are consecutive slices of it, the last one shorter."""
    return np.random.RandomState(11 + epoch).permutation(n)


def _run(X, y, optimizer, *, epochs, batch_size, seed, dtype, schedule=None, cost_curve="batch_mean",
         verbose=False, label="", course=False):
    """Train a fresh moons network (weights drawn from `seed`, so every run starts from the same weights).

    cost_curve: "batch_mean" records per epoch the mean of its mini-batch costs (the course's cost curve);
    "train" records the cost on the whole training set after each epoch (comparable across batch sizes).
    course: start from the notebook's weights and replay its mini-batch order instead.
    """
    net = _moons_net(seed, dtype)
    if course:
        net.set_weights(course_weights(net))
    report = None
    if verbose:
        every = max(1, epochs // 10)

        def report(epoch, history):
            if epoch % every == 0 or epoch == epochs:
                c = history.train_cost[-1] if cost_curve == "train" else float(np.mean(history.batch_cost[-1]))
                print(f"  {label}: epoch {epoch}/{epochs}  cost {c:.4f}", flush=True)
    t0 = time.perf_counter()
    history = net.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, seed=seed, verbose=0,
                      schedule=schedule, monitor_training=(cost_curve == "train"), on_epoch_end=report,
                      shuffle=course_batch_order if course else True)
    seconds = time.perf_counter() - t0
    if cost_curve == "train":
        costs = [float(c) for c in history.train_cost]
    else:
        costs = [float(np.mean(b)) for b in history.batch_cost]
    return net, {
        "accuracy": float(net.evaluate(X, y).accuracy),
        "costs": costs,
        "seconds": seconds,
        "epochs": len(history),
        "batch_size": batch_size,
        "lr": float(optimizer.lr if schedule is None else history.lr[0]),
        "final_lr": float(history.lr[-1]),
        "optimizer": repr(optimizer),
        "schedule": repr(schedule or Constant()),
    }


def _write_outputs(out_dir, X, y, nets, results, curves, title, md_sections):
    """costs*.png via plot_curves, boundary_<name>.png per run, results.md."""
    from ..report.plots import plot_curves, plot_decision_boundary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for filename, (names, plot_title, ylabel) in curves.items():
        plot_curves({results[k]["label"]: results[k]["costs"] for k in names}, out / filename,
                    title=plot_title, xlabel="epoch", ylabel=ylabel)
    for name, net in nets.items():
        r = results[name]
        plot_decision_boundary(net.predict, X, y, out / f"boundary_{name}.png",
                               title=f"{r['label']}: train accuracy {100 * r['accuracy']:.1f}%")
    write_text_atomic(out / "results.md", f"# {title}\n\n" + "\n\n".join(md_sections) + "\n")


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


# ---------------------------------------------------------------------------------------------- experiments
def compare_optimizers(out_dir=None, epochs=10000, n=300, noise=0.2, lr=0.0007, batch_size=64, seed=1,
                       verbose=False, dtype=None, course_data=False) -> dict:
    """Gradient descent vs momentum vs Adam on the moons data (course 2, week 2); see the module docstring.

    Every optimizer starts from the same weights (drawn from `seed`) and sees the same mini-batch order.
    course_data=True replays the course's notebook instead: its 300 points, initial weights and mini-batch
    order (`n`, `noise` and `seed` are then not used); dtype defaults to float64 there, as in the notebook,
    and to float32 otherwise.
    Returns {"gd" | "momentum" | "adam": {"accuracy": final training accuracy in [0, 1], "costs": per-epoch
    mean of the mini-batch costs, "seconds": training wall time, "course": the course's figure, "label",
    ...}}. With `out_dir`: costs.png, boundary_gd.png, boundary_momentum.png, boundary_adam.png, results.md.
    """
    dtype = dtype or ("float64" if course_data else "float32")
    if course_data:
        X, y = course_moons(dtype)
        data = ("moons: the course notebook's 300 points (noise 0.2), initial weights and mini-batch order "
                "(NumPy legacy seeds 3, 3 and 11 + epoch)")
    else:
        X, y = make_moons(n, noise, seed=seed, dtype=dtype)
        data = f"moons: {n} points, noise {noise}, seed {seed}"
    runs = {
        "gd": ("gradient descent", SGD(lr)),
        "momentum": ("momentum (β=0.9)", Momentum(lr, beta=0.9)),
        "adam": ("Adam", Adam(lr)),
    }
    results, nets = {}, {}
    for name, (label, optimizer) in runs.items():
        nets[name], r = _run(X, y, optimizer, epochs=epochs, batch_size=batch_size, seed=seed, dtype=dtype,
                             verbose=verbose, label=label, course=course_data)
        r["label"] = label
        r["course"] = COURSE_ACCURACY[name]
        results[name] = r
        if verbose:
            print(f"{label}: train accuracy {100 * r['accuracy']:.2f}% in {r['seconds']:.1f}s", flush=True)
    if out_dir is not None:
        setup = (f"{data}; network {MOONS_SIZES} ReLU-ReLU-sigmoid, He init, cross-entropy, {dtype}; mini-batch "
                 f"{batch_size}, α = {lr:g}, {epochs} epochs; every optimizer starts from the same weights and sees "
                 f"the same mini-batch order. Cost: per-epoch mean of the mini-batch costs.")
        rows = [(r["label"], _pct(r["accuracy"]), _pct(r["course"]), f"{r['seconds']:.1f}")
                for r in results.values()]
        table = format_table(rows, ["optimizer", "final train accuracy", "course figure", "seconds"])
        _write_outputs(out_dir, X, y, nets, results,
                       {"costs.png": (list(results), "cost per epoch (moons)", "cost (mean of mini-batch costs)")},
                       "Optimizers on the moons data (Ng, course 2)", [setup, table])
    return results


def compare_batch_modes(out_dir=None, epochs=200, n=300, noise=0.2, lr=0.01, seed=1, decay_epochs=2000,
                        decay_lr=0.1, decay=0.001, decay_batch_size=64, adam_lr=0.01, verbose=False,
                        dtype="float32") -> dict:
    """Batch vs mini-batch vs stochastic gradient descent, and learning-rate decay, on the moons data.

    Batch modes (plain SGD at `lr`, `epochs` epochs each): "batch" (batch size n: one step per epoch),
    "minibatch" (64), "stochastic" (1: n steps per epoch). Their cost curves are the training-set cost after
    each epoch, so they compare at equal passes over the data; "seconds" shows what each pass costs.

    Learning-rate decay (`decay_epochs` epochs, mini-batch `decay_batch_size`, skipped when decay_epochs is
    0): "sgd_constant" (SGD at `decay_lr`) vs "sgd_decay" (α = decay_lr / (1 + decay·epoch), the course's
    formula applied every epoch), and "adam_constant" vs "adam_decay" (Adam at `adam_lr`). Cost curves are
    per-epoch means of the mini-batch costs. All runs start from the same weights.

    Returns {name: {"accuracy", "costs", "seconds", "batch_size", "lr", "final_lr", "label", "group", ...}}.
    With `out_dir`: costs.png (batch modes), costs_decay.png (decay runs), boundary_<name>.png, results.md.
    Long: one experiment (batch, mini-batch, stochastic, decay) with its table."""
    X, y = make_moons(n, noise, seed=seed, dtype=dtype)
    n = len(X)
    results, nets = {}, {}
    modes = {
        "batch": (f"batch GD (batch {n})", n),
        "minibatch": ("mini-batch GD (batch 64)", min(64, n)),
        "stochastic": ("stochastic GD (batch 1)", 1),
    }
    for name, (label, bs) in modes.items():
        nets[name], r = _run(X, y, SGD(lr), epochs=epochs, batch_size=bs, seed=seed, dtype=dtype,
                             cost_curve="train", verbose=verbose, label=label)
        r.update(label=label, group="batch modes", course=None)
        results[name] = r
        if verbose:
            print(f"{label}: train accuracy {100 * r['accuracy']:.2f}% in {r['seconds']:.1f}s", flush=True)
    decay_names = []
    if decay_epochs:
        runs = {
            "sgd_constant": (f"SGD α={decay_lr:g} constant", SGD(decay_lr), None),
            "sgd_decay": (f"SGD α={decay_lr:g}/(1+{decay:g}·epoch)", SGD(decay_lr), InverseTimeDecay(decay)),
            "adam_constant": (f"Adam α={adam_lr:g} constant", Adam(adam_lr), None),
            "adam_decay": (f"Adam α={adam_lr:g}/(1+{decay:g}·epoch)", Adam(adam_lr), InverseTimeDecay(decay)),
        }
        for name, (label, optimizer, schedule) in runs.items():
            nets[name], r = _run(X, y, optimizer, epochs=decay_epochs, batch_size=decay_batch_size, seed=seed,
                                 dtype=dtype, schedule=schedule, verbose=verbose, label=label)
            r.update(label=label, group="learning-rate decay", course=None)
            results[name] = r
            decay_names.append(name)
            if verbose:
                print(f"{label}: train accuracy {100 * r['accuracy']:.2f}% in {r['seconds']:.1f}s", flush=True)
    if out_dir is not None:
        batch_names = list(modes)
        sections = [
            f"moons: {n} points, noise {noise}, seed {seed}; network {MOONS_SIZES} ReLU-ReLU-sigmoid, He init, "
            f"cross-entropy, {dtype}; every run starts from the same weights.",
            f"## Batch, mini-batch and stochastic gradient descent\n\nPlain SGD, α = {lr:g}, {epochs} epochs each. "
            "Cost curve (costs.png): cost on the whole training set after each epoch.\n\n"
            + format_table([(results[k]["label"], results[k]["batch_size"], -(-n // results[k]["batch_size"]),
                             _pct(results[k]["accuracy"]), f"{results[k]['costs'][-1]:.4f}",
                             f"{results[k]['seconds']:.2f}") for k in batch_names],
                           ["mode", "batch size", "steps per epoch", "final train accuracy", "final cost",
                            "seconds"]),
        ]
        curves = {"costs.png": (batch_names, "training cost per epoch: batch modes", "training cost")}
        if decay_names:
            sections.append(
                f"## Learning-rate decay\n\nMini-batch {decay_batch_size}, {decay_epochs} epochs; decay α = α0 / "
                f"(1 + {decay:g}·epoch), applied each epoch. Cost curve (costs_decay.png): per-epoch mean of the "
                "mini-batch costs.\n\n"
                + format_table([(results[k]["label"], f"{results[k]['lr']:g}", f"{results[k]['final_lr']:.3g}",
                                 _pct(results[k]["accuracy"]), f"{results[k]['costs'][-1]:.4f}",
                                 f"{results[k]['seconds']:.2f}") for k in decay_names],
                               ["run", "initial α", "final α", "final train accuracy", "final cost", "seconds"]))
            curves["costs_decay.png"] = (decay_names, "cost per epoch: learning-rate decay",
                                         "cost (mean of mini-batch costs)")
        _write_outputs(out_dir, X, y, nets, results, curves, "Batch modes and learning-rate decay on the moons data",
                       sections)
    return results
