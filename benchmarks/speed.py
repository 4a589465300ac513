"""Side-by-side training speed on MNIST, in one process on one machine.

    python benchmarks/speed.py                       # all configs, 3 timed epochs each, report to stdout
    python benchmarks/speed.py --out BENCHMARKS.md   # also write the markdown report
    python benchmarks/speed.py --quick               # a smoke test: small subset, seconds
    python benchmarks/speed.py --device cuda         # on a GPU: numnet on CuPy, PyTorch CUDA, a CuPy loop
                                                     # (B, C, D, E; see benchmarks/speed_gpu.py)
    python benchmarks/speed.py --threads 1,2,4 --configs B,C,D --kernels     # thread scaling: each framework in
                                                     # its own process, SGD and Adam, the epoch's split
                                                     # (benchmarks/speed_threads.py)
    python benchmarks/speed.py --lenet [--threads 1,2 --train-size N]        # the LeNet-style conv network vs
                                                     # PyTorch CPU, and a conv epoch's peak memory (speed_conv.py)

Configurations (training set: the first 50,000 MNIST training images, as in the book):
    A  [784, 30, 10]  sigmoid hidden + sigmoid output, quadratic cost ½‖y − a‖², N(0,1) init, SGD η=3.0, batch 10
    B  [784, 100, 10] ReLU + softmax, log-likelihood, He init, SGD η=0.1, batch 128
    C  [784, 800, 10] ReLU + softmax, log-likelihood, He init, SGD η=0.1, batch 128

Frameworks: numnet (float32 and float64), the book's per-example algorithm (benchmarks/reference.py, config A
only, timed on a slice of the epoch and extrapolated), PyTorch CPU and scikit-learn's MLPClassifier (each only
if installed). Every timing is the median of --repeats epochs after one untimed warm-up epoch; within a config
the frameworks' epochs are interleaved (one epoch of each in turn), so that a slow spell of a shared machine
hits all of them alike.

Also: the machine's matrix-product throughput (GFLOP/s), each config's arithmetic lower bound per epoch, and
the wall time for numnet and PyTorch to reach 98.0% test accuracy with one recipe.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import reference  # noqa: E402  (benchmarks/reference.py)

import numnet  # noqa: E402
from numnet import Adam, FusedSGD, Network, SGD  # noqa: E402
from numnet.data import load_mnist, one_hot  # noqa: E402
from numnet.utils.tables import format_table  # noqa: E402
from numnet.utils.files import write_text_atomic  # noqa: E402

EPOCH = 50_000  # examples per epoch that every s/epoch figure refers to
TORCH_HINT = "pip install torch==2.13.0"

CONFIGS = {
    "A": {"sizes": [784, 30, 10], "activation": "sigmoid", "output": "sigmoid", "cost": "quadratic",
          "init": "large", "lr": 3.0, "batch_size": 10,
          "title": "[784,30,10] sigmoid + quadratic cost, SGD η=3.0, batch 10 (Nielsen ch.1)"},
    "B": {"sizes": [784, 100, 10], "activation": "relu", "output": "softmax", "cost": "log_likelihood",
          "init": "he", "lr": 0.1, "batch_size": 128,
          "title": "[784,100,10] ReLU + softmax log-likelihood, SGD η=0.1, batch 128"},
    "C": {"sizes": [784, 800, 10], "activation": "relu", "output": "softmax", "cost": "log_likelihood",
          "init": "he", "lr": 0.1, "batch_size": 128,
          "title": "[784,800,10] ReLU + softmax log-likelihood, SGD η=0.1, batch 128"},
    "D": {"sizes": [784, 2048, 2048, 10], "activation": "relu", "output": "softmax", "cost": "log_likelihood",
          "init": "he", "lr": 0.1, "batch_size": 256,
          "title": "[784,2048,2048,10] ReLU + softmax log-likelihood, SGD η=0.1, batch 256"},
    "E": {"sizes": [784, 4096, 4096, 4096, 10], "activation": "relu", "output": "softmax", "cost": "log_likelihood",
          "init": "he", "lr": 0.1, "batch_size": 1024,
          "title": "[784,4096,4096,4096,10] ReLU + softmax log-likelihood, SGD η=0.1, batch 1024"},
}
FUSED = "numnet, fused SGD"  # the row of numnet with FusedSGD (--fused-sgd)
#: environment variables that size the BLAS / OpenMP thread pools (read when NumPy and PyTorch load)
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")

# time to a test accuracy: numnet's fastest recipe, the same recipe in PyTorch
TARGET_RECIPE = {"sizes": [784, 500, 10], "activation": "relu", "output": "softmax", "cost": "log_likelihood",
                 "init": "he", "lr": 1e-3, "batch_size": 128}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def blas_info() -> list[str]:
    lines = []
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        if blas:
            lines.append(f"NumPy built with: {blas.get('name')} {blas.get('version')}"
                         + (f" ({blas['openblas configuration']})" if blas.get("openblas configuration") else ""))
    except Exception:  # older NumPy: no mode="dicts"
        pass
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(f"threadpool: {pool.get('internal_api')} {pool.get('version')} ({pool.get('user_api')}), "
                         f"{pool.get('num_threads')} threads, {pool.get('threading_layer', '-')}, "
                         f"arch {pool.get('architecture', '-')}, {Path(pool.get('filepath', '')).name}")
    except ImportError:
        lines.append("threadpoolctl not installed (pip install threadpoolctl): live BLAS thread counts not shown")
    return lines


def load_average():
    """1-, 5- and 15-minute load averages (None where the OS does not report them)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info(torch_mod, sklearn_version) -> dict:
    env = {k: os.environ.get(k, "unset") for k in
           ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
    return {
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cores": usable_cores(),
        "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "numnet": numnet.__version__, "blas": blas_info(), "env": env,
        "torch": None if torch_mod is None else torch_mod.__version__,
        "torch_threads": None if torch_mod is None else torch_mod.get_num_threads(),
        "sklearn": sklearn_version,
    }


# ---------------------------------------------------------------------------------------------- throughput
def matmul_gflops(n: int, dtype, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of an (n × n) @ (n × n) product (2n³ floating-point operations)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)  # warm-up: threads started, pages touched
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def epoch_flops(sizes, n_examples: int) -> float:
    """FLOPs of one epoch's matrix products: per Dense layer (n_in × n_out) and example, forward X@W,
    backward dW = Xᵀδ, and dX = δWᵀ for all but the first layer; 2·m·k·n each."""
    total = 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        total += (2 if i == 0 else 3) * 2 * n_in * n_out
    return float(total) * n_examples


def products_epochs(cfg, X, dtype):
    """Epochs of the matrix products alone, at the config's real shapes (batch × layer sizes), in the same
    dtype and BLAS thread pool: the practical floor for any framework built on this BLAS. Nothing but the
    products runs (no activations, costs, updates or gathers). Yields the seconds of each timed epoch after
    an untimed warm-up."""
    rng = np.random.default_rng(0)
    sizes, bs = cfg["sizes"], cfg["batch_size"]
    Ws = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    dWs = [np.empty_like(W) for W in Ws]
    X = X.astype(dtype, copy=False)

    def epoch():
        for start in range(0, len(X), bs):
            acts = [X[start:start + bs]]
            for W in Ws:
                acts.append(acts[-1] @ W)
            delta = acts[-1]
            for i in range(len(Ws) - 1, -1, -1):
                np.matmul(acts[i].T, delta, out=dWs[i])
                if i:
                    delta = delta @ Ws[i].T

    epoch()
    while True:
        t0 = time.perf_counter()
        epoch()
        yield time.perf_counter() - t0


def interleaved(timers: dict, repeats: int) -> dict:
    """Time `repeats` epochs of every generator in `timers`, one epoch of each in turn (after each one's
    warm-up), so that a slow spell of a shared machine hits every framework alike. {name: [timings]}."""
    out = {name: [] for name in timers}
    for _ in range(repeats):
        for name, epochs in timers.items():
            out[name].append(next(epochs))
    return out


# ---------------------------------------------------------------------------------------------- numnet
def make_numnet(cfg, dtype, seed) -> Network:
    return Network.from_sizes(cfg["sizes"], activation=cfg["activation"], output=cfg["output"], cost=cfg["cost"],
                              init=cfg["init"], seed=seed, dtype=dtype)


def numnet_epochs(cfg, X, y, dtype, seed, fused=False):
    """One untimed warm-up epoch, then epochs each a `net.fit(..., epochs=1)` call; yields (epoch seconds
    from history.epoch_time, wall seconds of the fit call). fused: FusedSGD, the SGD step folded into the
    weight-gradient products."""
    net = make_numnet(cfg, dtype, seed)
    opt = (FusedSGD if fused else SGD)(cfg["lr"])
    i = 0
    while True:
        t0 = time.perf_counter()
        h = net.fit(X, y, epochs=1, batch_size=cfg["batch_size"], optimizer=opt, seed=seed + i, verbose=0)
        w = time.perf_counter() - t0
        if i:
            yield h.epoch_time[-1], w
        i += 1


# ---------------------------------------------------------------------------------------------- per-example reference
def reference_epochs(cfg, X, y, dtype, n_examples, seed):
    """The book's per-example algorithm on `n_examples` examples per timing (a slice of an epoch), after a
    short warm-up; yields the seconds of each slice."""
    rng = np.random.default_rng(seed)
    weights, biases = reference.init_params(cfg["sizes"], rng, dtype)
    Xs = np.ascontiguousarray(X[:n_examples], dtype=dtype)
    Ys = one_hot(y[:n_examples], cfg["sizes"][-1], dtype=dtype)
    bs = cfg["batch_size"]
    reference.train_epoch_per_example(weights, biases, Xs[:20 * bs], Ys[:20 * bs], bs, cfg["lr"], rng)
    while True:
        t0 = time.perf_counter()
        reference.train_epoch_per_example(weights, biases, Xs, Ys, bs, cfg["lr"], rng)
        yield time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------- PyTorch
def import_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def torch_model(torch, cfg, net: Network):
    """The same architecture as `net`, starting from its weights (numnet W is (n_in, n_out): torch uses Wᵀ)."""
    nn = torch.nn
    mods = []
    dense = [l for l in net.layers if isinstance(l, numnet.Dense)]
    for i, layer in enumerate(dense):
        lin = nn.Linear(layer.n_in, layer.n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W.T, dtype=np.float32)))
            lin.bias.copy_(torch.from_numpy(np.asarray(layer.b, dtype=np.float32)))
        mods.append(lin)
        if i < len(dense) - 1:
            mods.append(nn.Sigmoid() if cfg["activation"] == "sigmoid" else nn.ReLU())
    if cfg["output"] == "sigmoid":
        mods.append(nn.Sigmoid())
    return nn.Sequential(*mods)


