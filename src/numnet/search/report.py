"""A search's report: trials.csv, best.toml (a config `numnet train --config` runs), PNG plots (validation
accuracy against each setting on its own scale, best-so-far over time, parallel coordinates) and a table."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..utils.files import write_text_atomic
from ..utils.tables import format_table
from .optuna_compat import retried_from
from .space import Space

FIXED_COLUMNS = ("stage", "number", "state")
TAIL_COLUMNS = ("sizes", "best_epoch", "epochs_run", "val_accuracy", "seconds", "retry_of", "start", "end",
                "config")
#: settings that make trials fast but are not part of the best configuration (see best_config)
TRIAL_ONLY = ("train_size",)


def trial_rows(study, space: Space, stage: int) -> list[dict]:
    """One dict per trial: stage, number, state, every searched setting, sizes, best epoch, accuracy, time."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("nothing_queued"):  # a grid worker's empty ask (see search.objective.NothingQueued)
            continue
        row = {"stage": stage, "number": t.number, "state": t.state.name}
        for name, p in space.params.items():
            row[name] = p.from_trial(t.params)
        cfg = t.user_attrs.get("config") or {}
        row["sizes"] = "-".join(map(str, cfg["sizes"])) if cfg.get("sizes") else None
        row["best_epoch"] = t.user_attrs.get("best_epoch")
        row["epochs_run"] = t.user_attrs.get("epochs_run")
        if t.value is not None:
            row["val_accuracy"] = t.value
        else:
            row["val_accuracy"] = t.user_attrs.get("best_so_far")
        row["seconds"] = t.user_attrs.get("seconds")
        row["retry_of"] = retried_from(t)
        row["start"] = t.datetime_start.timestamp() if t.datetime_start else None
        row["end"] = t.datetime_complete.timestamp() if t.datetime_complete else None
        row["_config"] = cfg
        row["config"] = json.dumps(cfg, sort_keys=True) if cfg else None
        rows.append(row)
    return rows


def columns(space: Space) -> list[str]:
    return [*FIXED_COLUMNS, *space.params, *TAIL_COLUMNS]


def write_csv(rows, cols, path) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    write_text_atomic(path, buf.getvalue())
    return Path(path)


def read_rows(path) -> list[dict]:
    """trials.csv's rows (strings; `_config`: the trial's settings, parsed from the `config` column)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        try:
            cfg = json.loads(r.get("config") or "null")
        except ValueError:
            cfg = None
        r["_config"] = cfg if isinstance(cfg, dict) else {}
    return rows


def toml_text(cfg: dict, comment: str = "") -> str:
    """Flat settings as TOML (None values left out)."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for k in sorted(cfg):
        v = cfg[k]
        if v is None:
            continue
        if isinstance(v, float) and not math.isfinite(v):
            continue
        lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def best_row(rows):
    """The completed trial with the highest validation accuracy (None when none completed)."""
    done = [r for r in rows if r["state"] == "COMPLETE" and r.get("val_accuracy") not in (None, "")]
    return max(done, key=lambda r: float(r["val_accuracy"])) if done else None


def best_config(cfg: dict, keep_trial_only: bool = False) -> tuple[dict, str]:
    """A trial's settings as the best configuration: without the trial-only subset (train_size: trials ran on
    the first N images to be fast; the best configuration trains on the whole training set) unless
    keep_trial_only; and a note of what was left out."""
    dropped = {k: cfg[k] for k in TRIAL_ONLY if cfg.get(k) is not None and not keep_trial_only}
    note = "".join(f"\nthe trials ran with {k} = {json.dumps(v)}; left out here so that training uses the default "
                   f"(numnet search --keep-train-size keeps it)" for k, v in dropped.items())
    return {k: v for k, v in cfg.items() if k not in dropped}, note


