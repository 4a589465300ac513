"""Figures of the network notes (Nielsen, Ng courses 1 and 3, Saito, the activation notes): zero
initialization, the quadratic cost's slowdown, activations, Saito's curves, batch norm, exploding gradients,
label errors, softmax with C = 2, the five curve rules and the course's metrics."""
from __future__ import annotations

import time

import numpy as np

from ...model.network import Network
from ...nn.layers import ACTIVATIONS
from ...report.diagnosis import read_curves
from ...train.optimizers import SGD
from . import figure
from .common import axes, fmt, mnist, pct, save, table

NIELSEN = "Nielsen (神经网络与深度学习笔记)"
ACT = "activation notes (關於神經網路的一些認識)"


@figure("zeros", "Saito (two_layer_net)", "W 不能使用 0 来初始化 (symmetry)",
        "with every weight zero the hidden units stay identical for ever (one distinct unit), so the network "
        "is no better than one unit; random weights break the symmetry")
def zeros(out, full):
    X, y, Xv, yv = mnist(5000 if full else 2000, 1000)
    fig, (ax,) = axes(size=(6.0, 3.4))
    rows = []
    for init in ("zeros", "default"):
        net = Network.from_sizes([784, 30, 10], activation="sigmoid", cost="log_likelihood", init=init, seed=1)
        distinct = []
        for _ in range(5):
            net.fit(X, y, epochs=1, batch_size=20, optimizer=SGD(0.5), seed=1, verbose=0)
            W = net.get_weights()
            w1 = next(v for k, v in W.items() if k.endswith(".W"))
            distinct.append(np.unique(np.round(w1, 6), axis=1).shape[1])
        ax.plot(range(1, 6), distinct, "o-", label=f"init {init}")
        rows.append((init, distinct[-1], pct(net.evaluate(Xv, yv).accuracy)))
    ax.set(xlabel="epoch", ylabel="distinct hidden units (of 30)", yscale="log", title="symmetry")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "zeros.png"), table(out / "zeros.md", "Zero initialization",
                      ["init", "distinct hidden units after 5 epochs", "validation accuracy"], rows)],
            "summary": "; ".join(f"{r[0]}: {r[1]} distinct units, {r[2]}" for r in rows)}


@figure("slowdown", NIELSEN, "二、1 使用交叉熵代价函数 (二次代价函数的问题)",
        "one sigmoid neuron taught to output 0 from a badly wrong start (w = b = 2): the quadratic cost learns "
        "slowly at first (σ'(z) is small), cross-entropy does not")
def slowdown(out, full):
    epochs = 300
    fig, (ax,) = axes(size=(6.0, 3.4))
    rows = []
    for cost in ("quadratic", "cross_entropy"):
        net = Network.from_sizes([1, 1], activation="sigmoid", output="sigmoid", cost=cost, seed=0,
                                 dtype="float64")
        net.set_weights({k: np.full_like(v, 2.0) for k, v in net.get_weights().items()})
        h = net.fit(np.ones((1, 1)), np.zeros((1, 1)), epochs=epochs, batch_size=1, optimizer=SGD(0.15),
                    monitor_training=True, verbose=0, seed=0)
        ax.plot(h.train_cost, label=cost)
        first = next((i + 1 for i, c in enumerate(h.train_cost) if c < 0.5 * h.train_cost[0]), None)
        rows.append((cost, fmt(h.train_cost[0]), fmt(h.train_cost[-1]), first))
    ax.set(xlabel="epoch", ylabel="cost", title="neuron 1 -> 0 from w = b = 2, η = 0.15")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "slowdown.png"), table(out / "slowdown.md", "Learning slowdown",
                      ["cost", "first", "last", "epochs to halve"], rows)],
            "summary": "; ".join(f"{r[0]}: halved after {r[3]} epochs" for r in rows)}


def _act(name, z):
    layer = ACTIVATIONS.get(name)()
    a = np.asarray(layer.forward(z.copy(), training=True))
    d = np.asarray(layer.backward(np.ones_like(z)))
    return a, d


