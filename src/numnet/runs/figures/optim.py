"""Figures of the optimisation notes (Ng course 2, Saito): optimizer paths on an elongated bowl, exponentially
weighted averages, learning-rate decay, local optima against plateaus, mini-batches drawn with replacement,
and the course's moons comparison."""
from __future__ import annotations

import numpy as np

from ...train.history import ewa
from ...train.optimizers import SGD, Adam, Momentum, RMSprop
from ...train.schedules import Constant, InverseSqrtDecay, InverseTimeDecay, StepDecay
from . import figure
from .common import axes, fmt, mnist, pct, save, table

NG2 = "Ng course 2 (深度学习 6-7节)"
SCALE = np.array([1 / 20, 1.0])  # f(x, y) = x²/20 + y²: a bowl twenty times longer than wide


def _path(opt, steps, start=(-7.0, 2.0)):
    """Positions of an optimizer minimising the elongated bowl from `start`, using numnet's own update."""
    p = np.array(start, dtype=float)
    out = [p.copy()]
    for _ in range(steps):
        opt.step([p], [2 * SCALE * p])
        out.append(p.copy())
        if not np.all(np.isfinite(p)) or np.abs(p).max() > 1e6:
            break
    return np.array(out)


@figure("bowl", NG2, "动量梯度下降 / RMSprop / Adam",
        "gradient descent zig-zags across an elongated bowl; momentum, RMSprop and Adam go along it; "
        "too large a rate α overshoots and diverges")
def bowl(out, full):
    steps = 100 if full else 60
    runs = {"GD α=0.9": SGD(0.9), "momentum α=0.1 β=0.9": Momentum(0.1, 0.9), "RMSprop α=0.3": RMSprop(0.3),
            "Adam α=0.3": Adam(0.3), "GD α=1.05 (too large)": SGD(1.05)}
    fig, (ax,) = axes(size=(7.0, 3.6))
    x, y = np.meshgrid(np.linspace(-8, 8, 200), np.linspace(-3, 3, 120))
    ax.contour(x, y, SCALE[0] * x ** 2 + SCALE[1] * y ** 2, levels=12, colors="#cccccc", linewidths=0.7)
    rows = []
    for label, opt in runs.items():
        p = _path(opt, steps)
        f = SCALE @ (p[-1] ** 2)
        ax.plot(p[:, 0].clip(-8, 8), p[:, 1].clip(-3, 3), "o-", ms=2, lw=1, label=label)
        rows.append((label, len(p) - 1, fmt(f), "yes" if f > 1e3 or not np.isfinite(f) else "no"))
    ax.set(xlim=(-8, 8), ylim=(-3, 3), title="f(x, y) = x²/20 + y² from (-7, 2)")
    ax.legend(fontsize=7, loc="lower right")
    return {"files": [save(fig, out / "bowl.png"),
                      table(out / "bowl.md", "Optimizer paths on an elongated bowl", ["optimizer", "steps",
                            "f at the end", "diverged"], rows)],
            "summary": "; ".join(f"{r[0]}: f={r[2]}" for r in rows)}


@figure("ewa", NG2, "指数加权平均 / 偏差修正",
        "exponentially weighted averages of a noisy daily temperature with β = 0.9, 0.98 and 0.5, and the bias "
        "correction that lifts the start of the β = 0.98 curve")
def ewa_figure(out, full):
    rng = np.random.default_rng(0)
    days = np.arange(365 if full else 200)
    temp = 10 + 8 * np.sin(2 * np.pi * (days - 100) / 365) + rng.normal(0, 3, len(days))
    fig, (ax,) = axes(size=(7.0, 3.6))
    ax.plot(days, temp, ".", ms=2, color="#999999", label="θ (daily temperature)")
    rows = []
    for beta in (0.9, 0.98, 0.5):
        v = ewa(temp, beta, bias_correction=True)
        ax.plot(days, v, lw=1.2, label=f"β = {beta} (≈ last {1 / (1 - beta):.0f} days)")
        rows.append((beta, f"{1 / (1 - beta):.0f}", fmt(float(np.mean(np.abs(np.diff(v)))), 3)))
    raw = ewa(temp, 0.98, bias_correction=False)
    ax.plot(days, raw, "--", lw=1, label="β = 0.98 without bias correction")
    ax.set(xlabel="day", ylabel="°C", title="v_t = β v_(t-1) + (1-β) θ_t, corrected v_t / (1-β^t)")
    ax.legend(fontsize=7)
    rows.append(("0.98 uncorrected", "50", f"starts at {raw[0]:.2f} instead of {temp[0]:.2f}"))
    return {"files": [save(fig, out / "ewa.png"),
                      table(out / "ewa.md", "Exponentially weighted averages", ["β", "days averaged",
                            "mean day-to-day change"], rows)],
            "summary": f"β=0.98 uncorrected starts at {raw[0]:.2f}, corrected at {temp[0]:.2f}"}


@figure("decay", NG2, "学习率衰减",
        "learning-rate decay: α0/(1 + decay·epoch), k/√epoch·α0, step decay, and their effect on mini-batch "
        "training of the moons network")