def write_report(result, space: Space, out: Path, previous=(), keep_train_size: bool = False) -> None:
    """Fill result.rows/best/paths/table and write the files into `out`. The best trial is the best of every
    stage in the table (a refined stage that did worse leaves the earlier best in best.toml)."""
    rows = trial_rows(result.study, space, result.stage)
    cols = columns(space)
    all_rows = [dict(r) for r in previous] + rows
    result.rows = all_rows
    result.paths["csv"] = write_csv(all_rows, cols, out / "trials.csv")
    result.best = best_row(all_rows)
    best = result.best if result.best and result.best.get("_config") else best_row(rows)  # older CSVs: no config
    if best is not None and best.get("_config"):
        cfg, note = best_config(best["_config"], keep_train_size)
        where = f"study {result.study.study_name!r}, " if int(best["stage"]) == result.stage else ""
        comment = (f"best trial of numnet search: {where}stage {best['stage']}, trial {best['number']}"
                   f"\nvalidation accuracy {100 * float(best['val_accuracy']):.2f}% (epoch {best['best_epoch']})"
                   f"{note}\ntrain it with: numnet train --config {out / 'best.toml'}")
        path = out / "best.toml"
        write_text_atomic(path, toml_text(cfg, comment))
        result.paths["best"] = path
    result.table = format_rows(all_rows, space)
    try:
        result.paths["plots"] = plot_search(all_rows, space, out)
    except ImportError:
        result.paths["plots"] = []


def format_rows(rows, space: Space, limit: int = 15) -> str:
    """The best `limit` finished trials (all stages), best first."""
    done = [r for r in rows if r.get("val_accuracy") not in (None, "") and r["state"] in ("COMPLETE", "PRUNED")]
    done.sort(key=lambda r: (r["state"] != "COMPLETE", -float(r["val_accuracy"])))
    headers = ["stage", "trial", "state", *space.params, "epoch", "val acc", "seconds"]
    body = []
    for r in done[:limit]:
        cells = [r["stage"], r["number"], str(r["state"]).lower()]
        for name in space.params:
            v = r.get(name)
            cells.append(_fmt(v))
        cells += [r.get("best_epoch") or "", f"{100 * float(r['val_accuracy']):.2f}%",
                  "" if r.get("seconds") in (None, "") else f"{float(r['seconds']):.1f}"]
        body.append(cells)
    counts = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    return format_table(body, headers, markdown=False) + f"\n{len(rows)} trials: {summary}"


def _fmt(v):
    if v in (None, ""):
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.4g}"


