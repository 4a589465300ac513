"""Reading a search while it runs: the studies in a storage and one study's trials as plain data (the
lab's Search panel). Storages are opened read-only (study.open_storage(read_only=True)): a reader never
writes to a running search's journal nor takes its lock."""
from __future__ import annotations

import time

from .report import best_row, trial_rows
from .space import space_from_dict
from .optuna_compat import study_id
from .study import STUDY_ATTR, SearchError, import_optuna

#: how a setting's axis is drawn: its values on a log scale, 1 − value on a log scale, linear, categories
SCALES = {"log": "log", "int-log": "log", "one-minus-log": "one-minus-log", "int": "linear",
          "uniform": "linear", "choice": "choice"}


class StudyNotFound(SearchError):
    """No study of that name in the storage."""


def list_studies(storage) -> list[dict]:
    """Each study in a storage: name, whether numnet search made it, trial counts by state, best value."""
    out = []
    for s in storage.get_all_studies():
        trials = storage.get_all_trials(study_id(s), deepcopy=False)
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        values = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None]
        out.append({"name": s.study_name, "numnet": STUDY_ATTR in s.user_attrs, "trials": len(trials),
                    "counts": counts, "best": max(values) if values else None})
    return sorted(out, key=lambda s: s["name"])


def study_trials(storage, name: str, now: float | None = None) -> dict:
    """A numnet study's trials for a live view: each searched setting with its scale, one row per trial
    (number, state, value, settings, duration), the best completed trial and the counts by state."""
    optuna = import_optuna()
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler())
    except KeyError:
        raise StudyNotFound(f"no study named {name!r}") from None
    meta = study.user_attrs.get(STUDY_ATTR)
    if not isinstance(meta, dict) or "space" not in meta:
        raise SearchError(f"study {name!r} is not a numnet search")
    space = space_from_dict(meta["space"])
    rows = trial_rows(study, space, meta.get("stage") or 1)
    now = time.time() if now is None else now
    trials, counts = [], {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
        start, end = r["start"], r["end"]
        if start is not None and end is not None:
            duration = end - start
        elif start is not None and r["state"] == "RUNNING":
            duration = now - start
        else:
            duration = r["seconds"]
        trials.append({"number": r["number"], "state": r["state"], "value": r["val_accuracy"],
                       "params": {n: r[n] for n in space.params}, "duration": duration,
                       "epochs_run": r["epochs_run"], "best_epoch": r["best_epoch"], "sizes": r["sizes"],
                       "retry_of": r["retry_of"]})
    best = best_row(rows)
    params = [{"name": n, "dist": p.dist, "scale": SCALES[p.dist], "low": p.low, "high": p.high,
               "values": p.values} for n, p in space.params.items()]
    return {"study": name, "objective": "validation accuracy", "direction": "maximize", "stage": meta.get("stage"),
            "epochs": meta.get("epochs"), "params": params, "trials": trials, "counts": counts,
            "best": None if best is None else next(t for t in trials if t["number"] == best["number"]),
            "running": counts.get("RUNNING", 0) > 0}


__all__ = ["list_studies", "study_trials", "StudyNotFound", "SCALES"]
