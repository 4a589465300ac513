"""Thread scaling with each framework in its own process (`speed.py --threads 1,2,4 ...` runs this).

    python benchmarks/speed.py --threads 1,2,4,8,16 --configs C,D --rounds 3 --out T.md --json T.json
    python benchmarks/speed_threads.py --threads 1,2 --configs C --rounds 3        # the same, directly

For every round, thread count, config and optimizer (SGD and Adam), one fresh process times numnet and then
another PyTorch, alternating, so both thread pools never live in one process (PyTorch's pool slowed numnet's
neighbour epochs and the other way round when they shared one) and a slow spell of a shared machine hits both.
Each process sets its pools to the thread count (the usual environment variables, PyTorch's set_num_threads),
times --repeats epochs after a warm-up and reports their median. numnet's processes also split the epoch:
`products` (the matrix products alone, at the config's shapes), `update` (the optimizer's steps alone, an epoch's
worth) and the rest (activations, softmax and cost, bias sums, the gather of each batch). --kernels adds numnet
with the fused optimizer kernels of train/kernels.py (Numba). The table reports the median over --rounds.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import speed  # noqa: E402  (benchmarks/speed.py: configs, machine info, products, PyTorch model)

OPTIMIZERS = ("sgd", "adam")
FRAMEWORKS = ("numnet", "torch")
KERNELS = "numnet+kernels"  # numnet with train/kernels.py's fused updates (--kernels)
FUSED = "numnet+fused"      # numnet with FusedSGD (--fused-sgd; SGD rows only)


# ---------------------------------------------------------------------------------------------- children
def kernel_optimizer(name, lr):
    """numnet's optimizer whose `_update` is train/kernels.py's fused kernel (the hook the engine will take)."""
    from numnet import SGD, Adam
    from numnet.train import kernels

    if name == "adam":
        class KernelAdam(Adam):
            def _update(self, p, g, slot, d):
                slot["t"] += 1
                kernels.adam_update(p, g, slot["V"], slot["S"], self.lr, self.beta1, self.beta2, self.eps, slot["t"],
                                    scratch=d)
        return KernelAdam(lr)

    class KernelSGD(SGD):
        def _update(self, p, g, slot, d):
            kernels.sgd_update(p, g, self.lr, scratch=d)
    return KernelSGD(lr)


def numnet_optimizer(variant, name, lr):
    from numnet import SGD, Adam, FusedSGD

    if variant == KERNELS:
        return kernel_optimizer(name, lr)
    if variant == FUSED:
        return FusedSGD(lr)
    return Adam(lr) if name == "adam" else SGD(lr)


def rate(cfg, name):
    return cfg["lr"] if name == "sgd" else 1e-3


def update_seconds(net, opt, n_batches):
    """An epoch's worth of optimizer steps alone (random gradients of the parameters' shapes)."""
    params = [layer.params[k] for layer in net.layers for k in layer.params]
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(p.shape).astype(p.dtype) * 1e-3 for p in params]
    opt.step(params, grads)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        opt.step(params, grads)
    return time.perf_counter() - t0


def child_numnet(cfg, X, y, args, variant):
    net = speed.make_numnet(cfg, "float32", args.seed)
    opt = numnet_optimizer(variant, args.optimizer, rate(cfg, args.optimizer))
    epochs = []
    for i in range(args.repeats + 1):
        h = net.fit(X, y, epochs=1, batch_size=cfg["batch_size"], optimizer=opt, seed=args.seed + i, verbose=0)
        if i:
            epochs.append(h.epoch_time[-1])
    out = {"seconds": epochs}
    if variant != FUSED:
        products = speed.products_epochs(cfg, X, "float32")
        out["products"] = statistics.median(next(products) for _ in range(args.repeats))
        n_batches = -(-len(X) // cfg["batch_size"])
        probe = speed.make_numnet(cfg, "float32", args.seed)
        out["update"] = statistics.median(update_seconds(probe, numnet_optimizer(variant, args.optimizer, 1e-3),
                                                         n_batches) for _ in range(args.repeats))
    return out


def child_torch(cfg, X, y, args):
    import torch

    torch.set_num_threads(args.child_threads)
    net = speed.make_numnet(cfg, "float32", args.seed)
    model = speed.torch_model(torch, cfg, net)
    lr = rate(cfg, args.optimizer)
    opt = (torch.optim.Adam if args.optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    Yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    gen = torch.Generator().manual_seed(args.seed)
    loss_fn = speed.torch_loss(torch, cfg)
    epochs = []
    for i in range(args.repeats + 1):
        t0 = time.perf_counter()
        speed.torch_epoch(torch, model, opt, loss_fn, Xt, Yt, cfg["batch_size"], gen)
        if i:
            epochs.append(time.perf_counter() - t0)
    return {"seconds": epochs, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def child(args) -> int:
    from numnet.data import load_mnist

    cfg = speed.CONFIGS[args.configs[0]]
    (X, y), _, _ = load_mnist(dtype="float32")
    X, y = X[:args.train_size], y[:args.train_size]
    if args.child == "torch":
        out = child_torch(cfg, X, y, args)
    else:
        out = child_numnet(cfg, X, y, args, args.child)
    scale = speed.EPOCH / len(X)
    out = {k: ([s * scale for s in v] if k == "seconds" else v * scale if k in ("products", "update") else v)
           for k, v in out.items()}
    out["env"] = {v: os.environ.get(v, "unset") for v in speed.THREAD_VARS}
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------------------------------------- parent
def has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def plan(args):
    """(round, threads, config, optimizer, framework) in the order they run: frameworks alternate innermost."""
    frameworks = ["numnet"] + ([KERNELS] if args.kernels else []) + ([] if args.no_torch else ["torch"])
    for r in range(args.rounds):
        for t in args.threads:
            for key in args.configs:
                for name in OPTIMIZERS:
                    for fw in frameworks + ([FUSED] if args.fused_sgd and name == "sgd" else []):
                        yield r, t, key, name, fw


def run_child(args, t, key, name, fw):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", fw, "--configs", key, "--optimizer", name,
           "--repeats", str(args.repeats), "--train-size", str(args.train_size), "--seed", str(args.seed),
           "--child-threads", str(t)]
    env = {**os.environ, **{v: str(t) for v in speed.THREAD_VARS}, "NUMBA_NUM_THREADS": str(t)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"speed_threads.py: error: the {fw} process ({t} threads, {key}, {name}) failed:\n"
                         f"{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(runs, args):
    """Rows (threads, config, optimizer, framework, s/epoch, ÷ PyTorch, products, update, rest): medians
    over rounds of each process's median epoch."""
    groups = {}
    for r in runs:
        groups.setdefault((r["threads"], r["config"], r["optimizer"], r["framework"]), []).append(r)

    def med(rs, key):
        vals = [statistics.median(x[key]) if key == "seconds" else x[key] for x in rs if key in x]
        return statistics.median(vals) if vals else None

    rows = []
    for (t, key, name, fw), rs in groups.items():
        s = med(rs, "seconds")
        torch_s = med(groups.get((t, key, name, "torch"), []), "seconds")
        prod, upd = med(rs, "products"), med(rs, "update")
        rest = None if prod is None or upd is None else s - prod - upd

        def f(x):
            return "-" if x is None else f"{x:.3f}"
        rows.append((t, key, name, fw, f(s), "-" if torch_s is None or fw == "torch" else f"{s / torch_s:.2f}",
                     f(prod), f(upd), f(rest)))
    return rows