@figure("activations", ACT, "常用的啟用函式 sigmoid, tanh, relu, leaky-relu, elu",
        "the activations and their derivatives; sigmoid's outputs are all positive (zig-zag updates), it and "
        "tanh saturate, ReLU's derivative is 0 for z < 0 (dead units; remedy: bias 0.01); compute cost per call")
def activations(out, full):
    z = np.linspace(-4, 4, 401).reshape(-1, 1)
    fig, (a1, a2) = axes(2, size=(4.2, 3.4))
    rows = []
    big = np.random.default_rng(0).normal(size=(1000, 1000)).astype("float32")
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu"):
        a, d = _act(name, z)
        a1.plot(z, a, label=name)
        a2.plot(z, d, label=name)
        layer = ACTIVATIONS.get(name)()
        t = time.perf_counter()
        for _ in range(5):
            layer.forward(big, training=False)
        rows.append((name, fmt(float(d.max()), 3), f"{1000 * (time.perf_counter() - t) / 5:.2f}"))
    a1.set(title="a = f(z)", xlabel="z", ylim=(-1.5, 4))
    a2.set(title="f'(z)", xlabel="z")
    a1.legend(fontsize=7)
    return {"files": [save(fig, out / "activations.png"), table(out / "activations.md", "Activations",
                      ["activation", "largest derivative", "ms per forward of 10^6 values"], rows,
                      "Dead ReLUs: units with z < 0 for every input get no gradient; the activation notes' remedy "
                      "is a small positive bias, `--bias-init 0.01` (or leaky ReLU).")],
            "summary": "; ".join(f"{r[0]} {r[2]} ms" for r in rows)}


@figure("activations-mnist", ACT, "啟用函式的選擇 (不要輕易使用 sigmoid)",
        "sigmoid, tanh, ReLU, leaky ReLU, ELU and maxout on an MNIST subset, same network and budget")
def activations_mnist(out, full):
    X, y, Xv, yv = mnist(50000 if full else 3000, 2000)
    epochs = 10 if full else 3
    fig, (ax,) = axes(size=(6.0, 3.4))
    rows = []
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout"):
        net = Network.from_sizes([784, 64, 10], activation=name, cost="log_likelihood", seed=1,
                                 init="default" if name in ("sigmoid", "tanh") else "he")
        t = time.perf_counter()
        h = net.fit(X, y, epochs=epochs, batch_size=32, optimizer=SGD(0.1), validation_data=(Xv, yv), seed=1,
                    verbose=0)
        ax.plot(range(1, epochs + 1), h.val_accuracy, "o-", label=name)
        rows.append((name, pct(max(h.val_accuracy)), f"{time.perf_counter() - t:.1f}"))
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=f"[784, 64, 10], SGD 0.1, {len(X)} images")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "activations-mnist.png"), table(out / "activations-mnist.md",
                      "Activations on MNIST", ["activation", "best validation accuracy", "seconds"], rows)],
            "summary": "; ".join(f"{r[0]} {r[1]}" for r in rows)}


@figure("zigzag", ACT, "sigmoid 缺點 (2): 輸出永遠在 0-1 之間, 鋸齒現象",
        "with all-positive inputs (sigmoid outputs) every weight into a unit moves the same way each step: "
        "the fraction of steps whose updates share one sign, sigmoid against tanh hidden layers")
def zigzag(out, full):
    X, y, _, _ = mnist(2000, 10)
    rows = []
    fig, (ax,) = axes(size=(6.0, 3.4))
    for name in ("sigmoid", "tanh"):
        net = Network.from_sizes([784, 30, 30, 10], activation=name, cost="log_likelihood", seed=1)
        before = {k: v.copy() for k, v in net.get_weights().items()}
        net.fit(X[:20], y[:20], epochs=1, batch_size=20, optimizer=SGD(0.1), seed=1, verbose=0)
        dW = [net.get_weights()[k] - before[k] for k in before if k.endswith(".W")][1]  # into layer 2
        same = np.mean(np.all(dW >= 0, axis=0) | np.all(dW <= 0, axis=0))
        ax.hist(np.sign(dW).mean(axis=0), bins=21, range=(-1, 1), alpha=0.6, label=name)
        rows.append((name, f"{100 * same:.0f}%"))
    ax.set(xlabel="mean sign of a unit's incoming updates (±1: all one way)", ylabel="units",
           title="one SGD step, second hidden layer")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "zigzag.png"), table(out / "zigzag.md", "Sigmoid's zig-zag",
                      ["hidden activation", "units whose incoming updates all share one sign"], rows)],
            "summary": "; ".join(f"{r[0]}: {r[1]}" for r in rows)}


