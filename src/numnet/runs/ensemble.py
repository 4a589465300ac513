"""An ensemble run (`numnet train --ensemble K`): K networks of the run's settings, seeds S, S+1, …, S+K−1 for
their weights, trained at once as one population on the mini-batches of seed S, saved as one model file whose
`predict` averages the members' probabilities. Member i is the network `numnet train --seed S+i` would build,
trained on seed S's batch order (numnet.Population's equivalence)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..model.evaluation import Evaluation
from ..model.population import Ensemble, Population
from ..train.history import MemberHistories
from ..utils.backend import CPU, require_device
from .run import AUGMENTS, RunError, build_optimizer, build_schedule, check_output_paths, mnist_data, \
    resolve_settings

#: settings an ensemble run does not take (each keeps one network's state or file)
UNSUPPORTED = {"init_from": "--init-from", "fine_tune_lr": "--fine-tune-lr", "early_stopping": "--early-stopping",
               "gradient_health": "--gradient-health", "standardize": "--standardize",
               "train_dev_size": "--train-dev-size"}


@dataclass
class EnsembleResult:
    """The trained ensemble, its members' histories, the ensemble's and each member's test metrics."""

    model: Ensemble
    histories: MemberHistories
    test: Evaluation
    members: list
    settings: dict
    seconds: float
    paths: dict = field(default_factory=dict)


def run_ensemble(k, recipe=None, config=None, overrides=None, *, out=None, memory=None, verbose=1,
                 log=None) -> EnsembleResult:
    """Train an ensemble of `k` members from the settings (as `run`'s) and save it to `out`."""
    say = log or (lambda msg: None)
    check_output_paths({"--out": out})
    cfg = resolve_settings(recipe, config, overrides)
    given = [flag for key, flag in UNSUPPORTED.items() if cfg.get(key)]
    if cfg.get("data") == "random_regression":
        given.append("--data random_regression")
    if given or str(cfg.get("schedule")) == "plateau":
        raise RunError(f"--ensemble does not take {', '.join(given) or '--schedule plateau'} (per-network state)")
    require_device(cfg["device"])
    seeds = [cfg["seed"] + i for i in range(k)]
    init = cfg["init"] if cfg["init_std"] is None else {"name": cfg["init"], "std": cfg["init_std"]}
    pop = Population.from_sizes(cfg["sizes"], seeds=seeds, activation=cfg["activation"], output=cfg["output"],
                                cost=cfg["cost"], init=init, dtype=cfg["dtype"], keep_prob=cfg["keep_prob"],
                                batch_norm=cfg["batch_norm"], pieces=cfg["pieces"], bias_init=cfg["bias_init"],
                                memory_budget=memory)
    (X, y), (Xv, yv), (Xt, yt) = mnist_data(cfg, say)
    optimizer = build_optimizer(cfg)
    say(f"numnet train --ensemble {k}: sizes {pop.sizes}, {cfg['activation']} hidden, cost {pop.cost.name}, "
        f"{optimizer!r}, batch {cfg['batch_size']}, {cfg['epochs']} epochs, l2 {cfg['l2']:g}, weight seeds "
        f"{seeds[0]}..{seeds[-1]}, batch order seed {cfg['seed']}")
    pop.to(cfg["device"])
    t0 = time.perf_counter()
    hist = pop.fit(X, y, epochs=cfg["epochs"], batch_size=cfg["batch_size"], optimizer=optimizer, l2=cfg["l2"],
                   validation_data=(Xv, yv) if len(Xv) else None, seed=cfg["seed"], verbose=verbose,
                   schedule=build_schedule(cfg), monitor_training=cfg["monitor_training"],
                   augment=AUGMENTS.get(cfg["augment"]), log=say, memory_budget=memory)
    seconds = time.perf_counter() - t0
    if len(hist.stopped) == k:
        raise RunError(f"every member diverged; member 0: {hist.stopped[0]}")
    ens = pop.to(CPU).ensemble()
    paths = {"model": ens.save(out)} if out is not None else {}
    return EnsembleResult(ens, hist, ens.evaluate(Xt, yt), ens.evaluate_members(Xt, yt), cfg, seconds, paths)
