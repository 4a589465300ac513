"""The building blocks measured (issue #12): maxout against ReLU at an equal parameter count, epochs to 97%
with and without input standardization, the vanishing first-layer gradient of a deep sigmoid network against
He + ReLU (gradient-health records, plotted), and one training step by numerical gradient against backprop.

    python benchmarks/blocks.py --out benchmarks/blocks-results.md --plot docs/gradient-health.png
    python benchmarks/blocks.py --quick          # a smoke test: small subsets, one seed

Every run uses the bundled MNIST: training on the first --train-size images, validation on the 10,000 held out.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import numnet
from numnet.model.gradcheck import numerical_gradient
from numnet.utils.files import write_text_atomic
from numnet.utils.tables import format_table


def params(net) -> int:
    return net.n_params


def maxout_vs_relu(train, val, seeds, epochs):
    """ReLU [784, 200, 10] (159,010 parameters) against Maxout 2 pieces [784, 100, 10] (158,010)."""
    rows = []
    for label, kw in (("ReLU, 200 hidden", {"activation": "relu"}),
                      ("Maxout (2 pieces), 100 hidden", {"activation": "maxout", "pieces": 2})):
        accs, n = [], None
        for seed in seeds:
            sizes = [784, 200 if kw["activation"] == "relu" else 100, 10]
            net = numnet.Network.from_sizes(sizes, cost="log_likelihood", init="he", seed=seed, **kw)
            n = params(net)
            h = net.fit(*train, epochs=epochs, batch_size=128, optimizer=numnet.Adam(1e-3), validation_data=val,
                        seed=seed)
            accs.append(max(h.val_accuracy))
        rows.append({"model": label, "parameters": n, "best_val": accs})
    return rows


def standardization(train, val, seeds, max_epochs, target=0.97):
    """Epochs until validation accuracy first reaches `target`, [784, 100, 10] sigmoid, SGD η = 0.5, batch 64."""
    rows = []
    for label, on in (("raw pixels in [0, 1]", False), ("standardized (μ, σ from training data)", True)):
        epochs = []
        for seed in seeds:
            net = numnet.Network.from_sizes([784, 100, 10], activation="sigmoid", cost="log_likelihood", seed=seed)
            if on:
                net.standardize(train[0])
            reached = []

            class Stop(numnet.Callback):
                def on_epoch_end(self, trainer, epoch, logs):
                    if logs["val_accuracy"] >= target:
                        reached.append(epoch)
                        return True

            net.fit(*train, epochs=max_epochs, batch_size=64, optimizer=numnet.SGD(0.5), validation_data=val,
                    seed=seed, callbacks=[Stop()])
            epochs.append(reached[0] if reached else None)
        rows.append({"inputs": label, "epochs_to_target": epochs})
    return rows


def vanishing(train, seed, epochs):
    """First- and last-layer gradient norms per epoch: 5 hidden layers of 30, sigmoid with N(0, 1) weights
    against ReLU with He initialization (SGD η = 0.1, batch 64)."""
    out = {}
    for label, kw in (("sigmoid, N(0, 1) init", {"activation": "sigmoid", "init": "large"}),
                      ("ReLU, He init", {"activation": "relu", "init": "he"})):
        net = numnet.Network.from_sizes([784, 30, 30, 30, 30, 30, 10], cost="log_likelihood", seed=seed, **kw)
        health = numnet.GradientHealth(warn=False)
        net.fit(*train, epochs=epochs, batch_size=64, optimizer=numnet.SGD(0.1), seed=seed, callbacks=[health])
        dense = [k for k in health.records[0]["grad_norm"] if k.endswith(".W")]
        sizes = {f"{i}.W": int(layer.params["W"].size) for i, layer in enumerate(net.layers) if "W" in layer.params}
        out[label] = {"layers": dense, "weights": [sizes[k] for k in dense],
                      "grad_norm": [[r["grad_norm"][k] for k in dense] for r in health.records],
                      "dead_or_saturated": [{**r["dead_fraction"], **r["saturated_fraction"]} for r in health.records]}
    return out


def numerical_step(train, seed, batch=100):
    """Seconds for one gradient of Saito's two-layer net [784, 50, 10] on one mini-batch: backprop vs numerical."""
    X, y = train[0][:batch].astype(np.float64), train[1][:batch]
    net = numnet.Network.from_sizes([784, 50, 10], activation="sigmoid", cost="log_likelihood", seed=seed,
                                    dtype="float64")
    t0 = time.perf_counter()
    net.loss_and_grads(X, y)
    backprop = time.perf_counter() - t0
    analytic = [g.copy() for g in net.grad_arrays()]
    t0 = time.perf_counter()
    numeric = []
    for p in net.param_arrays():
        def f(values, p=p):
            old = p.copy()
            p[...] = values
            c = net.loss_and_grads(X, y)
            p[...] = old
            return c
        numeric.append(numerical_gradient(f, p))
    numerical = time.perf_counter() - t0
    err = max(float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))) for a, b in zip(analytic, numeric))
    return {"parameters": net.n_params, "backprop_s": backprop, "numerical_s": numerical, "relative_error": err}


def rms(r, row, j) -> float:
    """Root-mean-square gradient per weight of layer j: ‖∂C/∂W‖ / √(number of weights)."""
    return r["grad_norm"][row][j] / r["weights"][j] ** 0.5