def torch_loss(torch, cfg):
    if cfg["cost"] == "quadratic":  # numnet's C = (1/m) Σ_x ½‖y − a‖² on sigmoid outputs
        return lambda out, Y: 0.5 * ((out - Y) ** 2).sum(dim=1).mean()
    if cfg["cost"] == "log_likelihood":  # softmax + −ln a_y, averaged: cross_entropy on the logits
        return torch.nn.functional.cross_entropy
    raise ValueError(f"no torch loss for cost {cfg['cost']!r}")


def torch_epoch(torch, model, opt, loss_fn, Xt, Yt, batch_size, gen, perm=None):
    """One epoch: shuffle once (one gather of the whole set; `perm` if given, else drawn from `gen`), then a
    manual loop over slices."""
    perm = torch.randperm(len(Xt), generator=gen) if perm is None else torch.from_numpy(perm)
    Xs, Ys = Xt[perm], Yt[perm]
    for s in range(0, len(Xs), batch_size):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(Xs[s:s + batch_size]), Ys[s:s + batch_size])
        loss.backward()
        opt.step()


def torch_epochs(torch, cfg, X, y, seed):
    """PyTorch epochs from numnet's initial weights, after one untimed warm-up; yields seconds per epoch."""
    net = make_numnet(cfg, "float32", seed)
    model = torch_model(torch, cfg, net)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    if cfg["cost"] == "quadratic":
        Yt = torch.from_numpy(one_hot(y, cfg["sizes"][-1], dtype="float32"))
    else:
        Yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch_loss(torch, cfg)
    torch_epoch(torch, model, opt, loss_fn, Xt, Yt, cfg["batch_size"], gen)
    while True:
        t0 = time.perf_counter()
        torch_epoch(torch, model, opt, loss_fn, Xt, Yt, cfg["batch_size"], gen)
        yield time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------- scikit-learn