def decay(out, full):
    from ...data.toy import make_moons
    from ...model.network import Network

    epochs = 1000 if full else 300
    X, y = make_moons(300, 0.2, seed=1)
    scheds = {"constant": Constant(), "1/(1 + 0.01·epoch)": InverseTimeDecay(0.01),
              "k/√epoch (k = 1)": InverseSqrtDecay(1.0), "step ×0.5 every 100": StepDecay(100, 0.5)}
    fig, (a1, a2) = axes(2, size=(4.2, 3.4))
    rows = []
    for label, s in scheds.items():
        net = Network.from_sizes([2, 5, 2, 1], activation="relu", output="sigmoid", init="he", seed=1)
        h = net.fit(X, y, epochs=epochs, batch_size=64, optimizer=SGD(0.3), schedule=s, seed=1, verbose=0)
        cost = [float(np.mean(b)) for b in h.batch_cost]
        a1.plot(h.lr, label=label)
        a2.plot(ewa(cost, 0.9), label=label, lw=1)
        rows.append((label, fmt(h.lr[-1], 3), fmt(cost[-1]), pct(net.evaluate(X, y).accuracy)))
    a1.set(xlabel="epoch", ylabel="α", title="α per epoch (α0 = 0.3)")
    a2.set(xlabel="epoch", ylabel="cost (EWA β=0.9)", title="moons, mini-batch 64", yscale="log")
    a1.legend(fontsize=7)
    return {"files": [save(fig, out / "decay.png"),
                      table(out / "decay.md", "Learning-rate decay on the moons data", ["schedule", "final α",
                            "final cost", "train accuracy"], rows)],
            "summary": "; ".join(f"{r[0]}: {r[3]}" for r in rows)}


@figure("plateaus", "Ng course 2 (the zhihu summary)", "局部最优问题 / 平稳区",
        "in many dimensions a zero gradient is almost always a saddle, not a bad local optimum; a plateau "
        "slows gradient descent, momentum and Adam leave it sooner")
def plateaus(out, full):
    rng = np.random.default_rng(0)
    dims = (1, 2, 5, 10, 20, 50) if full else (1, 2, 5, 10, 20)
    frac = []
    for d in dims:  # a random symmetric Hessian: the chance that every eigenvalue is positive (a true minimum)
        h = rng.normal(size=(500, d, d))
        frac.append(float(np.mean(np.all(np.linalg.eigvalsh(h + h.transpose(0, 2, 1)) > 0, axis=1))))
    # a saddle with a long flat stretch: f = tanh-shaped plateau in x, plus y²
    def grad(p):
        x, y = p
        return np.array([-0.5 * (1 - np.tanh(x - 4) ** 2) * 0.5 - 0.002, 2 * y])
    fig, (a1, a2) = axes(2, size=(4.2, 3.4))
    a1.semilogy(dims, np.maximum(frac, 1e-3), "o-")
    a1.set(xlabel="dimensions", ylabel="P(all curvatures > 0)", title="minima among critical points")
    rows = [(d, f"{100 * f:.1f}%") for d, f in zip(dims, frac)]
    steps = 400 if full else 200
    for label, opt in {"GD": SGD(0.5), "momentum": Momentum(0.5, 0.9), "Adam": Adam(0.1)}.items():
        p, xs = np.array([0.0, 1.0]), []
        for _ in range(steps):
            opt.step([p], [grad(p)])
            xs.append(p[0])
        a2.plot(xs, label=label)
        rows.append((f"{label}: x after {steps} steps", fmt(xs[-1], 3)))
    a2.set(xlabel="step", ylabel="x (the plateau ends at x ≈ 4)", title="leaving a plateau")
    a2.legend(fontsize=7)
    return {"files": [save(fig, out / "plateaus.png"),
                      table(out / "plateaus.md", "Local optima against plateaus", ["case", "value"], rows)],
            "summary": f"P(minimum) in {dims[-1]} dimensions: {100 * frac[-1]:.1f}%"}


@figure("replacement", "Saito (two_layer_net / test.py)", "mini-batch: np.random.choice",
        "Saito's mini-batches drawn with replacement (np.random.choice) against epochs that visit every "
        "example once; nearly the same accuracy, a third of the examples unseen in each 'epoch'")
def replacement(out, full):
    from ...model.network import Network

    X, y, Xv, yv = mnist(50000 if full else 4000, 2000)
    fig, (ax,) = axes(size=(6.0, 3.4))
    rows, epochs = [], 8 if full else 5
    for label, shuffle in (("permutation (each example once)", True), ("with replacement (Saito)", "replacement")):
        net = Network.from_sizes([784, 50, 10], activation="sigmoid", cost="log_likelihood", seed=1)
        h = net.fit(X, y, epochs=epochs, batch_size=100, optimizer=SGD(0.5), validation_data=(Xv, yv), seed=1,
                    shuffle=shuffle, verbose=0)
        ax.plot(range(1, epochs + 1), h.val_accuracy, "o-", label=label)
        rows.append((label, pct(h.val_accuracy[-1])))
    seen = 1 - (1 - 1 / len(X)) ** len(X)
    rows.append(("examples seen per epoch with replacement", f"{100 * seen:.1f}% (1 - 1/e)"))
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="[784, 50, 10] sigmoid, batch 100")
    ax.legend(fontsize=7)
    return {"files": [save(fig, out / "replacement.png"),
                      table(out / "replacement.md", "Mini-batches with replacement", ["sampling", "value"], rows)],
            "summary": "; ".join(f"{r[0]}: {r[1]}" for r in rows[:2])}


@figure("moons", NG2, "作业五: mini-batch, momentum, Adam",
        "the course's optimizer comparison on the moons data: gradient descent, momentum and Adam "
        "(--full: the notebook's own data and 10,000 epochs: 79.7 / 79.7 / 94.0%)")
def moons(out, full):
    from ..experiments import compare_optimizers

    r = compare_optimizers(out / "moons", epochs=10000 if full else 1500, course_data=full)
    return {"files": sorted((out / "moons").iterdir()),
            "summary": "; ".join(f"{v['label']}: {pct(v['accuracy'])}" for v in r.values())}