def plot(vanish, path):
    from numnet.report.plots import figure, save_figure

    fig, ax = figure((7.5, 4.5))
    for (label, r), style in zip(vanish.items(), ("o-", "s--")):
        first = [rms(r, i, 0) for i in range(len(r["grad_norm"]))]
        last = [rms(r, i, -1) for i in range(len(r["grad_norm"]))]
        epochs = range(1, len(first) + 1)
        ax.semilogy(epochs, first, style, label=f"{label}: first layer")
        ax.semilogy(epochs, last, style, alpha=0.5, label=f"{label}: output layer")
    ax.set(title="gradient per weight (RMS), [784, 30×5, 10]", xlabel="epoch", ylabel="‖∂C/∂W‖ / √(weights)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def report(res, command) -> str:
    def acc(v):
        return f"{100 * statistics.fmean(v):.2f}% ({', '.join(f'{100 * a:.2f}' for a in v)})"

    L = ["# Building blocks, measured", "", f"Generated {res['generated']} with `{command}`.", "",
         "## Maxout against ReLU at an equal parameter count", "",
         f"Adam 1e-3, batch 128, {res['epochs']} epochs on {res['train_size']:,} training images; best validation "
         f"accuracy, mean over seeds {res['seeds']} (each seed in brackets).", "",
         format_table([(r["model"], f"{r['parameters']:,}", acc(r["best_val"])) for r in res["maxout"]],
                      ["model", "parameters", "best validation accuracy"]), "",
         "## Input standardization", "",
         f"[784, 100, 10] sigmoid + softmax, SGD η = 0.5, batch 64: epochs until validation accuracy first reaches "
         f"97% (none: not within {res['max_epochs']} epochs), per seed.", "",
         format_table([(r["inputs"], ", ".join("-" if e is None else str(e) for e in r["epochs_to_target"]))
                       for r in res["standardization"]], ["inputs", "epochs to 97%"]), "",
         "## Vanishing gradients: deep sigmoid with N(0, 1) weights against He + ReLU", "",
         "Gradient per weight (RMS: ‖∂C/∂W‖ / √(number of weights), ‖∂C/∂W‖ averaged over each epoch's "
         "mini-batches by the GradientHealth callback) of the first and the output layer; plot: "
         "docs/gradient-health.png.", ""]
    rows = []
    for label, r in res["vanishing"].items():
        for e in range(1, len(r["grad_norm"]) + 1):
            first, last = rms(r, e - 1, 0), rms(r, e - 1, -1)
            rows.append((label, e, f"{first:.2e}", f"{last:.2e}", f"{last / max(first, 1e-300):.1f}"))
    L += [format_table(rows, ["network", "epoch", "first layer", "output layer", "output / first"]), "",
          "## One gradient by numerical differences against backprop (Saito ch. 4/5)", ""]
    n = res["numerical"]
    L += [f"[784, 50, 10] sigmoid + softmax, float64, one mini-batch of 100: backprop {n['backprop_s'] * 1e3:.2f} ms, "
          f"two-sided numerical gradient of all {n['parameters']:,} parameters {n['numerical_s']:.1f} s "
          f"({n['numerical_s'] / n['backprop_s']:,.0f}× slower); largest relative difference {n['relative_error']:.1e}.",
          "", f"Machine: {res['machine']}.", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", metavar="PATH", help="write the markdown report here")
    p.add_argument("--json", metavar="PATH", help="also write the raw results")
    p.add_argument("--plot", metavar="PNG", help="plot the gradient norms here")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--train-size", type=int, default=50000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-epochs", type=int, default=15)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--from-json", metavar="PATH", help="measure nothing: render the report (and plot) of saved results")
    args = p.parse_args(argv)
    command = "python benchmarks/blocks.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        res = json.loads(Path(args.from_json).read_text())
        return _outputs(res, res.get("command", command), args)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        seeds, args.train_size, args.epochs, args.max_epochs = seeds[:1], 2000, 2, 2
    (X, y), val, _ = numnet.load_mnist()
    train = (X[:args.train_size], y[:args.train_size])
    val = (val[0][:2000], val[1][:2000]) if args.quick else val
    res = {"generated": datetime.datetime.now().isoformat(timespec="seconds"), "seeds": seeds,
           "train_size": args.train_size, "epochs": args.epochs, "max_epochs": args.max_epochs,
           "machine": f"{platform.node()} ({os.cpu_count()} CPUs; Python {platform.python_version()}, "
                      f"NumPy {np.__version__})"}
    res["maxout"] = maxout_vs_relu(train, val, seeds, args.epochs)
    res["standardization"] = standardization(train, val, seeds, args.max_epochs)
    res["vanishing"] = vanishing(train, seeds[0], args.epochs)
    res["numerical"] = numerical_step(train, seeds[0], batch=20 if args.quick else 100)
    res["command"] = command
    return _outputs(res, command, args)


def _outputs(res, command, args) -> int:
    text = report(res, command)
    print(text)
    if args.out:
        write_text_atomic(args.out, text)
    if args.json:
        write_text_atomic(args.json, json.dumps(res, indent=1))
    if args.plot:
        plot(res["vanishing"], args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
