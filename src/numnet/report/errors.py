"""Error analysis as the notes run it: look at ~100 mistakes, tag each with what went wrong, count.

    sample = sample_mistakes(net, X, y, 100, seed=0)      # the mistakes to look at
    write_error_sheet(sample, X, "errors.png")            # contact sheet: image, true, predicted, confidence
    write_errors_csv(sample, "errors.csv")                # a spreadsheet with an empty `tags` column
    ...  (tag the rows: "thin stroke;rotated") ...
    summary = tag_summary(read_errors_csv("errors.csv"))  # count, share and error ceiling per tag

A category's share s of the mistakes bounds the gain of fixing it: error e becomes at least e·(1 − s).
The CSV carries the model's fingerprint and the data's identity, so tags for another model or data set are
detected instead of silently miscounted.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.checks import positive_int
from ..utils.files import read_bytes_bounded, write_text_atomic

CSV_FIELDS = ("index", "true", "predicted", "confidence", "tags", "model", "data", "n_examples", "n_errors")
#: largest errors CSV read (one row per sampled mistake: a few hundred bytes each)
MAX_CSV_BYTES = 64 * 2**20


def model_fingerprint(net) -> str:
    """A short hash of the model's architecture and every parameter and buffer (16 hex digits)."""
    h = hashlib.sha256(json.dumps(net.architecture(), sort_keys=True).encode())
    for key, value in sorted(net.arrays().items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(value, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def data_identity(X, y, name="data") -> str:
    """`name:n:hash` of the examples (as float32) and their labels: the same data gives the same identity."""
    X, y = np.asarray(X), np.asarray(y)
    h = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return f"{name}:{len(y)}:{h.hexdigest()[:16]}"


def predictions(net, X):
    """(predicted class, confidence in it) for every example (one sigmoid unit: class 1 when p > 0.5)."""
    proba = net.predict_proba(X)
    if proba.shape[1] == 1:
        p1 = proba[:, 0]
        pred = (p1 > 0.5).astype(np.int64)
        return pred, np.where(pred == 1, p1, 1 - p1).astype(np.float64)
    pred = proba.argmax(axis=1)
    return pred, proba[np.arange(len(pred)), pred].astype(np.float64)


@dataclass
class MistakeSample:
    """Sampled mistakes of one model on one data set, with what is needed to bound the gains."""

    index: np.ndarray       # example indices into the data
    true: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    n_examples: int
    n_errors: int
    model: str = ""
    data: str = ""

    @property
    def error_rate(self) -> float:
        return self.n_errors / self.n_examples

    def __len__(self):
        return len(self.index)


def sample_mistakes(net, X, y, k=100, seed=0, data_name="data") -> MistakeSample:
    """k of the model's mistakes on (X, y), drawn uniformly without replacement with default_rng(seed) (all of
    them when there are fewer), in index order."""
    k = positive_int(k, "the sample size")
    X = net.prepare_inputs(X)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must hold one class label per example, got shape {y.shape} for {len(X)} examples")
    if len(X) == 0:
        raise ValueError("no examples to analyse")
    pred, conf = predictions(net, X)
    wrong = np.flatnonzero(pred != y)
    chosen = np.sort(np.random.default_rng(seed).choice(wrong, size=min(k, len(wrong)), replace=False))
    return MistakeSample(chosen, y[chosen].astype(np.int64), pred[chosen], conf[chosen], len(y), len(wrong),
                         model_fingerprint(net), data_identity(X, y, data_name))


def write_errors_csv(sample: MistakeSample, path) -> Path:
    """One row per sampled mistake with an empty `tags` column to fill in (several tags: "a;b")."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for i, t, p, c in zip(sample.index, sample.true, sample.predicted, sample.confidence):
        w.writerow([int(i), int(t), int(p), f"{c:.4f}", "", sample.model, sample.data, sample.n_examples,
                    sample.n_errors])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, buf.getvalue())
    return path


def _int_cell(row, field, line, path, low=0):
    try:
        v = int(row[field])
    except (TypeError, ValueError):
        raise ValueError(f"{path}: line {line}: {field} must be an integer, got {row[field]!r}") from None
    if v < low:
        raise ValueError(f"{path}: line {line}: {field} must be >= {low}, got {v}")
    return v


@dataclass
class TaggedMistakes:
    """A tagged errors CSV: the rows' indices, labels, predictions and tag lists, plus the run's identity."""

    index: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    tags: list
    model: str
    data: str
    n_examples: int
    n_errors: int

    @property
    def error_rate(self) -> float:
        return self.n_errors / self.n_examples


def read_errors_csv(path) -> TaggedMistakes:
    """Read an errors CSV (as written by `write_errors_csv`, tags filled in); a damaged file is a ValueError."""
    path = Path(path)
    raw = read_bytes_bounded(path, "errors CSV", MAX_CSV_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in CSV_FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: not a numnet errors CSV (missing column(s) {', '.join(missing)})")
    rows = list(reader)
    if not rows:
        raise ValueError(f"{path}: no mistakes listed")
    ids = {(r["model"], r["data"], r["n_examples"], r["n_errors"]) for r in rows}
    if len(ids) != 1:
        raise ValueError(f"{path}: rows come from different models or data sets ({len(ids)} identities)")
    index, true, pred, tags = [], [], [], []
    n_examples = _int_cell(rows[0], "n_examples", 2, path, low=1)
    n_errors = _int_cell(rows[0], "n_errors", 2, path, low=1)
    if n_errors > n_examples:
        raise ValueError(f"{path}: n_errors {n_errors} exceeds n_examples {n_examples}")
    for line, r in enumerate(rows, 2):
        i = _int_cell(r, "index", line, path)
        if i >= n_examples:
            raise ValueError(f"{path}: line {line}: index {i} is outside the data ({n_examples} examples)")
        index.append(i)
        true.append(_int_cell(r, "true", line, path))
        pred.append(_int_cell(r, "predicted", line, path))
        if true[-1] == pred[-1]:
            raise ValueError(f"{path}: line {line}: example {i} is not a mistake (true = predicted = {true[-1]})")
        tags.append(sorted({t.strip() for t in (r["tags"] or "").split(";") if t.strip()}))
    if len(set(index)) != len(index):
        raise ValueError(f"{path}: an example is listed twice")
    if len(index) > n_errors:
        raise ValueError(f"{path}: lists {len(index)} mistakes but the run had only {n_errors}")
    model, data = rows[0]["model"], rows[0]["data"]
    return TaggedMistakes(np.array(index), np.array(true), np.array(pred), tags, model, data, n_examples, n_errors)


def check_tags_match(tagged: TaggedMistakes, net, X, y, data_name="data") -> None:
    """ValueError unless the CSV was written for this model and these data (and its rows are its mistakes)."""
    fp = model_fingerprint(net)
    if tagged.model != fp:
        raise ValueError(f"the errors CSV was written for another model (fingerprint {tagged.model}, "
                         f"this model is {fp})")
    ident = data_identity(net.prepare_inputs(X), y, data_name)
    if tagged.data != ident:
        raise ValueError(f"the errors CSV was written for other data ({tagged.data}; these data are {ident})")
    if tagged.index.max() >= len(y):
        raise ValueError(f"the errors CSV lists example {tagged.index.max()} but the data have {len(y)}")
    pred, _ = predictions(net, X[tagged.index])
    bad = np.flatnonzero((pred != tagged.predicted) | (np.asarray(y)[tagged.index] != tagged.true))
    if len(bad):
        raise ValueError(f"the errors CSV does not match the model's predictions (example {tagged.index[bad[0]]})")


def tag_summary(tagged: TaggedMistakes) -> list[dict]:
    """Per tag (most frequent first): count, share of the sampled mistakes and the error ceiling: the error
    rate if every mistake with this tag were fixed, e·(1 − share). Untagged rows count as "(untagged)"."""
    counts: dict[str, int] = {}
    for tags in tagged.tags:
        for t in tags or ["(untagged)"]:
            counts[t] = counts.get(t, 0) + 1
    n, e = len(tagged.tags), tagged.error_rate
    rows = [{"tag": t, "count": c, "share": c / n, "error": e, "error_if_fixed": e * (1 - c / n)}
            for t, c in counts.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["tag"] == "(untagged)", r["tag"]))


def format_tag_summary(rows: list[dict], tagged: TaggedMistakes) -> str:
    from ..utils.tables import format_table

    table = format_table([[r["tag"], r["count"], f"{100 * r['share']:.0f}%", f"{100 * r['error']:.2f}%",
                           "-" if r["tag"] == "(untagged)" else f"{100 * r['error_if_fixed']:.2f}%"] for r in rows],
                         ["tag", "mistakes", "share", "error now", "error if all fixed (at best)"], markdown=False)
    lines = [f"{len(tagged.tags)} sampled mistakes of {tagged.n_errors} ({100 * tagged.error_rate:.2f}% error on "
             f"{tagged.n_examples} examples; model {tagged.model}, data {tagged.data})", table]
    best = next((r for r in rows if r["tag"] != "(untagged)"), None)
    if best:
        lines.append(f"fixing every {best['tag']!r} mistake would lower the error from {100 * best['error']:.2f}% "
                     f"to at least {100 * best['error_if_fixed']:.2f}% (fixing them all: the most this category can gain)")
    return "\n".join(lines)


def write_error_sheet(sample, X, path, shape=(28, 28), columns=10, title=None) -> Path:
    """A contact sheet PNG of the sampled mistakes: each image with 'true → predicted (confidence)'. `sample`
    is a MistakeSample or anything with index / true / predicted / confidence (or a `labels` list of titles)."""
    from .plots import save_figure

    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"a contact sheet needs images of {shape[0]}×{shape[1]} pixels; the data have "
                         f"{X.shape[1] if X.ndim == 2 else '?'} features")
    index = np.asarray(sample.index)
    labels = getattr(sample, "labels", None) or [f"#{i}: {t}→{p} ({c:.2f})" for i, t, p, c in
                                                 zip(index, sample.true, sample.predicted, sample.confidence)]
    # one mosaic image with a text band above each cell (far faster than one Axes per image)
    h, w = shape
    band, gap = 9, 2
    n = len(index)
    rows = max(1, -(-n // columns))
    cell_h, cell_w = h + band + gap, w + gap
    mosaic = np.full((rows * cell_h, columns * cell_w), np.nan)
    fig = _grid_figure(n, columns)
    ax = fig.add_axes((0, 0, 1, 0.97 if title else 1))
    for k, i in enumerate(index):
        r, c = divmod(k, columns)
        mosaic[r * cell_h + band:r * cell_h + band + h, c * cell_w:c * cell_w + w] = X[i].reshape(shape)
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    for k, text in enumerate(labels):
        r, c = divmod(k, columns)
        ax.text(c * cell_w + w / 2, r * cell_h + band - 1.5, text, ha="center", va="bottom", fontsize=5.5)
    ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def _grid_figure(n, columns):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("the contact sheet needs matplotlib: pip install 'numnet[plot]'") from e
    rows = max(1, -(-n // columns))
    fig = Figure(figsize=(columns * 1.1, rows * 1.4 + 0.3))
    FigureCanvasAgg(fig)
    return fig
