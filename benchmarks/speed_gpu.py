"""`python benchmarks/speed.py --device cuda`: training speed on a CUDA GPU (see speed.py for the CPU report).

Per config (B, C, D and E = [784,4096,4096,4096,10] batch 1024 by default), seconds per epoch of 50,000 images,
the median of --repeats epochs after a warm-up, interleaved: numnet on CuPy (`Network.to("cuda")`), PyTorch CUDA
eager (the same weights and batches' math) and a minimal CuPy loop (below: the same math as numnet in ~40 lines,
the floor for a CuPy framework). PyTorch's and the loop's epochs are interleaved; numnet's are timed in one fit
right after (so its data moves to the GPU once). The device is synchronised before every clock read. Then the time to the
--target test accuracy with speed.py's race recipe, numnet and PyTorch, both on the GPU.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from numnet import Adam, SGD
from numnet.data import load_mnist, one_hot
from numnet.utils.backend import DeviceError, require_device
from numnet.utils.tables import format_table


def require_cuda():
    """CuPy's module when CuPy sees a GPU; else a one-line exit naming what is missing."""
    try:
        return require_device("cuda").module
    except DeviceError as e:
        raise SystemExit(f"speed.py: error: {e}") from None


def numnet_gpu_epochs(speed, cp, cfg, X, y, seed):
    """numnet on the GPU: the data moved once (one fit per epoch would move it each time, so the whole
    timed run is one fit and epochs are read from a callback); yields seconds per epoch."""
    from numnet import LambdaCallback

    net = speed.make_numnet(cfg, "float32", seed).to("cuda")
    times, last = [], [0.0]

    def tick(trainer, epoch, logs):
        cp.cuda.Device().synchronize()
        now = time.perf_counter()
        if epoch > 1:  # epoch 1 is the warm-up
            times.append(now - last[0])
        last[0] = now

    def begin(trainer, epoch):
        if epoch == 1:
            cp.cuda.Device().synchronize()
            last[0] = time.perf_counter()

    return net, LambdaCallback(on_epoch_begin=begin, on_epoch_end=tick), times


def cupy_loop(cp, Ws, bs, X, Y, lr, batch_size, n):
    """One epoch of plain SGD on ReLU hidden layers and a softmax + log-likelihood output, in place."""
    order = cp.random.permutation(n)
    last = len(Ws) - 1
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        a, acts = X[idx], []
        for i, (W, b) in enumerate(zip(Ws, bs)):
            acts.append(a)
            z = a @ W + b
            a = cp.maximum(z, 0) if i < last else z
        e = cp.exp(a - a.max(axis=1, keepdims=True))
        delta = (e / e.sum(axis=1, keepdims=True) - Y[idx]) * (1.0 / len(idx))
        for i in range(last, -1, -1):
            gW, gb = acts[i].T @ delta, delta.sum(axis=0)
            if i:
                delta = (delta @ Ws[i].T) * (acts[i] > 0)
            Ws[i] -= lr * gW
            bs[i] -= lr * gb


def cupy_epochs(speed, cp, cfg, X, y, seed):
    """The minimal CuPy loop from numnet's initial weights, after a warm-up epoch; yields seconds per epoch."""
    net = speed.make_numnet(cfg, "float32", seed)
    dense = [layer for layer in net.layers if layer.params]
    Ws, bs = [cp.asarray(layer.W) for layer in dense], [cp.asarray(layer.b) for layer in dense]
    Xd, Yd = cp.asarray(X), cp.asarray(one_hot(y, cfg["sizes"][-1], dtype="float32"))
    cp.random.seed(seed)
    while True:
        t0 = time.perf_counter()
        cupy_loop(cp, Ws, bs, Xd, Yd, cfg["lr"], cfg["batch_size"], len(X))
        cp.cuda.Device().synchronize()
        yield time.perf_counter() - t0


def torch_cuda_epoch(torch, model, opt, loss_fn, Xt, Yt, batch_size):
    """One epoch on the GPU: a permutation drawn there, one gather, then slices."""
    perm = torch.randperm(len(Xt), device=Xt.device)
    Xs, Ys = Xt[perm], Yt[perm]
    for s in range(0, len(Xs), batch_size):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(Xs[s:s + batch_size]), Ys[s:s + batch_size]).backward()
        opt.step()


def torch_cuda_epochs(speed, torch, cfg, X, y, seed):
    """PyTorch CUDA eager from numnet's initial weights, after a warm-up epoch; yields seconds per epoch."""
    model = speed.torch_model(torch, cfg, speed.make_numnet(cfg, "float32", seed)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    loss_fn = speed.torch_loss(torch, cfg)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).cuda()
    Yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).cuda()
    torch.manual_seed(seed)
    while True:
        t0 = time.perf_counter()
        torch_cuda_epoch(torch, model, opt, loss_fn, Xt, Yt, cfg["batch_size"])
        torch.cuda.synchronize()
        yield time.perf_counter() - t0


