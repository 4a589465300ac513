"""Reproduce the published figures: train each named recipe over several seeds and tabulate the results.

    python benchmarks/reproduce.py                                   # every recipe, seeds 1,2,3
    python benchmarks/reproduce.py --recipes nielsen-ch1,adam-100 --seeds 1 --out RESULTS.md
    python benchmarks/reproduce.py --slow --seeds 1      # also the convolutional recipes (hours each, marked slow)

Each run goes through numnet's run layer in-process, as `numnet train --recipe NAME --seed S` does:

    numnet.runs.run(recipe=NAME, overrides={"seed": S}, out=MODEL, verbose=0).summary()

whose summary holds test_accuracy, best_val_accuracy, best_epoch, seconds and recipe. The published
figure of a recipe comes from its `published` (percent) and `published_note` keys. Where the note says the
book reports a *best epoch*, numnet's comparable figure is its best-epoch accuracy on the validation set
(the 10,000 held-out training images); otherwise it is the final test accuracy. Where the source reports the
best of several runs (the recipe's `published_runs`, e.g. 3 for Nielsen's chapter 1, "best-of-three runs"),
the seeds are taken in groups of that many, in the order given, and each group contributes its best run, as
the source did. A recipe meets its floor when the mean of the compared figure (over seeds, or over groups)
is at least the published figure minus 0.5 percentage points; the plain mean over seeds is always shown too.

After the recipes, the course's optimizer comparison on the moons data runs on the course notebook's own
data, initial weights and batch order (replayed exactly), and once per `--moons-seeds` seed on numnet's own
generator (in process, `numnet.runs.experiments.compare_optimizers`); both get tables. `--discussion FILE` appends
a hand-written section (why a figure falls short) to the report. `--from-json FILE` rewrites the report from
saved runs (comparisons recomputed with the recipes' current published keys); adding `--update-moons` reruns
only the moons comparisons.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from numnet.runs import run
from numnet.runs.settings import load_recipe, recipe_names as _recipe_names
from numnet.utils.files import write_text_atomic
from numnet.utils.tables import format_table

FLOOR_PP = 0.5  # a recipe "meets the floor" within this many percentage points of the published figure


def machine() -> str:
    """When and where: date, CPU count, Python and NumPy versions."""
    import os

    import numpy

    return (f"{datetime.datetime.now().isoformat(timespec='seconds')} on {platform.node() or 'this machine'} "
            f"({os.cpu_count()} CPUs, {platform.machine()}; Python {platform.python_version()}, "
            f"NumPy {numpy.__version__})")


def this_command(argv) -> str:
    return ("python benchmarks/reproduce.py " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()


def recipe_names() -> list[str]:
    return _recipe_names()


def recipe_info(name) -> dict:
    """The recipe's settings and description keys (published, published_note, description, source)."""
    try:
        return load_recipe(name)
    except Exception as e:  # noqa: BLE001 (a broken recipe is reported in the table, not fatal)
        return {"_error": str(e)}


def uses_best_epoch(info) -> bool:
    return "best epoch" in str(info.get("published_note", "")).lower()


def figure(info) -> tuple:
    """(figure, note) a recipe is held to: its published one, or for numnet's own recipes its target."""
    if info.get("published") is not None:
        return info["published"], info.get("published_note")
    return info.get("target"), info.get("target_note")


def run_one(name, seed, work: Path) -> dict:
    """One recipe run in-process through the run layer; a failure is recorded in the row, not raised."""
    t0 = time.perf_counter()
    try:
        data = run(recipe=name, overrides={"seed": seed}, out=work / f"{name}-seed{seed}.npz", verbose=0).summary()
    except (ValueError, OSError) as e:
        return {"seed": seed, "error": str(e).splitlines()[0], "wall": time.perf_counter() - t0}
    data.update(seed=seed, wall=time.perf_counter() - t0)
    return data