def report(res, args, command) -> str:
    from numnet.utils.tables import format_table

    m = res["machine"]
    L = [f"# Thread scaling, each framework in its own process (seconds per {speed.EPOCH:,}-image epoch)", "",
         f"Run {res['date']} with `{command}`; {args.rounds} round(s), {args.repeats} timed epochs per process on "
         f"{args.train_size:,} images (scaled). Machine: {m['cpu']}, {m['usable_cores']} usable cores; load before "
         f"the run {m.get('load_at_start')}; Python {m['python']}, NumPy {m['numpy']}, PyTorch "
         f"{res.get('torch') or 'not installed'}.", "",
         "Each figure: the median over rounds of one process's median epoch. numnet's split: products = the "
         "matrix products alone at these shapes; update = the optimizer's steps alone; rest = the epoch minus "
         "both (activations, softmax and cost, bias sums, batch gathers). ÷ PyTorch below 1: numnet faster. "
         f"{KERNELS}: numnet with the fused optimizer kernels (train/kernels.py, Numba); {FUSED}: FusedSGD.", "",
         format_table(res["table"], ["threads", "config", "optimizer", "framework", "s/epoch", "÷ PyTorch",
                                     "products", "update", "rest"]), "",
         "Configs: " + "; ".join(f"{k} {speed.CONFIGS[k]['title']}" for k in args.configs) + ".", ""]
    return "\n".join(L)


def main_parent(args, command) -> int:
    from numnet.utils.files import write_text_atomic

    if not args.no_torch and not has_torch():
        print(f"torch not installed ({speed.TORCH_HINT}): numnet only", file=sys.stderr)
        args.no_torch = True
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "command": command,
           "machine": speed.machine_info(None, None), "runs": []}
    res["machine"]["load_at_start"] = speed.load_average()
    for r, t, key, name, fw in plan(args):
        speed.log(f"round {r + 1}/{args.rounds}: {fw}, {t} thread(s), config {key}, {name} ...")
        out = run_child(args, t, key, name, fw)
        res["runs"].append({"round": r, "threads": t, "config": key, "optimizer": name, "framework": fw, **out})
        res["torch"] = out.get("torch", res.get("torch"))
        res["table"] = table(res["runs"], args)
        if args.json:  # partial results as they come, so a run cut short keeps what it measured
            write_text_atomic(Path(args.json), json.dumps(res, indent=1, default=str))
    text = report(res, args, command)
    print(text)
    if args.out:
        write_text_atomic(Path(args.out), text)
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--configs", default="B,C")
    p.add_argument("--rounds", type=int, default=3, help="rounds over every process (median reported)")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per process (median)")
    p.add_argument("--train-size", type=int, default=speed.EPOCH)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--kernels", action="store_true", help="also numnet with the fused optimizer kernels (Numba)")
    p.add_argument("--fused-sgd", action="store_true", help="also numnet with FusedSGD (SGD rows)")
    p.add_argument("--out", metavar="PATH")
    p.add_argument("--json", metavar="PATH", help="raw results, rewritten after every process")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS, help=argparse.SUPPRESS)
    p.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        args.threads = [int(t) for t in str(args.threads).split(",")]
    except ValueError:
        p.error("--threads takes comma-separated counts, e.g. 1,2,4")
    if min(args.threads) < 1:
        p.error("--threads counts must be positive")
    args.configs = [c.strip().upper() for c in str(args.configs).split(",") if c.strip()]
    if not args.configs or any(c not in speed.CONFIGS for c in args.configs):
        p.error(f"--configs: known configs are {', '.join(speed.CONFIGS)}")
    for name in ("rounds", "repeats", "train_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    import shlex

    command = "python benchmarks/speed_threads.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    return main_parent(args, command)


if __name__ == "__main__":
    sys.exit(main())
