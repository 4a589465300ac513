"""A LeNet-style convolutional network, numnet against PyTorch CPU, at given thread counts; and the peak memory of
a numnet conv epoch at batch 64.

    python benchmarks/speed_conv.py                          # 1 and 2 threads, 50,000 images, 2 timed epochs
    python benchmarks/speed_conv.py --train-size 6400 --repeats 3 --threads 1,2 --out CONV.md
    python benchmarks/speed.py --lenet ...                   # the same, from the main speed script

The network (issue 21): conv 20 5×5 → 2×2 max-pool → conv 40 5×5 → 2×2 max-pool → 100 → 10, ReLU, softmax +
log-likelihood, SGD η = 0.05, batch 64, float32; PyTorch gets the same initial weights (torch.nn.Conv2d,
MaxPool2d, Linear; CrossEntropyLoss). Each thread count runs in its own process (BLAS and PyTorch threads are
fixed at start-up); within it the two frameworks' epochs are interleaved, one of each in turn, and the median
of --repeats timed epochs after an untimed warm-up is reported, extrapolated to 50,000 images when
--train-size is smaller. Memory: a separate process trains one numnet epoch and reports its peak resident
size (the loaded MNIST included) and the peak of NumPy allocations during the epoch (tracemalloc).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

EPOCH = 50_000
LAYERS = "conv 20 5, pool 2, conv 40 5, pool 2, dense 100, dense 10"
BATCH, LR = 64, 0.05


def data(n):
    import numnet

    (X, y), _, _ = numnet.load_mnist(validation_size=10000)
    return X[:n], y[:n]


def numnet_net(seed):
    from numnet import Network

    return Network.from_layers(LAYERS, (1, 28, 28), activation="relu", seed=seed)


def torch_twin(torch, net):
    """The same network in PyTorch, with numnet's initial weights (Dense W is (in, out): transposed)."""
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 40, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(640, 100), nn.ReLU(), nn.Linear(100, 10))
    ours = [layer for layer in net.layers if layer.params]
    theirs = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            W = a.params["W"]
            b.weight.copy_(torch.from_numpy(W if W.ndim == 4 else W.T.copy()))
            b.bias.copy_(torch.from_numpy(a.params["b"]))
    return model


def child(args) -> dict:
    """Interleaved epochs of numnet and PyTorch in this process (threads fixed by the parent's environment)."""
    import numpy as np
    import torch

    from numnet import SGD

    torch.set_num_threads(args.child)
    X, y = data(args.train_size)
    net = numnet_net(args.seed)
    model = torch_twin(torch, net)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(X.reshape(-1, 1, 28, 28).copy())
    yt = torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(args.seed)
    sgd = SGD(LR)

    def ours():
        net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=sgd, seed=args.seed, verbose=0)

    def theirs():
        perm = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()

    times = {"numnet": [], "torch": []}
    for r in range(args.repeats + 1):
        for name, f in (("numnet", ours), ("torch", theirs)):
            t = time.perf_counter()
            f()
            if r:
                times[name].append(time.perf_counter() - t)
    scale = EPOCH / len(X)
    return {"threads": args.child, "train_size": len(X), "torch": torch.__version__,
            **{k: statistics.median(v) * scale for k, v in times.items()}, "raw": times}


def memory(args) -> dict:
    """Peak memory of one numnet epoch at batch 64: resident (with the data) and NumPy's traced allocations."""
    import resource
    import tracemalloc

    from numnet import SGD

    X, y = data(args.train_size)
    net = numnet_net(args.seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=SGD(LR), seed=args.seed, verbose=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"train_size": len(X), "rss_before_mb": before,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "traced_peak_mb": peak / 2**20}


def spawn(flag, value, args) -> dict:
    env = {**os.environ, **{k: str(value if flag == "--child" else 1) for k in
                            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    cmd = [sys.executable, __file__, flag, str(value), "--train-size", str(args.train_size), "--repeats",
           str(args.repeats), "--seed", str(args.seed)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(rows, mem, args) -> str:
    lines = ["## LeNet-style convolutional network: numnet vs PyTorch CPU", "",
             f"`{LAYERS}`, ReLU, batch {BATCH}, SGD η={LR}, float32; seconds per 50,000-image epoch (median of "
             f"{args.repeats} interleaved epochs on {rows[0]['train_size']:,} images, extrapolated)"
             + (f"; load average {os.getloadavg()[0]:.1f} at the end (a shared machine)" if hasattr(os, "getloadavg")
                else ""), "",
             "| threads | numnet | PyTorch | numnet / PyTorch |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['threads']} | {r['numnet']:.1f} s | {r['torch']:.1f} s | {r['numnet'] / r['torch']:.2f}× |")
    if mem:
        lines += ["", f"Peak memory of a numnet epoch at batch 64 ({mem['train_size']:,} images): resident "
                      f"{mem['rss_peak_mb']:.0f} MB (of which {mem['rss_before_mb']:.0f} MB before training: "
                      f"interpreter, NumPy, MNIST), NumPy allocations during the epoch {mem['traced_peak_mb']:.0f} MB."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--train-size", type=int, default=EPOCH, help="images per timed epoch (default 50,000)")
    p.add_argument("--repeats", type=int, default=2, help="timed epochs per framework (median reported)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--out", help="also write the markdown report here")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--memory", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    if args.memory:
        print(json.dumps(memory(args)))
        return 0
    rows = [spawn("--child", int(t), args) for t in args.threads.split(",") if t.strip()]
    mem = None if args.no_memory else spawn("--memory", 1, args)
    text = report(rows, mem, args)
    print(text)
    if args.out:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
        from numnet.utils.files import write_text_atomic

        write_text_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