def sklearn_version():
    try:
        import sklearn
    except ImportError:
        return None
    return sklearn.__version__


def sklearn_epochs(cfg, X, y, seed):
    """MLPClassifier.partial_fit = one epoch of its own mini-batch SGD (no momentum, alpha=0), after one
    untimed warm-up. Its first item is the dtype it trains in, then seconds per epoch. Its output layer is
    always softmax + log-loss for multi-class data, whatever `cfg` says."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(cfg["sizes"][1:-1]),
                        activation="logistic" if cfg["activation"] == "sigmoid" else "relu",
                        solver="sgd", batch_size=cfg["batch_size"], learning_rate="constant",
                        learning_rate_init=cfg["lr"], momentum=0.0, nesterovs_momentum=False, alpha=0.0,
                        shuffle=True, random_state=seed)
    X = np.ascontiguousarray(X, dtype=np.float32)
    classes = np.arange(cfg["sizes"][-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, y, classes=classes)
        yield str(clf.coefs_[0].dtype)
        while True:
            t0 = time.perf_counter()
            clf.partial_fit(X, y, classes=classes)
            yield time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------- time to accuracy
def numnet_time_to(target, train, test, max_epochs, seed):
    net = make_numnet(TARGET_RECIPE, "float32", seed)
    t0 = time.perf_counter()
    h = net.fit(*train, epochs=max_epochs, batch_size=TARGET_RECIPE["batch_size"], optimizer=Adam(TARGET_RECIPE["lr"]),
                validation_data=test, seed=seed, verbose=0,
                on_epoch_end=lambda epoch, hist: hist.val_accuracy[-1] >= target)
    seconds = time.perf_counter() - t0
    acc = h.val_accuracy[-1]
    return {"reached": acc >= target, "epochs": len(h), "seconds": seconds, "accuracy": acc,
            "curve": h.val_accuracy}


def torch_time_to(torch, target, train, test, max_epochs, seed):
    net = make_numnet(TARGET_RECIPE, "float32", seed)  # same initial weights as numnet's run
    model = torch_model(torch, TARGET_RECIPE, net)
    opt = torch.optim.Adam(model.parameters(), lr=TARGET_RECIPE["lr"])
    loss_fn = torch_loss(torch, TARGET_RECIPE)
    Xt = torch.from_numpy(np.ascontiguousarray(train[0], dtype=np.float32))
    Yt = torch.from_numpy(np.asarray(train[1], dtype=np.int64))
    Xtest = torch.from_numpy(np.ascontiguousarray(test[0], dtype=np.float32))
    ytest = torch.from_numpy(np.asarray(test[1], dtype=np.int64))
    rng = np.random.default_rng(seed)  # numnet's fit draws its batch order this way: the same batches, in order
    curve = []
    t0 = time.perf_counter()
    for _ in range(max_epochs):
        model.train()
        torch_epoch(torch, model, opt, loss_fn, Xt, Yt, TARGET_RECIPE["batch_size"], None, rng.permutation(len(Xt)))
        model.eval()
        with torch.no_grad():
            curve.append(float((model(Xtest).argmax(dim=1) == ytest).float().mean()))
        if curve[-1] >= target:
            break
    seconds = time.perf_counter() - t0
    return {"reached": curve[-1] >= target, "epochs": len(curve), "seconds": seconds, "accuracy": curve[-1],
            "curve": curve}


# ---------------------------------------------------------------------------------------------- report
def fmt_s(x):
    return "-" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def targets_section(res) -> list[str]:
    """The issue's targets, each met or not, with the measured figures that explain a miss."""
    out = []
    for key, c in res["configs"].items():
        rows = {(r["framework"].split()[0], r["dtype"]): r for r in c["rows"]}
        mine = rows.get(("numnet", "float32"))
        torch_row = rows.get(("PyTorch", "float32"))
        if mine and torch_row:
            a, b = mine["s_per_epoch"], torch_row["s_per_epoch"]
            out.append(f"- Config {key}, faster than PyTorch per epoch (float32): numnet {a:.3f} s vs PyTorch "
                       f"{b:.3f} s: **{'met' if a < b else 'NOT met'}**")
        if mine and CONFIGS[key]["batch_size"] == 128:
            x = mine["s_per_epoch"] / c["bound"]["float32"]
            line = f"- Config {key}, within 1.5× of the lower bound at batch 128 (float32): {x:.2f}×: " \
                   f"**{'met' if x <= 1.5 else 'NOT met'}**"
            p = c.get("products", {}).get("float32")
            if x > 1.5 and p:
                line += (f". Measured cause: the matrix products alone, at these shapes, take {p:.3f} s = "
                         f"{p / c['bound']['float32']:.2f}× the bound (this BLAS runs them at "
                         f"{100 * c['bound']['float32'] / p:.0f}% of its large-matrix throughput); numnet's "
                         f"whole epoch is {mine['s_per_epoch'] / p:.2f}× the products alone, the rest being the "
                         "elementwise work (activations, softmax, cost, updates) and the per-batch gather")
            out.append(line)
    for d, sp in res.get("speedup", {}).items():
        if d == "float32":
            out.append(f"- At least 8× faster than the per-example algorithm at batch 10 (float32): {sp:.1f}×: "
                       f"**{'met' if sp >= 8 else 'NOT met'}**")
    t = res.get("target")
    if t:
        names = list(t["runs"])
        if len(names) == 2 and all(t["runs"][k] for k in names):
            def med(runs):
                return statistics.median(r["seconds"] if r["reached"] else float("inf") for r in runs)
            a, b = med(t["runs"][names[0]]), med(t["runs"][names[1]])
            def show(x):
                return f"{x:.1f} s" if math.isfinite(x) else "not reached"
            line = (f"- Reach {100 * t['accuracy']:.1f}% test accuracy in less wall time than PyTorch (median "
                    f"over seeds): numnet {show(a)} vs PyTorch {show(b)}: **{'met' if a < b else 'NOT met'}**")
            if math.isfinite(a) and not a < b:
                ra, rb = t["runs"][names[0]], t["runs"][names[1]]
                per_a = statistics.median(r["seconds"] / r["epochs"] for r in ra)
                per_b = statistics.median(r["seconds"] / r["epochs"] for r in rb)
                more = sum(x["epochs"] > y["epochs"] for x, y in zip(ra, rb))
                line += (f". Measured cause: numnet's epochs (training and test evaluation) take {per_a:.2f} s against "
                         f"PyTorch's {per_b:.2f} s ({per_a / per_b:.2f}×), but it needed more epochs to first reach "
                         f"the target in {more} of {len(ra)} seeds (epochs per seed: numnet "
                         f"{', '.join(str(r['epochs']) for r in ra)}; PyTorch "
                         f"{', '.join(str(r['epochs']) for r in rb)}). Both train from the same weights on the same "
                         "batches, so that difference is float32 rounding moving the epoch at which the accuracy "
                         "curve first crosses the target")
            out.append(line)
    return ["## Targets", ""] + out + [""] if out else []


