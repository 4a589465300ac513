"""Checkpoints: one file, `checkpoint.npz`, holding everything needed to continue a run exactly — network,
optimizer (with its state), schedule (with its state), the initial rate, the random generator's state, the
last finished epoch, the history, the run's settings and every callback's state. Written atomically after
each epoch (never half old and half new), in numnet's NPZ + JSON archive format.

This module knows the model only through its interface (`architecture`, `arrays`, `parameters`); reading a
checkpoint takes the function that builds a network from an architecture (`Network.from_architecture`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.archive import Prefixed, read_archive, write_archive
from ..utils.backend import is_array
from .history import History
from .optimizers import Optimizer, make_optimizer
from .schedules import Schedule, from_config as schedule_from_config

CHECKPOINT_FILE = "checkpoint.npz"
CHECKPOINT_FORMAT = "numnet-checkpoint"
CHECKPOINT_VERSION = 2  # 1: early stopping's state in its own field (still read)


@dataclass
class Checkpoint:
    """A run as it stood after `epoch` epochs."""

    network: object
    optimizer: Optimizer
    schedule: Schedule
    lr0: float
    rng_state: dict
    epoch: int
    history: History
    settings: dict = field(default_factory=dict)
    callbacks: dict = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(directory, trainer) -> Path:
    """Write `directory/checkpoint.npz` and `directory/history.json` from a trainer's current state."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    net, optimizer = trainer.net, trainer.optimizer
    opt_states = optimizer.state_dict(net.param_arrays())
    arrays = {f"model.{k}": v for k, v in net.arrays().items()}
    opt_scalars = []
    for i, s in enumerate(opt_states):
        scalars = {}
        for k, v in s.items():
            if is_array(v):
                arrays[f"opt.{i}.{k}"] = v
            else:
                scalars[k] = v
        opt_scalars.append(scalars)
    callbacks = {}
    for cb in trainer.callbacks:
        state = cb.state_dict()
        if state is None:
            continue
        state = dict(state)
        for k, v in (state.pop("arrays", None) or {}).items():
            arrays[f"cb.{cb.key}.{k}"] = v
        callbacks[cb.key] = state
    meta = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": trainer.epoch,
        "model": net.architecture(),
        "optimizer": {"config": optimizer.config(), "has_state": [bool(s) for s in opt_states],
                      "scalars": opt_scalars},
        "schedule": {"config": trainer.schedule.config(), "state": trainer.schedule.state_dict()},
        "lr0": trainer.lr0, "rng": trainer.rng.bit_generator.state, "history": trainer.history.to_dict(),
        "settings": trainer.settings, "callbacks": callbacks,
    }
    path = write_archive(directory / CHECKPOINT_FILE, meta, arrays)
    trainer.history.save(directory / "history.json")
    return path


def load_checkpoint(directory, build) -> Checkpoint:
    """Read a checkpoint directory; `build(architecture, arrays, source)` makes the network. A missing or
    damaged checkpoint is an error naming the problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {directory}")
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {directory}: not a numnet checkpoint directory")
    meta, arrays = read_archive(path, "checkpoint")
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a numnet checkpoint")
    if meta.get("version") not in (1, CHECKPOINT_VERSION):
        raise ValueError(f"{path}: unsupported checkpoint version {meta.get('version')!r}")
    for key in ("epoch", "model", "optimizer", "schedule", "lr0", "rng", "history", "settings"):
        if key not in meta:
            raise ValueError(f"{path}: checkpoint is damaged: missing field {key!r}")
    unexpected = [k for k in arrays if not k.startswith(("model.", "opt.", "cb.", "best."))]
    if unexpected:
        raise ValueError(f"{path}: checkpoint holds unexpected array(s) {', '.join(repr(k[:60]) for k in unexpected[:5])}")
    net = build(meta["model"], Prefixed(arrays, "model."), str(path))
    try:
        oc = dict(meta["optimizer"]["config"])
        optimizer = make_optimizer(oc.pop("name"), **oc)
        params = net.param_arrays()
        states = []
        for i, (has, scalars) in enumerate(zip(meta["optimizer"]["has_state"], meta["optimizer"]["scalars"])):
            if not has:
                states.append({})
                continue
            s = dict(scalars)
            s.update({k.split(".", 2)[2]: v for k, v in arrays.items() if k.startswith(f"opt.{i}.")})
            states.append(s)
        optimizer.load_state_dict(params, states)
        schedule = schedule_from_config(meta["schedule"]["config"])
        schedule.load_state_dict(meta["schedule"]["state"])
        history = History.from_dict(meta["history"])
        epoch = int(meta["epoch"])
        lr0 = float(meta["lr0"])
        np.random.default_rng().bit_generator.state = meta["rng"]  # validates the saved state
        callbacks = _callback_states(meta, arrays)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: checkpoint is damaged: {e!r}") from None
    except ValueError as e:
        raise ValueError(f"{path}: checkpoint is damaged: {e}") from None
    return Checkpoint(network=net, optimizer=optimizer, schedule=schedule, lr0=lr0, rng_state=meta["rng"],
                      epoch=epoch, history=history, settings=meta["settings"], callbacks=callbacks, path=directory)


def _callback_states(meta, arrays) -> dict:
    if meta["version"] == 1:  # early stopping had its own field, its best weights the prefix "best."
        es = meta.get("early_stopping")
        if not es:
            return {}
        best = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")}
        return {"EarlyStopping": {"config": es["config"], **es["state"], "arrays": best}}
    states = {}
    for key, state in dict(meta.get("callbacks") or {}).items():
        if not isinstance(state, dict):
            raise ValueError(f"callback state {key!r} must be an object")
        prefix = f"cb.{key}."
        states[key] = {**state, "arrays": {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}}
    return states