def mean_std(values):
    """(mean, sample standard deviation) of numbers; std is 0 for a single value; None for none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def pct(ms):
    if ms is None:
        return "-"
    m, s = ms
    return f"{100 * m:.2f} ± {100 * s:.2f}%"


def best_of_groups(runs, k, figure):
    """The source's "best of k runs", estimated from the runs in seed order: consecutive groups of k runs,
    each contributing its best `figure`. A last incomplete group, or a group with a failed run, is left out.
    Returns [(seeds of the group, its best figure)]."""
    groups = []
    for i in range(0, len(runs) - k + 1, k):
        group = runs[i:i + k]
        values = [r.get(figure) for r in group]
        if any("error" in r for r in group) or any(v is None for v in values):
            continue
        groups.append(([r["seed"] for r in group], max(values)))
    return groups


def summarize(name, info, runs) -> dict:
    ok = [r for r in runs if "error" not in r]
    test = mean_std([r.get("test_accuracy") for r in ok])
    best = mean_std([r.get("best_val_accuracy") for r in ok])
    published, note = figure(info)
    best_epoch = uses_best_epoch(info)
    k = int(info.get("published_runs") or 1)
    groups = None
    if k > 1:
        groups = best_of_groups(runs, k, "best_val_accuracy" if best_epoch else "test_accuracy")
        compared = mean_std([g[1] for g in groups])
    else:
        compared = best if best_epoch else test
    meets = None
    if published is not None and compared is not None:
        meets = 100 * compared[0] >= float(published) - FLOOR_PP
    return {"recipe": name, "published": published, "published_note": note,
            "best_epoch_figure": best_epoch, "published_runs": k, "groups": groups, "test": test, "best_val": best,
            "compared": compared, "meets": meets, "seconds": mean_std([r.get("seconds") for r in ok]),
            "best_epochs": [r.get("best_epoch") for r in ok], "n_ok": len(ok), "runs": runs,
            "errors": [f"seed {r['seed']}: {r['error']}" for r in runs if "error" in r]}


def resummarize(row) -> dict:
    """A saved row summarized again from its runs, with the recipe's current published keys (those saved
    with the row where the recipe no longer exists)."""
    info = recipe_info(row["recipe"])
    if "_error" in info:
        info = {k: row.get(k) for k in ("published", "published_note", "published_runs") if row.get(k) is not None}
    return summarize(row["recipe"], info, row["runs"])


def compared_cell(row) -> str:
    """What was set against the published figure, and its value when no other column shows it."""
    what = "best epoch" if row["best_epoch_figure"] else "test"
    k = row.get("published_runs") or 1
    if k == 1:
        return what
    groups = row.get("groups") or []
    if not groups:
        return f"{what}, best of {k} runs: no complete group of {k} seeds"
    each = "; ".join(f"seeds {', '.join(map(str, seeds))}: {100 * v:.2f}%" for seeds, v in groups)
    if len(groups) == 1:
        return f"{what}, best of {k} runs ({each})"
    return f"{what}, best of {k} runs: {pct(row['compared'])} over {len(groups)} groups ({each})"


def run_moons(seeds) -> dict:
    """The course's optimizer comparison on the moons data (numnet.runs.experiments, in process): on the course
    notebook's own data, weights and batch order, and once per seed on numnet's generator."""
    from numnet.runs.experiments import COURSE_ACCURACY, compare_optimizers

    def one(**kw):
        res = compare_optimizers(**kw)
        print(", ".join(f"{k} {100 * r['accuracy']:.1f}%" for k, r in res.items()), flush=True)
        return {k: {"accuracy": r["accuracy"], "seconds": r["seconds"]} for k, r in res.items()}

    moons = {"course": dict(COURSE_ACCURACY), "generated": machine()}
    print("moons optimizer comparison, the course notebook's data, weights and batch order ...", end=" ", flush=True)
    moons["course_data"] = one(course_data=True)
    moons["per_seed"] = {}
    for seed in seeds:
        print(f"moons optimizer comparison, seed {seed} ...", end=" ", flush=True)
        moons["per_seed"][seed] = one(seed=seed)
    return moons


def moons_report(moons) -> list[str]:
    names = list(moons["course"])
    lines = ["", "## Optimizer comparison on the moons data", "",
             "The course's experiment: [2, 5, 2, 1] ReLU-ReLU-sigmoid, He init, cross-entropy, mini-batch 64, "
             "α = 0.0007, 10,000 epochs, momentum β = 0.9, Adam's defaults, 300 points with noise 0.2. Final "
             "training accuracy; every optimizer starts from the same weights and sees the same batch order."
             + (f" Run {moons['generated']}" + (f" by `{moons['command']}`" if moons.get("command") else "") + "."
                if moons.get("generated") else "")]
    if moons.get("course_data"):
        cd = moons["course_data"]
        lines += ["", "On the course notebook's own points, initial weights and mini-batch order, replayed exactly "
                      "(`numnet compare-optimizers --course-data`, float64 as in the notebook):", ""]
        rows = [[k, f"{100 * moons['course'][k]:.1f}%", f"{100 * cd[k]['accuracy']:.1f}%"] for k in names]
        lines.append(format_table(rows, ["optimizer", "course (training accuracy)", "numnet"]))
    seeds = list(moons.get("per_seed") or {})
    if not seeds:
        return lines
    lines += ["", "On numnet's own seeded generator (`numnet compare-optimizers --seed S`; a seed fixes the data, "
                  "the weights and the batch order), float32:", ""]
    head = ["optimizer", "course (training accuracy)"] + [f"seed {s}" for s in seeds] + ["mean ± std"]
    rows = []
    for k in names:
        accs = [moons["per_seed"][s][k]["accuracy"] for s in seeds]
        rows.append([k, f"{100 * moons['course'][k]:.1f}%"] + [f"{100 * a:.1f}%" for a in accs] + [pct(mean_std(accs))])
    lines.append(format_table(rows, head))
    ahead = [s for s in seeds if moons["per_seed"][s]["adam"]["accuracy"]
             >= max(moons["per_seed"][s]["gd"]["accuracy"], moons["per_seed"][s]["momentum"]["accuracy"]) + 0.05]
    lines += ["", f"Adam ahead of both gradient descent and momentum by at least 5 percentage points (the course's "
                  f"ordering) in {len(ahead)} of {len(seeds)} seeds"
              + (f" ({', '.join(map(str, ahead))})" if ahead else "") + "."]
    return lines


def save_json(path, generated, command, seeds, rows, moons) -> None:
    """The raw results (every run, the moons tables), as --from-json reads them back."""
    write_text_atomic(Path(path), json.dumps({"generated": generated, "command": command, "seeds": seeds,
                                              "rows": rows, "moons": moons}, indent=1))


def report(rows, seeds, command, moons=None, discussion=None, generated=None, rewritten=None) -> str:
    """The markdown report. rewritten: (when, command) of a --from-json rewrite, stated under the command."""
    head = ["recipe", "published", "numnet test accuracy", "numnet best epoch (validation)", "compared",
            f"meets the floor (within {FLOOR_PP} pp or better)", "time per run", "rerun one seed"]
    lines = ["# numnet: published figures reproduced", "",
             f"Generated {generated or machine()} by", "", "```", command, "```", ""]
    if rewritten:
        lines += [f"Rewritten from those runs' saved results {rewritten[0]} by", "", "```", rewritten[1], "```", ""]
    lines += [f"Seeds {', '.join(map(str, seeds))}; figures are mean ± sample standard deviation over the seeds that "
              "finished. 'numnet test accuracy' is the final model on the 10,000 MNIST test images; 'best epoch "
              "(validation)' is the best per-epoch accuracy on the 10,000 held-out validation images, with the "
              "epochs at which it occurred. 'compared' is the figure set against the published one: the best-epoch "
              "figure where the source reports a best epoch, the test accuracy otherwise; where the source reports "
              "the best of several runs, the best run of each group of that many seeds (in the order above).", ""]
    cells = []
    for r in rows:
        pub = "-" if r["published"] is None else f"{float(r['published']):.2f}%"
        if r.get("published_note"):
            pub += f" ({r['published_note']})"
        best = pct(r["best_val"])
        if r["best_val"] is not None and any(e is not None for e in r["best_epochs"]):
            best += f" (epochs {', '.join(str(e) for e in r['best_epochs'])})"
        meets = {True: "yes", False: "no", None: "-"}[r["meets"]]
        if r["n_ok"] == 0:
            meets = "failed"
        compared = compared_cell(r)
        secs = "-" if r["seconds"] is None else f"{r['seconds'][0]:.0f} s"
        cmd = f"`numnet train --recipe {r['recipe']} --seed {seeds[0]}`"
        cells.append([r["recipe"], pub, pct(r["test"]), best, compared, meets, secs, cmd])
    lines.append(format_table(cells, head))
    errors = [f"{r['recipe']}, {e}" for r in rows for e in r["errors"]]
    if errors:
        lines += ["", "## Failed runs", ""] + [f"- {e}" for e in errors]
    if moons:
        lines += moons_report(moons)
    if discussion:
        lines += ["", discussion.strip()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", help="comma-separated recipe names (default: all, from `numnet recipes --names`)")
    p.add_argument("--slow", action="store_true",
                   help="also run the slow recipes (convolutional networks: hours each on 2 CPU cores); a recipe "
                        "named in --recipes always runs")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    p.add_argument("--out", default="RESULTS.md", help="markdown report (default RESULTS.md); rewritten after "
                                                        "every run, so a long session keeps partial results")
    p.add_argument("--moons-seeds", default="1,2,3,4,5",
                   help="seeds for the moons optimizer comparison (default 1,2,3,4,5; empty to skip)")
    p.add_argument("--discussion", help="a markdown file appended to the report (what the numbers mean, why "
                                        "a figure falls short)")
    p.add_argument("--json", metavar="PATH", help="also write the raw results (every run, the moons table) as JSON")
    p.add_argument("--from-json", metavar="PATH", help="train nothing: rewrite the report from a --json file "
                                                       "(e.g. after editing the --discussion file)")
    p.add_argument("--update-moons", action="store_true",
                   help="with --from-json: rerun the moons comparisons (course data and --moons-seeds) and keep them "
                        "in the report and in --json")
    p.add_argument("--work-dir", help="keep the JSON summaries and models here (default: a temporary folder)")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not seeds:
        p.error("--seeds is empty")
    try:
        moons_seeds = [int(s) for s in args.moons_seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--moons-seeds must be comma-separated integers, got {args.moons_seeds!r}")
    discussion = None
    if args.discussion:
        try:
            discussion = Path(args.discussion).read_text(encoding="utf-8")
        except OSError as e:
            p.error(f"cannot read --discussion file {args.discussion}: {e.strerror}")
    if args.update_moons and not args.from_json:
        p.error("--update-moons goes with --from-json")
    if args.from_json:
        try:
            saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
            rows = [resummarize(row) for row in saved["rows"]]
            seeds, command, generated, moons = saved["seeds"], saved["command"], saved["generated"], saved.get("moons")
        except (OSError, ValueError, KeyError, TypeError) as e:
            p.error(f"cannot use --from-json file {args.from_json}: {e}")
        if args.update_moons:
            moons = run_moons(moons_seeds)
            moons["command"] = this_command(argv)
        rewritten = (machine(), this_command(argv))
        write_text_atomic(Path(args.out), report(rows, seeds, command, moons, discussion, generated, rewritten))
        if args.json:
            save_json(args.json, generated, command, seeds, rows, moons)
        print(f"written to {args.out} from {args.from_json}")
        return 0
    names = ([s.strip() for s in args.recipes.split(",") if s.strip()] if args.recipes
             else [n for n in recipe_names() if args.slow or not recipe_info(n).get("slow")])
    if not names:
        p.error("no recipes to run")
    command = this_command(argv)

    generated = machine()
    with tempfile.TemporaryDirectory(prefix="numnet-reproduce-") as tmp:
        work = Path(args.work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for name in names:
            info = recipe_info(name)
            runs = []
            if "_error" in info:
                runs = [{"seed": s, "error": info["_error"]} for s in seeds]
            else:
                for seed in seeds:
                    print(f"{name} seed {seed} ...", end=" ", flush=True)
                    r = run_one(name, seed, work)
                    runs.append(r)
                    if "error" in r:
                        print(f"FAILED: {r['error']}", flush=True)
                    else:
                        best = r.get("best_val_accuracy")
                        print(f"test {100 * r['test_accuracy']:.2f}%"
                              + (f", best validation {100 * best:.2f}% (epoch {r.get('best_epoch')})" if best else "")
                              + f", {r.get('seconds', r['wall']):.0f} s", flush=True)
            rows.append(summarize(name, info, runs))
            write_text_atomic(Path(args.out), report(rows, seeds, command, discussion=discussion, generated=generated))
        if args.work_dir:
            write_text_atomic(work / "results.json", json.dumps(rows, indent=1))
    moons = run_moons(moons_seeds) if moons_seeds else None
    if moons:
        moons["command"] = command
    text = report(rows, seeds, command, moons, discussion, generated)
    write_text_atomic(Path(args.out), text)
    if args.json:
        save_json(args.json, generated, command, seeds, rows, moons)
    print()
    print(text)
    print(f"written to {args.out}")
    return 0 if all(r["n_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
