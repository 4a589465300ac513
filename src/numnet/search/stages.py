"""Coarse to fine: the stages of a search folder (space.json) and the refined space of the next stage."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import SearchError
from .space import Space, refine, space_from_dict

STAGES_FILE = "space.json"


def read_stages(folder: Path) -> dict:
    """folder/space.json: {"stages": {"1": {study, storage, space, source, ...}, ...}} (empty if none)."""
    path = Path(folder) / STAGES_FILE
    if not path.is_file():
        return {}
    try:
        return {int(k): v for k, v in json.loads(path.read_text())["stages"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SearchError(f"{path} is damaged: {e}") from None


def record_stage(out: Path, stage: int, info: dict) -> None:
    from ..utils.files import write_text_atomic

    stages = read_stages(out)
    stages[stage] = info
    write_text_atomic(out / STAGES_FILE, json.dumps({"stages": {str(k): v for k, v in sorted(stages.items())}},
                                                    indent=1))


def _inside(space: Space, row: dict) -> bool:
    """Whether a trial's values all lie in the space (earlier stages' trials may lie outside a refined one)."""
    for name, p in space.params.items():
        v = row.get(name)
        if v in (None, ""):
            return False
        if p.dist == "choice":
            if str(v) not in {str(x) for x in p.values}:
                return False
        elif not p.low - 1e-9 * abs(p.low) <= float(v) <= p.high + 1e-9 * abs(p.high):
            return False
    return True


def refined(space: Space, folder: Path, top: int, out: Path, say):
    """Coarse to fine from the search in `folder`: (refined space, its stage, the earlier stages' rows, source).
    The source stage is the folder's latest, unless `out` already holds a stage refined from this folder
    with the same --top: then that stage is continued (rerunning a command continues it). The top trials are
    the best completed ones of every stage up to the source that lie in the source's space."""
    from .report import read_rows

    stages, rows_file = read_stages(folder), folder / "trials.csv"
    if not stages or not rows_file.is_file():
        raise SearchError(f"--refine-from {folder}: no finished search there ({STAGES_FILE} and trials.csv)")
    src = max(stages)
    for info in read_stages(out).values():
        s = info.get("source") or {}
        if s.get("dir") == str(folder.resolve()) and s.get("top") == top and s.get("stage") in stages:
            src = s["stage"]
    prev_space = space_from_dict(stages[src]["space"])
    if set(prev_space.params) != set(space.params):
        raise SearchError(f"--refine-from {folder}: that search had settings {', '.join(sorted(prev_space.params))}, "
                          f"this space {', '.join(sorted(space.params))}")
    rows = read_rows(rows_file)
    done = [r for r in rows if int(r["stage"]) <= src and r["state"] == "COMPLETE" and r["val_accuracy"]
            and _inside(prev_space, r)]
    done.sort(key=lambda r: -float(r["val_accuracy"]))
    if not done:
        raise SearchError(f"--refine-from {folder}: no completed trials to refine from")
    new = refine(prev_space, done[:top])
    for name, p in new.params.items():
        say(f"stage {src + 1}: {name} " + (f"in {p.values}" if p.dist == "choice"
                                           else f"in [{p.low:.4g}, {p.high:.4g}] ({p.dist})"))
    source = {"dir": str(folder.resolve()), "stage": src, "top": top}
    return new, src + 1, [r for r in rows if int(r["stage"]) <= src], source


__all__ = ["read_stages", "record_stage", "refined", "STAGES_FILE"]