@figure("saito", "Saito (test.py)", "记录学习过程: 训练集/测试集准确度",
        "Saito's two-layer net: training and test accuracy per epoch (his figure), init N(0, 0.01²) "
        "(weight_init_std) against 1/√n")
def saito(out, full):
    from ...data.mnist import load_mnist

    (X, y), (Xv, yv), (Xt, yt) = load_mnist()
    if not full:
        X, y, Xt, yt = X[:10000], y[:10000], Xt[:2000], yt[:2000]
    epochs = 17 if full else 6
    fig, (ax,) = axes(size=(6.0, 3.4))
    rows = []
    for label, init in (("std 0.01", {"name": "normal", "std": 0.01}), ("1/√n", "default")):
        net = Network.from_sizes([784, 50, 10], activation="sigmoid", cost="log_likelihood", init=init, seed=1)
        tr, te = [], []
        for _ in range(epochs):
            net.fit(X, y, epochs=1, batch_size=100, optimizer=SGD(0.1), seed=len(tr), verbose=0,
                    shuffle="replacement")
            tr.append(net.evaluate(X, y).accuracy)
            te.append(net.evaluate(Xt, yt).accuracy)
        ax.plot(range(1, epochs + 1), tr, "o-", label=f"train ({label})")
        ax.plot(range(1, epochs + 1), te, "s--", label=f"test ({label})")
        rows.append((label, pct(tr[-1]), pct(te[-1])))
    ax.set(xlabel="epoch", ylabel="accuracy", title="[784, 50, 10] sigmoid + softmax, SGD 0.1, batch 100")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "saito.png"), table(out / "saito.md", "Saito's curves",
                      ["init", "final train accuracy", "final test accuracy"], rows)],
            "summary": "; ".join(f"{r[0]}: test {r[2]}" for r in rows)}


@figure("batchnorm", "Ng course 2 / the zhihu summary", "Batch Norm 归一化; Batch Norm 和 dropout 正则化",
        "batch norm against none (same deep sigmoid network); its slight regularisation shrinks as the "
        "mini-batch grows (train - validation gap per batch size)")
def batchnorm(out, full):
    X, y, Xv, yv = mnist(20000 if full else 4000, 2000)
    epochs = 8 if full else 4
    fig, (a1, a2) = axes(2, size=(4.2, 3.4))
    rows = []
    for bn in (False, True):
        net = Network.from_sizes([784, 64, 64, 64, 10], activation="sigmoid", cost="log_likelihood", seed=1,
                                 batch_norm=bn)
        h = net.fit(X, y, epochs=epochs, batch_size=64, optimizer=SGD(0.5), validation_data=(Xv, yv), seed=1,
                    verbose=0)
        a1.plot(range(1, epochs + 1), h.val_accuracy, "o-", label="batch norm" if bn else "none")
        rows.append(("batch norm" if bn else "none", 64, pct(h.val_accuracy[-1]), ""))
    gaps = []
    for bs in (16, 256):
        net = Network.from_sizes([784, 64, 64, 64, 10], activation="sigmoid", cost="log_likelihood", seed=1,
                                 batch_norm=True)
        net.fit(X, y, epochs=epochs, batch_size=bs, optimizer=SGD(0.5 * bs / 64), seed=1, verbose=0)
        tr, va = net.evaluate(X, y).accuracy, net.evaluate(Xv, yv).accuracy
        gaps.append(tr - va)
        rows.append(("batch norm", bs, pct(va), f"{100 * (tr - va):.2f} points"))
    a1.set(xlabel="epoch", ylabel="validation accuracy", title="[784, 64×3, 10] sigmoid")
    a1.legend(fontsize=7)
    a2.plot([16, 256], 100 * np.array(gaps), "o-")
    a2.set(xscale="log", xlabel="mini-batch size", ylabel="train - validation (points)", title="gap with BN")
    return {"files": [save(fig, out / "batchnorm.png"), table(out / "batchnorm.md", "Batch norm",
                      ["network", "batch", "validation accuracy", "train - validation"], rows)],
            "summary": "; ".join(f"{r[0]} b{r[1]}: {r[2]}" for r in rows)}


