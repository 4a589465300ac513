"""What every figure shares: a small Agg figure saved at 80 dpi, a Markdown table beside it, MNIST subsets."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ...utils.files import write_bytes_atomic, write_text_atomic
from ...utils.tables import format_table

DPI = 80


def axes(ncols=1, size=(6.0, 3.8)):
    """(fig, [axes]) on an Agg canvas (no global backend switch)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("figures need matplotlib: pip install 'numnet[plot]'") from e
    fig = Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    write_bytes_atomic(path, buf.getvalue())
    return path


def table(path: Path, title: str, headers, rows, note: str = "") -> Path:
    """A Markdown file: a title, an optional note and the table."""
    text = f"# {title}\n\n" + (note + "\n\n" if note else "") + format_table(rows, headers) + "\n"
    write_text_atomic(path, text)
    return path


def mnist(n_train, n_val, seed=0):
    """The first n_train training and n_val validation images (float32), as (X, y, Xv, yv)."""
    from ...data.mnist import load_mnist

    (X, y), (Xv, yv), _ = load_mnist()
    return X[:n_train], y[:n_train], Xv[:n_val], yv[:n_val]


def pct(v) -> str:
    return f"{100 * v:.2f}%"


def fmt(v, digits=4) -> str:
    return f"{v:.{digits}g}" if isinstance(v, (float, np.floating)) else str(v)