# ---------------------------------------------------------------------------------------------- plots
def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def plot_search(rows, space: Space, out: Path) -> list[Path]:
    """The search plots as PNGs in the output folder. Long: one figure with its panels (against each setting, best
    so far, parallel coordinates)."""
    from ..report.plots import COLORS, figure, save_figure

    out = Path(out)
    paths = []
    finished = [r for r in rows if r["state"] in ("COMPLETE", "PRUNED") and _num(r.get("val_accuracy")) is not None]
    if not finished:
        return paths
    stages = sorted({int(r["stage"]) for r in finished})
    for name, p in space.params.items():
        fig, ax = figure((6.0, 4.0))
        for si, stage in enumerate(stages):
            for state, marker in (("COMPLETE", "o"), ("PRUNED", "x")):
                sel = [r for r in finished if int(r["stage"]) == stage and r["state"] == state
                       and r.get(name) not in (None, "")]
                if not sel:
                    continue
                acc = [100 * float(r["val_accuracy"]) for r in sel]
                if p.dist == "choice":
                    labels = [str(v) for v in p.values]
                    xs = [labels.index(str(r[name])) if str(r[name]) in labels else -1 for r in sel]
                    xs = np.array(xs, dtype=float) + np.random.default_rng(0).uniform(-0.15, 0.15, len(xs))
                    ax.set_xticks(range(len(labels)), labels)
                elif p.dist == "one-minus-log":
                    xs = [1 - float(r[name]) for r in sel]
                else:
                    xs = [float(r[name]) for r in sel]
                ax.scatter(xs, acc, marker=marker, color=COLORS[si % len(COLORS)], alpha=0.8,
                           label=f"stage {stage}{' (pruned: last value)' if state == 'PRUNED' else ''}")
        if p.dist in ("log", "int-log", "one-minus-log"):
            ax.set_xscale("log")
        ax.set_xlabel(f"1 − {name} (log scale)" if p.dist == "one-minus-log"
                      else f"{name}{' (log scale)' if p.dist in ('log', 'int-log') else ''}")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title(f"validation accuracy vs {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out / f"accuracy-vs-{name}.png"))

    timed = sorted((r for r in finished if _num(r.get("end")) is not None), key=lambda r: float(r["end"]))
    if timed:
        fig, ax = figure((6.0, 4.0))
        t0 = min(float(r["start"]) for r in timed if _num(r.get("start")) is not None)
        best, xs, ys = -1.0, [], []
        for r in timed:
            if r["state"] == "COMPLETE":
                best = max(best, float(r["val_accuracy"]))
            if best >= 0:
                xs.append(float(r["end"]) - t0)
                ys.append(100 * best)
        ax.step(xs, ys, where="post", color=COLORS[0])
        ax.plot(xs, ys, "o", color=COLORS[0], markersize=3)
        ax.set_xlabel("seconds since the first trial started")
        ax.set_ylabel("best validation accuracy so far (%)")
        ax.set_title("best so far")
        ax.grid(alpha=0.3)
        paths.append(save_figure(fig, out / "best-so-far.png"))

    names = list(space.params)
    done = [r for r in finished if r["state"] == "COMPLETE"]
    if len(names) >= 1 and done:
        from matplotlib import colormaps

        fig, ax = figure((1.6 * max(3, len(names)) + 1.5, 4.5))
        acc = np.array([float(r["val_accuracy"]) for r in done])
        lo, hi = acc.min(), acc.max()
        cmap = colormaps["viridis"]
        order = np.argsort(acc)
        for i in order:
            r = done[i]
            ys = [_axis_position(space.params[n], r.get(n)) for n in names]
            ax.plot(range(len(names)), ys, color=cmap(0.0 if hi == lo else (acc[i] - lo) / (hi - lo)), alpha=0.8)
        ax.set_xticks(range(len(names)), [f"1−{n} (log)" if space.params[n].dist == "one-minus-log"
                                          else n + (" (log)" if space.params[n].dist in ("log", "int-log") else "")
                                          for n in names])
        ax.set_yticks([0, 1], ["low", "high"])
        for x, n in enumerate(names):  # each axis carries its own values: its range's ends (and middle), or choices
            for pos, label in _axis_labels(space.params[n]):
                ax.text(x + 0.04, pos, label, fontsize=7, va="center", ha="left",
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1})
            ax.axvline(x, color="gray", linewidth=0.8, zorder=0)
        ax.set_title(f"parallel coordinates (colour: validation accuracy {100 * lo:.1f}% → {100 * hi:.1f}%)")
        paths.append(save_figure(fig, out / "parallel-coordinates.png"))
    return paths


def _axis_labels(p) -> list[tuple[float, str]]:
    """(position in [0, 1], value text) marks along one parallel-coordinate axis."""
    if p.dist == "choice":
        return [(i / max(1, len(p.values) - 1), str(v)) for i, v in enumerate(p.values)]
    a, b = p.to_scale(p.low), p.to_scale(p.high)
    marks = []
    for t in (0.0, 0.5, 1.0):
        value = p.low if t == 0 else p.high if t == 1 else p.from_scale(a + t * (b - a))  # middle: own scale
        marks.append((t, f"{round(value):d}" if p.is_int else f"{value:.3g}"))
    return marks


def _axis_position(p, v):
    """A value's position in [0, 1] along its setting's range on its own scale (choice: its index)."""
    if v in (None, ""):
        return np.nan
    if p.dist == "choice":
        labels = [str(x) for x in p.values]
        return labels.index(str(v)) / max(1, len(labels) - 1) if str(v) in labels else np.nan
    a, b = p.to_scale(p.low), p.to_scale(p.high)
    return (p.to_scale(float(v)) - a) / (b - a) if b != a else 0.5