@figure("exploding", "Ng course 1 (the zhihu summary)", "梯度爆炸与梯度消失",
        "per-layer gradient norms of a 10-layer linear network: weights a little above 1/√n explode with "
        "depth, a little below vanish, 1/√n (Xavier-like) keeps them level")
def exploding(out, full):
    rng = np.random.default_rng(0)
    X, _, _, _ = mnist(256, 10)
    depth, width = (20, 64) if full else (10, 64)
    fig, (ax,) = axes(size=(6.0, 3.4))
    rows = []
    for scale in (0.7, 1.0, 1.5):
        Ws = [rng.normal(0, scale / np.sqrt(n), (n, m)) for n, m in zip([784] + [width] * depth, [width] * depth)]
        grads = _linear_grad_norms(Ws, X.astype(float))
        ax.semilogy(range(1, len(grads) + 1), grads, "o-", label=f"std {scale}/√n")
        rows.append((f"{scale}/√n", fmt(grads[0], 3), fmt(grads[-1], 3), fmt(grads[0] / grads[-1], 3)))
    ax.set(xlabel="layer", ylabel="‖∂C/∂W‖", title=f"{depth} linear layers of {width}")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "exploding.png"), table(out / "exploding.md", "Exploding and vanishing "
                      "gradients", ["weight std", "first layer", "last layer", "first / last"], rows)],
            "summary": "; ".join(f"{r[0]}: first/last {r[3]}" for r in rows)}


def _linear_grad_norms(Ws, X):
    """‖∂C/∂W_l‖ per layer of a linear network a_l = a_(l-1) W_l (the notes' example) for one fixed error
    ∂C/∂a_L of unit size per example: going back, each layer multiplies the error by W_lᵀ, so with weights a
    little too large it grows exponentially towards the first layer, a little too small it vanishes."""
    acts = [X / np.linalg.norm(X, axis=1, keepdims=True)]
    for W in Ws[:-1]:
        a = acts[-1] @ W
        acts.append(a / np.linalg.norm(a, axis=1, keepdims=True))  # the forward signal kept at unit size
    delta = np.random.default_rng(1).normal(size=(len(X), Ws[-1].shape[1]))
    delta /= np.linalg.norm(delta, axis=1, keepdims=True) * len(X)
    norms = []
    for W, a in zip(reversed(Ws), reversed(acts)):
        norms.append(float(np.linalg.norm(a.T @ delta)))
        delta = delta @ W.T
    return norms[::-1]


@figure("labels", "Ng course 3 (the zhihu summary)", "误差分析: 深度学习对随机误差有很强的鲁棒性",
        "random label errors in the training set cost little accuracy; the same number of systematic errors "
        "(one digit always labelled as another) teach the mistake")
def labels(out, full):
    from ...data.shifts import flip_labels

    X, y, Xv, yv = mnist(20000 if full else 3000, 2000)
    fracs = (0.0, 0.1, 0.2, 0.3) if full else (0.0, 0.1, 0.3)
    fig, (ax,) = axes(size=(6.0, 3.4))
    res = {"random": [], "systematic (7 → 1)": []}
    rows = []
    for f in fracs:
        noisy, _ = flip_labels(y, f, seed=0, classes=10)
        sys_y = y.copy()
        sevens = np.flatnonzero(y == 7)
        sys_y[sevens[:int(round(f * len(y)))]] = 1  # as many as fit among the 7s
        for kind, yy in (("random", noisy), ("systematic (7 → 1)", sys_y)):
            net = Network.from_sizes([784, 64, 10], activation="relu", cost="log_likelihood", init="he", seed=1)
            net.fit(X, yy, epochs=4 if full else 3, batch_size=32, optimizer=SGD(0.1), seed=1, verbose=0)
            acc = net.evaluate(Xv, yv).accuracy
            seven = float(np.mean(net.predict(Xv[yv == 7]) == 7))
            res[kind].append(acc)
            rows.append((kind, f"{100 * float(np.mean(yy != y)):.1f}%", pct(acc), pct(seven)))
    for kind, accs in res.items():
        ax.plot([100 * f for f in fracs], accs, "o-", label=kind)
    ax.set(xlabel="training labels wrong (%)", ylabel="clean validation accuracy", title="label errors")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "labels.png"), table(out / "labels.md", "Random against systematic "
                      "label errors", ["errors", "labels wrong", "validation accuracy", "7s recognised"], rows)],
            "summary": "; ".join(f"{r[0]} {r[1]}: {r[2]}" for r in rows)}


