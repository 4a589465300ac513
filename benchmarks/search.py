"""Search benchmarks.

1. The course's picture (no training): 25 trials in 2-D where only one setting matters. The rate α (log
   scale, [1e-4, 1]) decides the result; the second setting (momentum β, one-minus-log scale) does not. A
   5 × 5 grid tries 5 distinct rates; 25 random points try 25. Both go through numnet's search space and
   Optuna's GridSampler / RandomSampler; the score is a bump in log10 α peaked off the grid. Repeated over
   many seeds: distinct rates tried, and how far the best point is from the optimum.

       python benchmarks/search.py picture --out benchmarks/search-picture

2. A short MNIST search (random sampler, median pruner) through `numnet.search.search`, then the best
   trial's config trained again: `python benchmarks/search.py mnist --trials 20 --epochs 3`.

Writes PNG and JSON into --out and prints the numbers.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from numnet.search.space import load_space as parse_space_file, parse_space  # noqa: E402

PICTURE_SPACE = {"search": {"lr": {"dist": "log", "low": 1e-4, "high": 1.0, "steps": 5},
                            "beta": {"dist": "one-minus-log", "low": 0.9, "high": 0.999, "steps": 5}}}
PEAK, WIDTH = -1.7, 0.25   # the score peaks at α = 10^-1.7 ≈ 0.02, between the grid's 0.01 and 0.1


def score(lr, beta):
    """The toy objective: only α matters (a bump in log10 α); β is ignored."""
    return math.exp(-((math.log10(lr) - PEAK) / WIDTH) ** 2 / 2)


def picture_trials(sampler: str, seed: int, n=25):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = parse_space(PICTURE_SPACE)
    s = (optuna.samplers.GridSampler(space.grid(), seed=seed) if sampler == "grid"
         else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.create_study(direction="maximize", sampler=s)
    points = []

    def objective(trial):
        values, _ = space.suggest(trial)
        points.append((values["lr"], values["beta"]))
        return score(values["lr"], values["beta"])

    study.optimize(objective, n_trials=n)
    return points


def picture(out: Path, repeats=200):
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stats = {}
    for sampler in ("grid", "random"):
        distinct, distinct_b, best_gap, best_score = [], [], [], []
        for seed in range(repeats):
            pts = picture_trials(sampler, seed)
            distinct.append(len({round(math.log10(lr), 9) for lr, _ in pts}))
            distinct_b.append(len({round(b, 12) for _, b in pts}))
            best = max(pts, key=lambda p: score(*p))
            best_gap.append(abs(math.log10(best[0]) - PEAK))
            best_score.append(score(*best))
        stats[sampler] = {"distinct_rates_mean": float(np.mean(distinct)), "distinct_rates_min": int(min(distinct)),
                          "distinct_betas_mean": float(np.mean(distinct_b)),
                          "best_log10_gap_mean": float(np.mean(best_gap)),
                          "best_log10_gap_median": float(np.median(best_gap)),
                          "best_score_mean": float(np.mean(best_score)),
                          "runs_within_0.1_decade": float(np.mean(np.array(best_gap) < 0.1))}
    stats["repeats"] = repeats
    stats["seconds"] = time.perf_counter() - t0
    stats["peak_lr"] = 10 ** PEAK
    _draw_picture(out / "grid-vs-random.png")
    (out / "grid-vs-random.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def _draw_picture(path):
    from numnet.report.plots import save_figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    r = np.linspace(-4, 0, 400)
    for ax, sampler in zip(axes, ("grid", "random")):
        pts = picture_trials(sampler, seed=0)
        lrs = np.log10([p[0] for p in pts])
        bs = np.log10([1 - p[1] for p in pts])
        band = np.exp(-((r - PEAK) / WIDTH) ** 2 / 2)
        ax.imshow(band[None, :], extent=(-4, 0, -3, -1), aspect="auto", cmap="Greens", alpha=0.5, origin="lower")
        ax.scatter(lrs, bs, color="#1f77b4", s=30, zorder=3)
        for x in lrs:
            ax.plot([x, x], [-3.12, -3.02], color="#d62728", linewidth=1.2, clip_on=False)
        ax.set_xlim(-4.05, 0.05)
        ax.set_ylim(-3.15, -0.95)
        ax.set_xlabel("log10 α  (matters: the green band)")
        ax.set_title(f"{sampler}: 25 trials, {len(set(np.round(lrs, 9)))} distinct rates (red ticks)")
    axes[0].set_ylabel("log10(1 − β)  (does not matter)")
    return save_figure(fig, path)


def mnist(out: Path, trials=20, epochs=3, train_size=10000, seed=0, pruner="median", workers=1):
    from numnet.runs import run
    from numnet.search import search

    out.mkdir(parents=True, exist_ok=True)
    space = str(Path(__file__).resolve().parent / "mnist-space.toml")
    names = list(parse_space_file(space).params)
    t0 = time.perf_counter()
    r = search(space, trials=trials, epochs=epochs, train_size=train_size, pruner=pruner, seed=seed, workers=workers,
               out=out, study=f"mnist-{pruner}-{seed}", log=print)
    seconds = time.perf_counter() - t0
    print(r.table)
    states = [row["state"] for row in r.rows]
    best = r.best
    check = run(config=str(out / "best.toml"), out=None, verbose=0)
    stats = {"trials": len(r.rows), "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"),
             "search_seconds": seconds, "best_trial": best["number"], "best_val_accuracy": best["val_accuracy"],
             "best_settings": {k: best[k] for k in names},
             "retrain_test_accuracy": check.test.accuracy, "retrain_best_val_accuracy": check.best_val_accuracy,
             "epochs": epochs, "train_size": train_size, "workers": workers}
    (out / "mnist-search.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("picture")
    a.add_argument("--out", default="search-bench")
    a.add_argument("--repeats", type=int, default=200)
    b = sub.add_parser("mnist")
    b.add_argument("--out", default="search-bench/mnist")
    b.add_argument("--trials", type=int, default=20)
    b.add_argument("--epochs", type=int, default=3)
    b.add_argument("--train-size", type=int, default=10000)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--pruner", default="median")
    b.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    if args.what == "picture":
        stats = picture(Path(args.out), args.repeats)
    else:
        stats = mnist(Path(args.out), args.trials, args.epochs, args.train_size, args.seed, args.pruner,
                      args.workers)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
