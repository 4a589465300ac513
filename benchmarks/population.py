"""Populations (issue 20): trials per hour of K networks trained at once against K one-at-a-time runs, and against
PyTorch's `torch.func.vmap` population of the same networks (when torch is installed; numnet never imports it).

A trial is one epoch over 50,000 MNIST images; each measurement trains one epoch on --train-size images (the
time scaled to 50,000) and is the best of --repeats, single runs and populations interleaved (the machine may
be shared). Every member has its own learning rate, log-uniform in [0.01, 1] (population: SGD with K rates; the
one-at-a-time baseline: one network of the same architecture, timed alone, × K). Configurations: Nielsen's
[784, 30, 10] sigmoid + cross-entropy at batch 10, and [784, 100, 10] ReLU + softmax at batch 128.

    python benchmarks/population.py --ks 1,8,32,128 [--device cuda] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

CONFIGS = {"A": dict(sizes=[784, 30, 10], activation="sigmoid", cost="cross_entropy", batch_size=10),
           "B": dict(sizes=[784, 100, 10], activation="relu", cost="log_likelihood", batch_size=128)}
EPOCH = 50_000


def rates(k, seed=0):
    return np.exp(np.random.default_rng(seed).uniform(np.log(0.01), np.log(1.0), k))


def numnet_time(cfg, k, X, y, device, optimizer="sgd"):
    """Seconds for one epoch of a numnet population of k (k = 0: one plain Network)."""
    from numnet import Network, Population
    from numnet.train.optimizers import make_optimizer

    build = dict(sizes=cfg["sizes"], activation=cfg["activation"], cost=cfg["cost"])
    model = Network.from_sizes(seed=0, **build) if k == 0 else Population.from_sizes(k=k, **build)
    model.to(device)
    opt = make_optimizer(optimizer, lr=0.1 if k == 0 else list(rates(k)))
    t = time.perf_counter()
    model.fit(X, y, epochs=1, batch_size=cfg["batch_size"], optimizer=opt, seed=0)
    if device != "cpu":
        import cupy

        cupy.cuda.Device().synchronize()
    return time.perf_counter() - t


def torch_time(cfg, k, X, y, device):
    """Seconds for one epoch of a torch.func.vmap population of k (the same networks, batches and SGD)."""
    import torch
    from torch.func import grad, vmap

    dev = "cuda" if device == "cuda" else "cpu"
    sizes = cfg["sizes"]
    g = torch.Generator().manual_seed(0)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [torch.randn(k, a, b, generator=g) / a ** 0.5, torch.zeros(k, b)]
    params = [p.to(dev) for p in params]
    lr = torch.tensor(rates(k), dtype=torch.float32, device=dev)
    act = torch.sigmoid if cfg["activation"] == "sigmoid" else torch.relu
    sigmoid_out = cfg["cost"] == "cross_entropy"

    def loss(ps, xb, yb):
        a = xb
        for i in range(0, len(ps) - 2, 2):
            a = act(a @ ps[i] + ps[i + 1])
        z = a @ ps[-2] + ps[-1]
        if sigmoid_out:
            return torch.nn.functional.binary_cross_entropy_with_logits(z, yb, reduction="sum") / len(xb)
        return torch.nn.functional.cross_entropy(z, yb.argmax(dim=1))

    step = vmap(grad(loss), in_dims=(0, None, None))
    Xt = torch.tensor(X, device=dev)
    Yt = torch.nn.functional.one_hot(torch.tensor(y, device=dev), 10).float()
    order = torch.tensor(np.random.default_rng(0).permutation(len(X)), device=dev)
    bs = cfg["batch_size"]
    t = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(X), bs):
            idx = order[s:s + bs]
            grads = step(params, Xt[idx], Yt[idx])
            for p, gp in zip(params, grads):
                p -= lr.view((-1,) + (1,) * (p.dim() - 1)) * gp
    if dev == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ks", default="1,8,32,128")
    p.add_argument("--configs", default="A,B")
    p.add_argument("--train-size", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "fused_sgd"],
                   help="numnet's optimizer, the same for single runs and populations")
    p.add_argument("--json")
    args = p.parse_args(argv)
    import numnet

    (X, y), _, _ = numnet.load_mnist()
    X, y = X[:args.train_size], y[:args.train_size]
    scale = EPOCH / len(X)
    try:
        if args.no_torch:
            raise ImportError
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    rows = []
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        for k in map(int, args.ks.split(",")):
            best = {"single": np.inf, "population": np.inf, "torch": np.inf}
            for _ in range(args.repeats):  # interleaved, best of: the machine may be shared
                best["single"] = min(best["single"], numnet_time(cfg, 0, X, y, args.device, args.optimizer))
                best["population"] = min(best["population"], numnet_time(cfg, k, X, y, args.device, args.optimizer))
                if torch_version:
                    best["torch"] = min(best["torch"], torch_time(cfg, k, X, y, args.device))
            row = {"config": name, **{k2: v for k2, v in cfg.items()}, "k": k,
                   "single_epoch_s": best["single"] * scale, "population_epoch_s": best["population"] * scale,
                   "torch_epoch_s": best["torch"] * scale if torch_version else None}
            row["trials_per_hour_one_at_a_time"] = 3600 / row["single_epoch_s"]
            row["trials_per_hour_population"] = k * 3600 / row["population_epoch_s"]
            row["trials_per_hour_torch_vmap"] = k * 3600 / row["torch_epoch_s"] if torch_version else None
            row["speedup"] = row["trials_per_hour_population"] / row["trials_per_hour_one_at_a_time"]
            rows.append(row)
            print(f"{name} {cfg['sizes']} batch {cfg['batch_size']} K={k:4d}: one at a time "
                  f"{row['trials_per_hour_one_at_a_time']:8.0f}/h, population {row['trials_per_hour_population']:8.0f}"
                  f"/h ({row['speedup']:.1f}x)" + (f", torch vmap {row['trials_per_hour_torch_vmap']:8.0f}/h"
                                                    if torch_version else ""), flush=True)
    for name in {r["config"] for r in rows}:  # the baseline: the fastest single run of the whole benchmark
        same = [r for r in rows if r["config"] == name]
        fastest = min(r["single_epoch_s"] for r in same)
        for r in same:
            r["trials_per_hour_one_at_a_time_best"] = 3600 / fastest
            r["speedup_vs_best_single"] = r["trials_per_hour_population"] / (3600 / fastest)
            print(f"{name} K={r['k']:4d}: {r['speedup_vs_best_single']:.1f}x the fastest single run "
                  f"({3600 / fastest:.0f}/h)")
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}", "device": args.device,
            "python": sys.version.split()[0], "numpy": np.__version__, "numnet": numnet.__version__,
            "torch": torch_version, "optimizer": args.optimizer, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "load_average": os.getloadavg(), "train_size": len(X), "repeats": args.repeats,
            "command": "python benchmarks/population.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