@figure("softmax2", "Ng course 2", "softmax 回归: C = 2 就变成了 Logistic 回归",
        "a softmax output of two classes gives exactly the probabilities of one sigmoid unit whose logit is "
        "the difference of the two (z1 - z0); trained both ways on the moons data")
def softmax2(out, full):
    from ...data.toy import make_moons

    X, y = make_moons(300, 0.2, seed=1, dtype="float64")
    soft = Network.from_sizes([2, 8, 2], activation="tanh", output="softmax", cost="log_likelihood", seed=1,
                              dtype="float64")
    soft.fit(X, y, epochs=300, batch_size=32, optimizer=SGD(0.5), seed=1, verbose=0)
    W = soft.get_weights()
    logistic = Network.from_sizes([2, 8, 1], activation="tanh", output="sigmoid", cost="cross_entropy", seed=1,
                                  dtype="float64")
    L = logistic.get_weights()
    (w1, b1, w2, b2) = [k for k in W]
    (l1, m1, l2, m2) = [k for k in L]
    L[l1], L[m1] = W[w1], W[b1]
    L[l2] = (W[w2][:, 1] - W[w2][:, 0]).reshape(-1, 1)
    L[m2] = np.array([W[b2][1] - W[b2][0]])
    logistic.set_weights(L)
    p_soft = soft.predict_proba(X)[:, 1]
    p_log = logistic.predict_proba(X).ravel()
    diff = float(np.max(np.abs(p_soft - p_log)))
    fig, (ax,) = axes(size=(4.5, 3.6))
    ax.plot(p_soft, p_log, ".", ms=3)
    ax.plot([0, 1], [0, 1], "-", lw=0.7, color="#999999")
    ax.set(xlabel="softmax P(class 1)", ylabel="sigmoid(z1 - z0)", title=f"max difference {diff:.1e}")
    return {"files": [save(fig, out / "softmax2.png"), table(out / "softmax2.md", "Softmax with C = 2",
                      ["quantity", "value"], [("examples", len(X)), ("largest |P_softmax - P_logistic|", f"{diff:.2e}"),
                                              ("same predictions", bool(np.all((p_soft > .5) == (p_log > .5))))])],
            "summary": f"largest difference {diff:.1e}"}


@figure("curves", ACT, "關於神經網路訓練的一些建議 (the five rules)",
        "the five training-curve cases of the notes, each from a short real run, with numnet's reading of it")
