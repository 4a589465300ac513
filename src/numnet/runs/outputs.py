"""What a run leaves behind and guards: the training split recorded in the model file (so `diagnose` rebuilds
the same training-dev set), the model path a resumed run saves to, the file a Ctrl-C rescues the model into,
and a lock that keeps two runs from writing the same model file."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from ..utils.archive import read_archive
from ..utils.files import write_text_atomic
from ..utils.jsonio import read_json
from ..utils.locks import Busy, hold

RUN_FILE = "run.json"
#: what run.json holds beside the settings: the model path (where --resume saves) and the run's state
RUN_EXTRAS = ("out", "state")

#: the settings that decide which images a run trained on (and which it held out)
SPLIT_KEYS = ("data", "seed", "train_size", "validation_size", "train_dev_size", "classes")


OutputBusy = Busy  # another run holds the lock (a ValueError: one line, exit status 2)


def training_meta(cfg: dict) -> dict:
    """The model file's extra field: {"training": the split settings} (see SPLIT_KEYS)."""
    return {"training": {k: cfg.get(k) for k in SPLIT_KEYS}}


def read_training_meta(path) -> dict | None:
    """The split a model file records (None for a model saved without it, e.g. by older numnet or the API)."""
    meta, _ = read_archive(path, "model file")
    training = meta.get("training")
    return training if isinstance(training, dict) else None


def write_run_file(directory, cfg: dict, out, state: str) -> None:
    """DIR/run.json: the settings, the model path and the state ("running", "finished", "stopped": `numnet
    watch` exits on the last two)."""
    extras = {"out": str(Path(out).resolve()) if out else None, "state": state}
    write_text_atomic(Path(directory) / RUN_FILE, json.dumps({**cfg, **extras}, indent=1))


def run_state(directory) -> str | None:
    """The state run.json records in a run folder (None: no readable run.json, or none recorded)."""
    try:
        saved = read_json(Path(directory) / RUN_FILE, RUN_FILE)
    except (OSError, ValueError):
        return None
    return saved.get("state") if isinstance(saved, dict) else None


def resumed_out(resume, default) -> str:
    """Where a resumed run saves its model: the --out recorded in the run folder's run.json, else `default`."""
    run_file = Path(resume) / RUN_FILE
    try:
        saved = read_json(run_file, str(run_file)) if run_file.is_file() else {}
    except ValueError:
        saved = {}
    out = saved.get("out") if isinstance(saved, dict) else None
    return out if isinstance(out, str) and out else default


def interrupted_path(out) -> Path:
    """The rescue file for a model interrupted before it finished: `NAME-interrupted.npz` beside --out."""
    out = Path(out)
    return out.with_name(f"{out.stem}-interrupted{out.suffix or '.npz'}")


def hold_output(path):
    """The exclusive lock on model file `path` while a run trains (utils/locks.py: a second run on the same path
    gets OutputBusy at once); nothing is held for None."""
    return contextlib.nullcontext() if path is None else hold(path, f"--out {path}")


def diagnosis_split(recorded: dict | None, seed=None, train_size=None, train_dev_size=None) -> tuple[dict, list]:
    """The split `diagnose` must rebuild: the model's recorded one, with the flags given checked against it (a
    different value is an error: it would give a wrong ladder), or the flags alone for a model that records
    none (seed 0 when not given). Returns (split, notes to print)."""
    flags = {"seed": seed, "train_size": train_size, "train_dev_size": train_dev_size}
    if recorded is None:
        notes = ["note: the model file records no training split (saved by older numnet or the API); using the "
                 "flags given" + ("" if seed is not None or not train_dev_size else ", seed 0")]
        return {"validation_size": None, "classes": None, **flags, "seed": 0 if seed is None else seed}, notes
    if recorded.get("data") not in (None, "mnist"):
        raise ValueError(f"the model was trained on {recorded['data']} data, not MNIST: diagnose needs an MNIST model")
    for key, value in flags.items():
        if value is not None and value != recorded.get(key):
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"the model was trained with {flag} {recorded.get(key)}, not {value}: another value "
                             f"gives another split and a wrong ladder; drop {flag} (the model's split is used)")
    return {k: recorded.get(k) for k in ("seed", "train_size", "train_dev_size", "validation_size", "classes")}, []