def build_report(res, args, command, rewritten=None) -> str:
    """The markdown report. rewritten: (when, command) of a --from-json rewrite, stated under the run's line."""
    m = res["machine"]
    L = ["# numnet speed benchmarks", "",
         f"Run {res['date']} with `{command}`" + (" (**--quick smoke test: small subset, not representative**)"
                                                   if args.quick else ""), ""]
    if rewritten:
        L += [f"Report rewritten from that run's saved timings {rewritten[0]} with `{rewritten[1]}`.", ""]
    L += ["## Machine", "",
          f"- CPU: {m['cpu']}; {m['logical_cpus']} logical CPUs, {m['usable_cores']} usable by this process",
          f"- {m['platform']}",
          f"- Python {m['python']}, NumPy {m['numpy']}, numnet {m['numnet']}",
          f"- PyTorch: {m['torch'] or 'not installed'}" + (f" ({m['torch_threads']} threads, "
                                                           f"torch.set_num_threads({m['usable_cores']}))"
                                                           if m["torch"] else ""),
          f"- scikit-learn: {m['sklearn'] or 'not installed'}",
          "- thread settings: " + ", ".join(f"{k}={v}" for k, v in m["env"].items())]
    if m.get("load_at_start"):
        busy = m["load_at_start"][0] > 0.5
        L.append(f"- load average before the run (1, 5, 15 min): {', '.join(map(str, m['load_at_start']))}"
                 + (" (**the machine was busy: BLAS threads that share cores with other work slow down a lot; "
                    "rerun on a quiet machine**)" if busy else ""))
    L += [f"- {line}" for line in m["blas"]]
    L += ["", "## Matrix-product throughput", "",
          f"Best of {res['matmul']['repeats']} products of two {res['matmul']['n']}×{res['matmul']['n']} matrices "
          "(2n³ FLOPs each), NumPy `matmul`.", "",
          format_table([(d, f"{g:.1f}") for d, g in res["matmul"]["gflops"].items()], ["dtype", "GFLOP/s"]), ""]
    L += ["## Seconds per epoch", "",
          f"An epoch is {EPOCH:,} training examples (the book's training set). Each figure is the **median** of "
          f"{args.repeats} epochs after one untimed warm-up epoch; within a config the rows' epochs are "
          "interleaved (one epoch of each in turn), so a slow spell of this shared machine hits every row alike"
          + (f"; measured on {res['train_size']:,} examples and scaled to {EPOCH:,}" if res["scale"] != 1 else "")
          + ". numnet: `history.epoch_time` of `net.fit(X, y, epochs=1, verbose=0)` (the shuffle and every "
            "mini-batch step; the per-call input checks of `fit` are listed separately below). "
            "Per-example reference: the book's algorithm (benchmarks/reference.py) timed on "
            f"{res['reference_examples']:,} examples and extrapolated to {EPOCH:,}. PyTorch: a manual loop over "
            "slices of a tensor shuffled once per epoch, same initial weights, loss and SGD. scikit-learn: one "
            "`MLPClassifier.partial_fit` (solver='sgd', momentum=0, alpha=0; its output layer is always softmax + "
            "log-loss, so config A differs in cost). Lower bound: the epoch's matrix-product FLOPs (forward X@W, "
            "dW = Xᵀδ, dX = δWᵀ except the first layer) divided by the measured throughput of the same dtype; "
            "'× bound' is the time as a multiple of it. 'vs numnet' is the time divided by numnet's of the same "
            "dtype. *Matrix products alone*: the same products at the config's real shapes (batch × layer sizes), "
            "timed with nothing else running, which shows how far this BLAS falls from its large-matrix "
            "throughput on small products.", ""]
    for key, c in res["configs"].items():
        L += [f"### Config {key}: {c['title']}", "",
              f"Matrix products per epoch: {c['gflop']:.2f} GFLOP; lower bound "
              + ", ".join(f"{d} {fmt_s(b)} s" for d, b in c["bound"].items()), ""]
        rows = []
        for r in c["rows"]:
            rows.append((r["framework"], r["dtype"], fmt_s(r.get("s_per_epoch")), r.get("vs_numnet", "-"),
                         r.get("x_bound", "-"), r.get("note", "")))
        for d, p in c.get("products", {}).items():
            rows.append(("*matrix products alone, same shapes*", d, fmt_s(p), "-", f"{p / c['bound'][d]:.1f}×",
                         "floor for any framework on this BLAS"))
        L += [format_table(rows, ["framework", "dtype", "s/epoch", "vs numnet", "× bound", "note"]), ""]
        if c.get("fit_overhead"):
            L += ["numnet `fit` per-call overhead (wall time of the call minus its epoch time, median): "
                  + ", ".join(f"{d} {v:.3f} s" for d, v in c["fit_overhead"].items()), ""]
    if res.get("speedup"):
        L += ["## numnet vs the per-example algorithm (config A, batch 10)", ""]
        for d, s in res["speedup"].items():
            L.append(f"- {d}: numnet is **{s:.1f}×** faster than the book's per-example algorithm "
                     f"(target >= 8×: {'met' if s >= 8 else 'NOT met'})")
        L.append("")
    if res.get("target"):
        t = res["target"]
        L += [f"## Time to {100 * t['accuracy']:.1f}% test accuracy", "",
              f"Recipe: {TARGET_RECIPE['sizes']} ReLU + softmax log-likelihood, He init (same initial weights in "
              f"both), Adam α={TARGET_RECIPE['lr']:g}, batch {TARGET_RECIPE['batch_size']}, float32, trained on "
              f"{t['train_size']:,} images; after every epoch the 10,000 test images are evaluated; stop at "
              f">= {100 * t['accuracy']:.1f}% or after {t['max_epochs']} epochs. Wall time includes the per-epoch "
              "evaluation.", ""]
        L += [f"Each framework ran once per seed ({', '.join(str(s) for s in t['seeds'])}); a seed fixes the "
              "initial weights and the order of the mini-batches, both shared by the two frameworks (PyTorch is "
              "fed the permutations numnet's `fit` draws), so both run the same arithmetic and need the same "
              "number of epochs up to float32 rounding: the race compares speed. The median over seeds is the "
              "figure to compare.", ""]
        rows = []
        for name, runs in t["runs"].items():
            if runs is None:
                rows.append((name, "skipped", "-", "-", "-", "-"))
                continue
            reached = [r for r in runs if r["reached"]]
            med = f"{statistics.median(r['seconds'] for r in reached):.1f} s" if len(reached) == len(runs) else \
                f"reached in {len(reached)}/{len(runs)} runs"
            per_epoch = statistics.median(r["seconds"] / r["epochs"] for r in runs)
            rows.append((name, med, ", ".join(f"{r['seconds']:.1f} s" if r["reached"] else "not reached" for r in runs),
                         ", ".join(str(r["epochs"]) for r in runs), f"{per_epoch:.2f} s",
                         ", ".join(f"{100 * r['accuracy']:.2f}%" for r in runs)))
        L += [format_table(rows, ["framework", "median time to target", "time per seed", "epochs per seed",
                                  "s/epoch (median)", "final test accuracy per seed"]), ""]
    L += targets_section(res)
    if res["notes"]:
        L += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    L += ["## Rerun", "", "```", command, "```", ""]
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", help="which configs to time, e.g. A,C (default A,B,C; B,C,D,E with --device cuda)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: numnet on CuPy, PyTorch CUDA eager and a minimal CuPy loop, and the race on the GPU "
                        "(needs CuPy and a GPU: pip install \"numnet[gpu]\")")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per measurement (median reported)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2,000 training images, 1 repeat, small matmul, short target run")
    p.add_argument("--out", metavar="PATH", help="also write the markdown report here (e.g. BENCHMARKS.md)")
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    p.add_argument("--train-size", type=int, default=EPOCH, help=f"training images timed (default {EPOCH:,})")
    p.add_argument("--reference-examples", type=int, default=5000,
                   help="examples the per-example reference is timed on (extrapolated to an epoch)")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--target", type=float, default=0.98, help="test accuracy for the time-to-accuracy race")
    p.add_argument("--max-epochs", type=int, default=30, help="give up the race after this many epochs")
    p.add_argument("--no-target", action="store_true", help="skip the time-to-accuracy race")
    p.add_argument("--race-seeds", type=int, default=5, help="seeds for the time-to-accuracy race (median reported)")
    p.add_argument("--no-float64", action="store_true", help="time numnet in float32 only")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--from-json", metavar="PATH", help="time nothing: rewrite the report from a --json file of an "
                                                       "earlier run (its own command's settings)")
    p.add_argument("--threads", metavar="LIST", help="thread scaling: e.g. 1,2,4,8,16; each count runs this script "
                   "in a fresh process with the BLAS/OpenMP pools and PyTorch set to that many threads (numnet "
                   "float32 and PyTorch per config; no race, no scikit-learn) and the report tabulates them")
    p.add_argument("--rounds", type=int, default=3, help="--threads: rounds over every process (median reported)")
    p.add_argument("--kernels", action="store_true", help="--threads: also numnet with the fused optimizer "
                   "kernels of train/kernels.py (needs numba)")
    p.add_argument("--fused-sgd", action="store_true", help="also time numnet (float32) with FusedSGD: the "
                   "SGD step folded into the weight-gradient products (NumPy's own BLAS; same results within rounding)")
    p.add_argument("--torch-threads", type=int, help=argparse.SUPPRESS)  # set by --threads in each child
    args = p.parse_args(argv)
    if args.threads:
        try:
            args.threads = [int(t) for t in args.threads.split(",")]
        except ValueError:
            p.error("--threads takes comma-separated counts, e.g. 1,2,4")
        if not args.threads or min(args.threads) < 1:
            p.error("--threads counts must be positive")
    if args.quick:
        args.train_size = min(args.train_size, 2000)
        args.repeats = 1
        args.reference_examples = min(args.reference_examples, 500)
        args.matmul_size = min(args.matmul_size, 512)
        args.max_epochs = min(args.max_epochs, 1)
    if args.configs is None:
        args.configs = "B,C,D,E" if args.device == "cuda" else "A,B,C"
    args.configs = [c.strip().upper() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in args.configs if c not in CONFIGS]
    if bad:
        p.error(f"unknown config(s) {', '.join(bad)}; known: {', '.join(CONFIGS)}")
    for name in ("repeats", "train_size", "reference_examples", "matmul_size", "max_epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if not 0 < args.target <= 1:
        p.error("--target is a fraction in (0, 1], e.g. 0.98")
    return args


def rewrite(args, command) -> int:
    """--from-json: the report of a saved run, rendered again (under its own command and settings)."""
    try:
        res = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        saved_args = parse_args(shlex.split(res["command"])[2:])
        report = build_report(res, saved_args, res["command"], rewritten=(
            datetime.datetime.now().isoformat(timespec="seconds"), command))
    except (OSError, ValueError, KeyError, TypeError, SystemExit) as e:
        raise SystemExit(f"speed.py: error: cannot use --from-json file {args.from_json}: {e}") from None
    print(report)
    if args.out:
        write_text_atomic(Path(args.out), report)
        log(f"report written to {args.out}")
    return 0


def thread_scaling(args, command) -> int:
    """--threads: each framework in its own process per thread count, alternating, over --rounds rounds, SGD
    and Adam, with numnet's profile split (benchmarks/speed_threads.py)."""
    import speed_threads  # benchmarks/speed_threads.py

    argv = ["--threads", ",".join(map(str, args.threads)), "--configs", ",".join(args.configs), "--rounds",
            str(args.rounds), "--repeats", str(args.repeats), "--train-size", str(args.train_size), "--seed",
            str(args.seed)] + [f for f, on in (("--no-torch", args.no_torch), ("--fused-sgd", args.fused_sgd),
                                               ("--kernels", args.kernels)) if on]
    argv += ["--out", args.out] if args.out else []
    argv += ["--json", args.json] if args.json else []
    return speed_threads.main_parent(speed_threads.parse_args(argv), command)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--lenet" in argv:  # the LeNet-style conv config against PyTorch CPU: benchmarks/speed_conv.py
        sys.path.insert(0, str(HERE))
        import speed_conv

        return speed_conv.main([a for a in argv if a != "--lenet"])
    args = parse_args(argv)
    command = "python benchmarks/speed.py" + ("" if not (argv or sys.argv[1:]) else
                                              " " + shlex.join(argv if argv is not None else sys.argv[1:]))
    if args.from_json:
        return rewrite(args, command)
    if args.threads:
        return thread_scaling(args, command)
    if args.device == "cuda":
        import types

        import speed_gpu  # benchmarks/speed_gpu.py

        return speed_gpu.main(types.SimpleNamespace(**globals()), args, command)
    load = load_average()
    if load and load[0] > 0.5:
        log(f"warning: load average {load[0]} before the run: other processes compete for the cores and every "
            "timing will be slower (multi-threaded BLAS suffers most)")
    cores = usable_cores()
    torch = None
    notes = []
    if not args.no_torch:
        torch = import_torch(args.torch_threads or cores)
        if torch is None:
            print(f"torch not installed: {TORCH_HINT}", flush=True)
            notes.append(f"PyTorch rows skipped: torch not installed ({TORCH_HINT})")
    skv = None if args.no_sklearn else sklearn_version()
    if not args.no_sklearn and skv is None:
        print("scikit-learn not installed: pip install scikit-learn", flush=True)
        notes.append("scikit-learn rows skipped: not installed (pip install scikit-learn)")
    dtypes = ["float32"] if args.no_float64 else ["float32", "float64"]

    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "command": command,
           "machine": machine_info(torch, skv), "notes": notes, "configs": {}}
    res["machine"]["load_at_start"] = load

    log(f"matrix-product throughput ({args.matmul_size}x{args.matmul_size}) ...")
    gflops = {d: matmul_gflops(args.matmul_size, d) for d in ("float32", "float64")}
    res["matmul"] = {"n": args.matmul_size, "repeats": 5, "gflops": gflops}

    data = {}
    for d in dtypes:
        (X, y), _, test = load_mnist(dtype=d)
        data[d] = (X[:args.train_size], y[:args.train_size], test)
    n = len(data["float32"][0])
    scale = EPOCH / n
    res["train_size"], res["scale"] = n, scale
    res["reference_examples"] = min(args.reference_examples, n)

    def row(framework, dtype, times, bound, numnet_time=None, note=""):
        s = statistics.median(times) * scale
        r = {"framework": framework, "dtype": dtype, "s_per_epoch": s, "times": times,
             "x_bound": f"{s / bound:.1f}×", "note": note}
        if numnet_time:
            r["vs_numnet"] = f"{s / numnet_time:.2f}"
        return r

    for key in args.configs:
        cfg = CONFIGS[key]
        flops = epoch_flops(cfg["sizes"], EPOCH)
        bound = {d: flops / (gflops[d] * 1e9) for d in ("float32", "float64")}
        c = {"title": cfg["title"], "gflop": flops / 1e9, "bound": bound, "rows": [], "fit_overhead": {}}
        # every framework's epochs interleaved: one epoch of each in turn
        timers = {}
        for d in dtypes:
            X, y, _ = data[d]
            timers[("products", d)] = products_epochs(cfg, X, d)
            timers[("numnet", d)] = numnet_epochs(cfg, X, y, d, args.seed)
        if args.fused_sgd:
            timers[(FUSED, "float32")] = numnet_epochs(cfg, *data["float32"][:2], "float32", args.seed, fused=True)
        k = res["reference_examples"]
        if key == "A":
            for d in dtypes:
                X, y, _ = data[d]
                timers[("reference", d)] = reference_epochs(cfg, X, y, d, k, args.seed)
        X, y, _ = data["float32"]
        if torch is not None:
            timers[("torch", "float32")] = torch_epochs(torch, cfg, X, y, args.seed)
        if skv is not None:
            timers[("sklearn", None)] = sklearn_epochs(cfg, X, y, args.seed)
            sk_dtype = next(timers[("sklearn", None)])
        log(f"config {key}: {args.repeats} epochs each of " + ", ".join(
            f"{name} {d}" if d else name for name, d in timers) + ", interleaved ...")
        t = interleaved(timers, args.repeats)
        numnet_s = {}
        c["products"] = {d: statistics.median(t[("products", d)]) * scale for d in dtypes}
        for d in dtypes:
            epoch, wall = [e for e, _ in t[("numnet", d)]], [w for _, w in t[("numnet", d)]]
            r = row("numnet", d, epoch, bound[d])
            numnet_s[d] = r["s_per_epoch"]
            r["vs_numnet"] = "1.00"
            c["rows"].append(r)
            c["fit_overhead"][d] = statistics.median(w - e for w, e in zip(wall, epoch))
        if args.fused_sgd:
            epoch = [e for e, _ in t[(FUSED, "float32")]]
            c["rows"].append(row(FUSED, "float32", epoch, bound["float32"], numnet_s["float32"],
                                 note="FusedSGD: the step folded into the weight-gradient gemm"))
        if key == "A":
            for d in dtypes:
                c["rows"].append(row("per-example (book's algorithm)", d, [x * n / k for x in t[("reference", d)]],
                                     bound[d], numnet_s[d], note=f"timed on {k:,} examples, extrapolated"))
            res["speedup"] = {d: c["rows"][-len(dtypes) + i]["s_per_epoch"] / numnet_s[d]
                              for i, d in enumerate(dtypes)}
        if torch is not None:
            c["rows"].append(row(f"PyTorch {torch.__version__}", "float32", t[("torch", "float32")],
                                 bound["float32"], numnet_s["float32"], note=f"{torch.get_num_threads()} threads"))
        if skv is not None:
            note = "softmax + log-loss output (not quadratic)" if cfg["cost"] == "quadratic" else ""
            c["rows"].append(row(f"scikit-learn {skv}", sk_dtype, t[("sklearn", None)],
                                 bound.get(sk_dtype, bound["float64"]), numnet_s.get(sk_dtype), note=note))
        del timers
        res["configs"][key] = c

    if not args.no_target:
        X, y, test = data["float32"]
        seeds = [args.seed + i for i in range(args.race_seeds)]
        runs = {"numnet": []}
        torch_name = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch"
        runs[torch_name] = [] if torch is not None else None
        for seed in seeds:  # interleaved, so a slow spell of the machine hits both frameworks alike
            log(f"time to {100 * args.target:.1f}%: numnet, seed {seed} ...")
            runs["numnet"].append(numnet_time_to(args.target, (X, y), test, args.max_epochs, seed))
            if torch is not None:
                log(f"time to {100 * args.target:.1f}%: PyTorch, seed {seed} ...")
                runs[torch_name].append(torch_time_to(torch, args.target, (X, y), test, args.max_epochs, seed))
        res["target"] = {"accuracy": args.target, "max_epochs": args.max_epochs, "train_size": n, "runs": runs,
                         "seeds": seeds}

    res["machine"]["blas"] = blas_info()  # again: torch may have loaded its own thread pools by now
    report = build_report(res, args, command)
    print(report)
    if args.out:
        write_text_atomic(Path(args.out), report)
        log(f"report written to {args.out}")
    if args.json:
        write_text_atomic(Path(args.json), json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