def curves(out, full):
    from ...data.shifts import flip_labels

    X, y, Xv, yv = mnist(10000, 2000)
    noisy = y.copy()  # 90% of the labels replaced by a uniform draw (as tests/report/test_diagnosis.py does)
    rng = np.random.default_rng(0)
    wrong = rng.random(len(y)) < 0.9
    noisy[wrong] = rng.integers(0, 10, wrong.sum())
    # (label, sizes, training labels, examples, η, epochs, batch): the runs of tests/report/test_diagnosis.py
    cases = [("1 learning", [784, 30, 10], y, 3000, 0.5, 5, 20), ("2 overfitting", [784, 30, 10], y, 1000, 0.5, 30, 10),
             ("3 bottleneck", [784, 2, 10], y, 5000, 0.5, 15, 50),
             ("4 look at the data (90% wrong labels)", [784, 30, 10], noisy, 10000, 0.1, 10, 50),
             ("5 diverging (η = 30)", [784, 30, 10], y, 3000, 30.0, 8, 20)]
    fig, axs = axes(5, size=(2.6, 2.6))
    rows = []
    for ax, (label, sizes, yy, n, lr, epochs, batch) in zip(axs, cases):
        net = Network.from_sizes(sizes, activation="sigmoid", cost="log_likelihood", seed=1)
        h = net.fit(X[:n], yy[:n], epochs=epochs, batch_size=batch, optimizer=SGD(lr),
                    validation_data=(Xv[:2000 if n > 3000 else 1000], yv[:2000 if n > 3000 else 1000]), seed=1,
                    monitor_training=True, verbose=0)
        r = read_curves(h)
        ax.plot(h.epoch, h.train_cost, label="train")
        ax.plot(h.epoch, h.val_cost, label="validation")
        ax.set_title(f"{label}\n-> {r.verdict}", fontsize=8)
        rows.append((label, r.verdict, r.best_epoch, "; ".join(r.evidence[:2])))
    axs[0].legend(fontsize=7)
    return {"files": [save(fig, out / "curves.png"), table(out / "curves.md", "The five curve rules",
                      ["case", "numnet's reading", "best epoch", "evidence"], rows)],
            "summary": "; ".join(f"{r[0]} -> {r[1]}" for r in rows)}


@figure("metrics", "Ng course 3", "单一数字评估指标; 满足和优化指标",
        "precision, recall and F1 of a digit-9 detector; satisficing: the most accurate network whose "
        "prediction time and size stay under the limits, against the most accurate overall")
def metrics(out, full):
    from ...train.metrics import precision_recall_f1, satisficing

    X, y, Xv, yv = mnist(20000 if full else 3000, 2000)
    cands = []
    for hidden in ((16, 64, 256, 1024) if full else (16, 64, 256)):
        net = Network.from_sizes([784, hidden, 10], activation="relu", cost="log_likelihood", init="he", seed=1)
        net.fit(X, y, epochs=3, batch_size=32, optimizer=SGD(0.1), seed=1, verbose=0)
        t = time.perf_counter()
        for _ in range(5):
            pred = net.predict(Xv)
        ms = 1000 * (time.perf_counter() - t) / 5
        prf = precision_recall_f1(yv, pred, positive=9)
        size = sum(v.nbytes for v in net.get_weights().values()) / 1024
        cands.append({"hidden": hidden, "accuracy": float(np.mean(pred == yv)), "predict_ms": ms,
                      "size_kb": size, **prf})
    limit_ms = sorted(c["predict_ms"] for c in cands)[-2]
    best, ok = satisficing(cands, "accuracy", predict_ms=limit_ms, size_kb=1024)
    top = max(cands, key=lambda c: c["accuracy"])
    fig, (ax,) = axes(size=(5.5, 3.4))
    for c in cands:
        ax.plot(c["predict_ms"], 100 * c["accuracy"], "o", color="#2ca02c" if c in ok else "#d62728")
        ax.annotate(f"{c['hidden']}", (c["predict_ms"], 100 * c["accuracy"]), fontsize=7)
    ax.axvline(limit_ms, ls="--", color="#999999")
    ax.set(xlabel=f"prediction time for {len(Xv)} images (ms)", ylabel="accuracy (%)",
           title="satisficing: time ≤ limit, size ≤ 1 MB")
    rows = [(c["hidden"], pct(c["accuracy"]), fmt(c["precision"], 3), fmt(c["recall"], 3), fmt(c["f1"], 3),
             f"{c['predict_ms']:.1f}", f"{c['size_kb']:.0f}", "chosen" if c is best else
             ("meets limits" if c in ok else "")) for c in cands]
    return {"files": [save(fig, out / "metrics.png"), table(out / "metrics.md", "Metrics", ["hidden", "accuracy",
                      "precision (9)", "recall (9)", "F1 (9)", "predict ms", "size KB", "satisficing"], rows,
                      f"Most accurate overall: {top['hidden']} hidden units; under the limits: "
                      f"{best['hidden'] if best else 'none'}.")],
            "summary": f"chosen {best['hidden'] if best else None} hidden (top: {top['hidden']})"}