def numnet_time_to(speed, target, train, test, max_epochs, seed):
    """speed.py's race recipe with numnet on the GPU (the data moved once, accuracy measured there)."""
    recipe = speed.TARGET_RECIPE
    net = speed.make_numnet(recipe, "float32", seed).to("cuda")
    t0 = time.perf_counter()
    h = net.fit(*train, epochs=max_epochs, batch_size=recipe["batch_size"], optimizer=Adam(recipe["lr"]),
                validation_data=test, seed=seed, verbose=0,
                on_epoch_end=lambda epoch, hist: hist.val_accuracy[-1] >= target)
    seconds = time.perf_counter() - t0
    return {"reached": h.val_accuracy[-1] >= target, "epochs": len(h), "seconds": seconds,
            "accuracy": h.val_accuracy[-1]}


def torch_time_to(speed, torch, target, train, test, max_epochs, seed):
    recipe = speed.TARGET_RECIPE
    model = speed.torch_model(torch, recipe, speed.make_numnet(recipe, "float32", seed)).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    loss_fn = speed.torch_loss(torch, recipe)
    Xt, Yt, Xs, ys = (torch.from_numpy(np.ascontiguousarray(a)).cuda() for a in
                      (train[0], train[1].astype(np.int64), test[0], test[1].astype(np.int64)))
    torch.manual_seed(seed)
    t0, acc, epochs = time.perf_counter(), 0.0, 0
    while epochs < max_epochs and acc < target:
        model.train()
        torch_cuda_epoch(torch, model, opt, loss_fn, Xt, Yt, recipe["batch_size"])
        model.eval()
        with torch.no_grad():
            acc = float((model(Xs).argmax(dim=1) == ys).float().mean())
        epochs += 1
    return {"reached": acc >= target, "epochs": epochs, "seconds": time.perf_counter() - t0, "accuracy": acc}


def main(speed, args, command) -> int:
    cp = require_cuda()
    torch = None if args.no_torch else speed.import_torch(args.torch_threads or speed.usable_cores())
    if torch is not None and not torch.cuda.is_available():
        torch = None
    (X, y), _, test = load_mnist(dtype="float32")
    X, y = X[:args.train_size], y[:args.train_size]
    scale = speed.EPOCH / len(X)
    rows = []
    for key in args.configs:
        cfg = speed.CONFIGS[key]
        net, clock, numnet_times = numnet_gpu_epochs(speed, cp, cfg, X, y, args.seed)
        timers = {"cupy": cupy_epochs(speed, cp, cfg, X, y, args.seed)}
        if torch is not None:
            timers["torch"] = torch_cuda_epochs(speed, torch, cfg, X, y, args.seed)
        for epochs in timers.values():
            next(epochs)  # warm-up
        speed.log(f"config {key} on the GPU ...")
        t = speed.interleaved(timers, args.repeats)
        net.fit(X, y, epochs=args.repeats + 1, batch_size=cfg["batch_size"], optimizer=SGD(cfg["lr"]),
                seed=args.seed, verbose=0, callbacks=[clock])
        med = {name: statistics.median(v) * scale for name, v in {**t, "numnet": numnet_times}.items()}
        tr = med.get("torch")
        rows.append((key, f"{med['numnet']:.3f}", "-" if tr is None else f"{tr:.3f}", f"{med['cupy']:.3f}",
                     "-" if tr is None else f"{med['numnet'] / tr:.2f}"))
    L = [f"# GPU: seconds per epoch ({speed.EPOCH:,} images)", "", f"`{command}` on "
         f"{cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CuPy {cp.__version__}"
         + ("" if torch is None else f", PyTorch {torch.__version__}") + ".", "",
         format_table(rows, ["config", "numnet (CuPy)", "PyTorch CUDA eager", "minimal CuPy loop",
                             "numnet ÷ PyTorch"]), ""]
    if not args.no_target:
        runs = [("numnet (CuPy)", numnet_time_to(speed, args.target, (X, y), test, args.max_epochs, args.seed))]
        if torch is not None:
            runs.append(("PyTorch CUDA", torch_time_to(speed, torch, args.target, (X, y), test, args.max_epochs,
                                                       args.seed)))
        L += [f"Time to {100 * args.target:.1f}% test accuracy ({speed.TARGET_RECIPE['sizes']}, Adam, batch "
              f"{speed.TARGET_RECIPE['batch_size']}, seed {args.seed}):", "",
              format_table([(name, f"{r['seconds']:.1f}", r["epochs"], f"{100 * r['accuracy']:.2f}%",
                             "yes" if r["reached"] else "no") for name, r in runs],
                           ["framework", "seconds", "epochs", "accuracy", "reached"]), ""]
    report = "\n".join(L)
    print(report)
    if args.out:
        speed.write_text_atomic(speed.Path(args.out), report)
    return 0
