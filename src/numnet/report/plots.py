"""PNG figures without a display: training curves, optimizer comparisons, decision boundaries.

matplotlib is optional and imported lazily; figures use the object-oriented Agg canvas
(no global backend switch) and are rendered in memory, then written atomically.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..train.history import History, ewa
from ..utils.files import write_bytes_atomic

__all__ = ["plot_history", "plot_curves", "plot_decision_boundary", "plot_confusion"]

BATCH_BETA = 0.98     # EWA of per-mini-batch costs: averages over roughly the last 50 batches
MAX_RESOLUTION = 2000
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def figure(figsize=(7.0, 4.5)):
    """A fresh Figure bound to an Agg canvas, plus its single Axes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install 'numnet[plot]'") from e
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "x")


def _integer_ticks(ax) -> None:
    """Whole-number ticks on the x axis (epochs): no "2.5" epoch."""
    from matplotlib.ticker import MaxNLocator   # matplotlib is present: figure ran first

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def save_figure(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _series(values):
    """Epoch-level values with None as NaN (a gap), or None if every entry is None."""
    if all(v is None for v in values):
        return None
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _finish_epochs(fig, ax, title, ylabel, path) -> Path:
    """Title, labels, integer epoch ticks, grid and legend; then save."""
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    _integer_ticks(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_history(history, directory) -> list[Path]:
    """Write cost.png (train/val cost per epoch and the EWA-smoothed mini-batch cost), accuracy.png (train/val
    accuracy in %) and, when GradientHealth recorded it, gradient-health.png (each layer's gradient norm per
    epoch) into `directory`; figures with no data are skipped."""
    if isinstance(history, dict):
        history = History.from_dict(history)
    if not isinstance(history, History):
        raise ValueError(f"history must be a History or its dict, got {type(history).__name__}")
    if not len(history):
        raise ValueError("history is empty: nothing to plot")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    epochs = np.array(history.epoch, dtype=float)
    written = []

    # mini-batch i of n in epoch e sits at x = e − 1 + (i + 1)/n, so it ends on the epoch mark
    xs, costs = [], []
    for e, batch in zip(history.epoch, history.batch_cost):
        n = len(batch)
        xs.extend(e - 1 + (i + 1) / n for i in range(n))
        costs.extend(batch)
    train_cost, val_cost = _series(history.train_cost), _series(history.val_cost)
    if costs or train_cost is not None or val_cost is not None:
        fig, ax = figure()
        if costs:
            ax.plot(xs, costs, color=COLORS[7], alpha=0.25, linewidth=0.6, label="mini-batch cost")
            ax.plot(xs, ewa(costs, beta=BATCH_BETA), color=COLORS[0], alpha=0.6, linewidth=1.0,
                    label=f"mini-batch cost (EWA, β={BATCH_BETA})")
        if train_cost is not None:
            ax.plot(epochs, train_cost, "o-", color=COLORS[0], markersize=3, label="training cost")
        if val_cost is not None:
            ax.plot(epochs, val_cost, "s--", color=COLORS[1], markersize=4, markerfacecolor="none",
                    label="validation cost")
        written.append(_finish_epochs(fig, ax, "cost", "cost", directory / "cost.png"))

    train_acc, val_acc = _series(history.train_accuracy), _series(history.val_accuracy)
    if train_acc is not None or val_acc is not None:
        fig, ax = figure()
        if train_acc is not None:
            ax.plot(epochs, 100 * train_acc, "o-", color=COLORS[0], markersize=3, label="training accuracy")
        if val_acc is not None:
            ax.plot(epochs, 100 * val_acc, "s--", color=COLORS[1], markersize=4, markerfacecolor="none",
                    label="validation accuracy")
        written.append(_finish_epochs(fig, ax, "accuracy", "accuracy (%)", directory / "accuracy.png"))
    health = [(e, r) for e, r in zip(history.epoch, history.gradient_health) if r]
    if health:  # recorded by the GradientHealth callback
        written.append(plot_gradient_health(health, directory / "gradient-health.png"))
    return written


def plot_gradient_health(health, path) -> Path:
    """Two panels from GradientHealth's records [(epoch, record)]: each layer's gradient norm per epoch (log
    scale), and the fractions of dead (ReLU) and saturated (sigmoid/tanh) units of each hidden layer that its
    warnings are about (0-100%, with the 50% warning line)."""
    fig, _ = figure((7.0, 7.0))
    fig.clear()
    ax, ax2 = fig.subplots(2, 1)
    epochs = [e for e, _ in health]
    keys = [k for k in health[0][1].get("grad_norm", {}) if k.endswith(".W")] or list(health[0][1]["grad_norm"])
    for j, key in enumerate(keys):
        ax.semilogy(epochs, [r["grad_norm"].get(key) for _, r in health], "o-", color=COLORS[j % len(COLORS)],
                    markersize=3, label=f"layer {key}")
    ax.set(title="gradient norm per layer (mean over the epoch's mini-batches)", xlabel="epoch", ylabel="‖∂C/∂W‖")
    ax.grid(alpha=0.3)
    ax.legend()
    _integer_ticks(ax)
    j = 0
    for kind, style in (("dead_fraction", "o-"), ("saturated_fraction", "s--")):
        for layer in sorted({k for _, r in health for k in (r.get(kind) or {})}, key=int):
            ax2.plot(epochs, [100 * (r.get(kind) or {}).get(layer, np.nan) for _, r in health], style,
                     color=COLORS[j % len(COLORS)], markersize=3,
                     label=f"layer {layer}: {'dead' if kind == 'dead_fraction' else 'saturated'}")
            j += 1
    ax2.axhline(50, color="gray", linewidth=0.8, linestyle=":", label="warning level (50%)")
    ax2.set(title="dead and saturated units per hidden layer", xlabel="epoch", ylabel="units (%)", ylim=(-2, 102))
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize="small")
    _integer_ticks(ax2)
    return save_figure(fig, path)


def plot_curves(curves: dict, path, title: str = "", xlabel: str = "epoch", ylabel: str = "cost",
                logy: bool = False) -> Path:
    """Several named curves on one plot, curve[k] at x = k + 1 (e.g. one optimizer per curve).
    Non-finite points (a diverged run) are left as gaps."""
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict of name -> sequence of numbers")
    arrays = {}
    for name, values in curves.items():
        try:
            y = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"curve {name!r} must be a sequence of numbers") from None
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"curve {name!r} must be a non-empty 1-D sequence, got shape {y.shape}")
        if logy and np.any(y[np.isfinite(y)] <= 0):
            raise ValueError(f"curve {name!r} has values <= 0, which a log scale (logy=True) cannot show")
        arrays[str(name)] = y
    fig, ax = figure()
    for i, (name, y) in enumerate(arrays.items()):
        y = np.where(np.isfinite(y), y, np.nan)
        # identical curves (two optimizers that agree) stay visible: each its own dash pattern and marker
        ax.plot(np.arange(1, y.size + 1), y, color=COLORS[i % len(COLORS)], label=name,
                linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)],
                markevery=max(1, y.size // 12) if y.size > 30 else None, markersize=4, markerfacecolor="none")
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if xlabel in ("epoch", "epochs", "iteration", "iterations"):
        _integer_ticks(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_decision_boundary(predict, X, y, path, title: str = "", resolution: int = 300) -> Path:
    """Colour a grid over X's range (plus a margin) by `predict` ((m, 2) floats -> (m,) class
    indices) and draw the points of X coloured by their class y."""
    if not callable(predict):
        raise ValueError("predict must be a callable mapping an (m, 2) array to class indices")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (m, 2) with m >= 1, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must contain only finite numbers")
    y = _class_indices("y", y, X.shape[0])
    if isinstance(resolution, bool) or not isinstance(resolution, int) \
            or not 2 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be an integer in [2, {MAX_RESOLUTION}], got {resolution!r}")

    low, high = X.min(axis=0), X.max(axis=0)
    margin = np.where(high > low, 0.1 * (high - low), 0.5)
    low, high = low - margin, high + margin
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], resolution),
                         np.linspace(low[1], high[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    z = _class_indices("predict(grid)", predict(grid), grid.shape[0])

    classes = np.union1d(y, z)
    colors = [COLORS[i % len(COLORS)] for i in range(classes.size)]
    from matplotlib.colors import ListedColormap   # matplotlib is present: figure ran first
    fig, ax = figure(figsize=(6.0, 5.0))
    ax.imshow(np.searchsorted(classes, z).reshape(gx.shape), origin="lower", aspect="auto",
              extent=(low[0], high[0], low[1], high[1]), cmap=ListedColormap(colors),
              vmin=-0.5, vmax=classes.size - 0.5, alpha=0.35, interpolation="nearest")
    for i, c in enumerate(classes):
        mask = y == c
        if mask.any():
            ax.scatter(X[mask, 0], X[mask, 1], s=14, color=colors[i], edgecolors="black",
                       linewidths=0.4, label=f"class {c}")
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", xlim=(low[0], high[0]), ylim=(low[1], high[1]))
    ax.legend(loc="best", fontsize="small")
    return save_figure(fig, path)


def _class_indices(name, values, m) -> np.ndarray:
    """Integer class labels of shape (m,) (an (m, 1) column is accepted too)."""
    try:
        a = np.asarray(values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of class indices") from None
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.shape != (m,):
        raise ValueError(f"{name} must be class indices of shape ({m},), got shape {a.shape}")
    if a.dtype.kind not in "iub":
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{name} must contain integer class indices")
    return a.astype(np.int64)


def plot_confusion(C, path, title: str = "confusion matrix") -> Path:
    """The confusion matrix as a heat map PNG (rows: true class, columns: predicted), counts in the cells. The
    colours show the errors: each off-diagonal cell's share of its true class on a scale up to the largest such
    share (so a 1% confusion is not washed out by the 99% diagonal); the diagonal (correct) is grey."""
    C = np.asarray(C)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.size == 0:
        raise ValueError(f"a confusion matrix must be square and non-empty, got shape {C.shape}")
    k = len(C)
    fig, ax = figure((1.0 + 0.55 * k, 0.8 + 0.5 * k))
    rows = C.sum(axis=1, keepdims=True)
    share = np.divide(C, rows, out=np.zeros(C.shape), where=rows > 0)
    errors = np.ma.masked_array(share, mask=np.eye(k, dtype=bool))
    top = float(errors.max()) if errors.count() and errors.max() > 0 else 1.0
    from matplotlib import colormaps   # matplotlib is present: figure ran first

    cmap = colormaps["Reds"].with_extremes(bad="#e0e0e0")
    image = ax.imshow(errors, cmap=cmap, vmin=0, vmax=top)
    fig.colorbar(image, ax=ax, shrink=0.8, format=lambda v, _: f"{100 * v:.1f}%",
                 label="share of the true class (errors)")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(C[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if i != j and share[i, j] > 0.6 * top else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_figure(fig, path)
