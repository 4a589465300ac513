"""The notes, figure by figure: every figure or experiment of the five source notes (Nielsen's book, Ng's
course parts 1-3, Saito's book, the activation notes), regenerated from numnet's own runs as a PNG and a small
Markdown table. `FIGURES` lists them; `make(name, out, full=False)` draws one (under a minute on 2 cores by
default; `full` runs the longer variant). `numnet figures` is the command line.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...utils.files import check_output_dir

__all__ = ["Figure", "FIGURES", "make", "describe"]


@dataclass(frozen=True)
class Figure:
    """One figure: where it comes from in the notes and what it shows; `draw(out, full)` writes its files
    and returns {"files": [paths], "summary": one line}."""

    name: str
    note: str
    section: str
    shows: str
    draw: Callable | None = None
    script: str | None = None  # an existing benchmark script (run from a source checkout), for `draw` None


FIGURES: dict[str, Figure] = {}


def figure(name, note, section, shows):
    """Decorator: register `draw(out, full)` as the figure `name`."""
    def register(draw):
        FIGURES[name] = Figure(name, note, section, shows, draw)
        return draw
    return register


def _script(name, note, section, shows, script):
    FIGURES[name] = Figure(name, note, section, shows, None, script)


def describe(fig: Figure) -> str:
    return f"{fig.name:<16} {fig.note}, {fig.section}: {fig.shows}"


def make(name: str, out, full: bool = False) -> dict:
    """Draw figure `name` into the folder `out` (created); returns {"files": [...], "summary": "..."}."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; figures: {', '.join(FIGURES)}")
    out = check_output_dir(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    fig = FIGURES[name]
    if fig.draw is not None:
        return fig.draw(out, full)
    return _run_script(fig, out, full)


def _run_script(fig: Figure, out: Path, full: bool) -> dict:
    """Run an existing benchmark script of the source checkout, its report going to out/NAME.md."""
    root = Path(__file__).resolve().parents[4]
    path = root / fig.script.split()[0]
    if not path.is_file():
        raise ValueError(f"figure {fig.name!r} runs {fig.script.split()[0]}, which is only in a source checkout "
                         f"of numnet")
    args = [a.format(out=out) for a in fig.script.split()[1:] if not (full and a == "--quick")]
    done = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise ValueError(f"{fig.script} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    md = out / f"{fig.name}.md"
    from ...utils.files import write_text_atomic

    write_text_atomic(md, f"# {fig.name}\n\n`python {fig.script}`\n\n```\n{done.stdout.strip()}\n```\n")
    return {"files": [md], "summary": (done.stdout.strip().splitlines() or [""])[-1]}


from . import nets, optim  # noqa: E402,F401  (they register their figures)

_script("mismatch", "Ng course 3 (the zhihu summary)", "数据不匹配 (data mismatch)",
        "the error ladder with shifted dev/test images, and artificial data synthesis as the remedy",
        "benchmarks/mismatch.py --quick")
_script("transfer", "Ng course 3", "迁移学习 (transfer learning)",
        "pretraining on digits 0-4 helps digits 5-9 most when task B has few examples",
        "benchmarks/transfer.py --quick")
_script("multitask", "Ng course 3", "多任务学习 (multi-task learning)",
        "one network with several sigmoid outputs against one network per task, with missing labels",
        "benchmarks/multitask.py --quick")
_script("blocks", "activation notes / Ng course 2", "maxout, input standardisation, vanishing gradients",
        "maxout against ReLU, standardised inputs, per-layer gradient norms", "benchmarks/blocks.py --quick")
_script("search", "Ng course 2", "超参数调试 (hyperparameter search: random, coarse to fine)",
        "an Optuna search of the MNIST space: the importance and scatter plots", "benchmarks/search.py picture --out {out}/search --repeats 20")
