"""The other commands: figures, recipes, compare-optimizers, lab, search, lr-find, watch."""
from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path

from ..runs import settings as cfgmod
from ..utils.checks import number
from ..utils.files import check_output_dir
from .parser import UserError, subcommand


def _figures_arguments(fg) -> None:
    fg.add_argument("name", nargs="?", help="the figure to draw (without: list them all)")
    fg.add_argument("--all", action="store_true", help="draw every figure")
    fg.add_argument("--out", default="figures", help="output folder (default ./figures)")
    fg.add_argument("--full", action="store_true", help="the longer variants (more data and epochs)")


@subcommand("figures", "the notes, figure by figure: list them, or regenerate one (or all) as PNG + table from "
                       "numnet's own runs", _figures_arguments)
def cmd_figures(args) -> int:
    from ..runs.figures import FIGURES, describe, make

    if args.all and args.name:
        raise UserError("give a figure's name or --all, not both")
    if not (args.all or args.name):
        for fig in FIGURES.values():
            print(describe(fig))
        print(f"{len(FIGURES)} figures; draw one: numnet figures NAME --out DIR (all: --all)")
        return 0
    if args.name and args.name not in FIGURES:
        raise UserError(f"unknown figure {args.name!r}; figures: {', '.join(FIGURES)}")
    for name in (FIGURES if args.all else [args.name]):
        r = make(name, args.out, full=args.full)
        print(f"{name}: {r['summary']}")
        for path in r["files"]:
            print(f"  {path}")
    return 0


def cmd_recipes(args) -> int:
    names = cfgmod.recipe_names()
    if args.show:
        r = cfgmod.load_recipe(args.show)
        for k, v in r.items():
            print(f"{k} = {json.dumps(v)}")
        return 0
    if args.names:
        print("\n".join(names))
        return 0
    for name in names:
        r = cfgmod.load_recipe(name)
        runs = f", best of {r['published_runs']} runs" if r.get("published_runs", 1) > 1 else ""
        pub = (f" [published: {r['published']}%{runs}]" if "published" in r
               else f" [target: {r['target']}%]" if "target" in r else "")
        slow = " (slow: hours on 2 CPU cores)" if r.get("slow") else ""
        print(f"{name:<20} {r.get('description', '')}{pub}{slow}")
    print("\nrun one with: numnet train --recipe NAME")
    return 0


def cmd_compare(args) -> int:
    from ..runs.experiments import compare_batch_modes, compare_optimizers

    if args.epochs < 1:
        raise UserError("--epochs must be positive")
    check_output_dir(args.out, "--out")
    data = "the course notebook's points, weights and batch order" if args.course_data else f"seed {args.seed}"
    print(f"moons: 300 points, noise 0.2 ({data}); [2,5,2,1] relu-relu-sigmoid, He init, batch 64, lr 0.0007, "
          f"{args.epochs} epochs")
    res = compare_optimizers(out_dir=Path(args.out) / "optimizers", epochs=args.epochs, seed=args.seed,
                             course_data=args.course_data)
    _print_results(res)
    res2 = compare_batch_modes(out_dir=Path(args.out) / "batch-modes", seed=args.seed, epochs=min(200, args.epochs),
                               decay_epochs=min(2000, args.epochs))
    _print_results(res2)
    print(f"plots and tables in {args.out}/")
    return 0


def _print_results(res):
    for name, r in res.items():
        if isinstance(r, dict) and "accuracy" in r:
            extra = f"  (course: {100 * r['course']:.2f}%)" if r.get("course") is not None else ""
            print(f"  {name:<28} train accuracy {100 * r['accuracy']:6.2f}%  {r.get('seconds', 0):6.1f}s{extra}")


def cmd_lab(args) -> int:
    from ..lab import make_server, open_browser

    if not 0 <= args.port <= 65535:
        raise UserError("--port must be in 0-65535")
    server = make_server(args.dir, args.model, host=args.host, port=args.port, storage=args.storage)
    url = server.url()
    print(f"numnet lab: serving {server.lab.workdir} at\n    {url}\n(Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        open_browser(url)
    try:
        with _stop_on_signals():
            server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("numnet lab: stopped", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _stop_on_signals():
    """Ctrl-C and SIGTERM stop a server cleanly, even where the process was started with SIGINT ignored (a
    background job of a non-interactive shell inherits that)."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_search(args) -> int:
    from ..search import search
    from ..search.interrupts import stop_on_signals

    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    try:
        with stop_on_signals() as received:
            if args.worker:
                return _search_worker(args, log)
            r = search(args.space, args.trials, budget=args.budget, epochs=args.epochs, train_size=args.train_size,
                       sampler=args.sampler, pruner=args.pruner, workers=args.workers, storage=args.storage,
                       study=args.study, seed=args.seed, out=args.out, refine_from=args.refine_from, top=args.top,
                       heartbeat=args.heartbeat, log=log, keep_train_size=args.keep_train_size)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: the workers are stopped, their trials queued again
        if not args.worker:  # a worker stops without a word: its parent says it once
            print("numnet: interrupted; running trials are queued again: rerun the same command to continue",
                  file=sys.stderr)
        return 128 + signal.SIGTERM if signal.SIGTERM in received else 130
    print(r.table)
    if r.best is not None:
        print(f"best: trial {r.best['number']} (stage {r.best['stage']}), validation accuracy "
              f"{100 * float(r.best['val_accuracy']):.2f}%")
    for key in ("csv", "best"):
        if key in r.paths:
            print(f"{key}: {r.paths[key]}")
    print(f"plots: {len(r.paths.get('plots', []))} PNG files in {args.out}")
    if "best" in r.paths:
        print(f"train the best: numnet train --config {r.paths['best']}")
    print(f"dashboard: {r.dashboard}  (pip install \"numnet[dashboard]\")")
    if r.failures and r.complete:
        print(f"numnet: warning: {'; '.join(r.failures)}; the other workers finished the search", file=sys.stderr)
    elif r.failures:
        raise UserError(f"{'; '.join(r.failures)}; the report covers the trials that finished: rerun the same "
                        f"command to continue")
    return 0


def _search_worker(args, log) -> int:
    """`numnet search --worker`: one of the processes `--workers K` starts (the parent writes the report)."""
    from ..search import work

    if not args.storage or not args.study:
        raise UserError("--worker needs --storage and --study")
    work(args.storage, args.study, args.trials, budget=args.budget, sampler=args.sampler, pruner=args.pruner,
         seed=args.seed, heartbeat=args.heartbeat, log=log, queue_grid=False)
    return 0


def cmd_lr_find(args) -> int:
    from ..search.lrfind import lr_find_run

    given = {k: v for k, v in vars(args).items() if k in cfgmod.known_keys() and k != "lr"}
    r = lr_find_run(args.recipe, args.config, given, lr_min=args.lr_min, lr_max=args.lr_max, steps=args.steps,
                    plot=args.plot)
    print(f"{len(r.rates)} mini-batches, rate {r.rates[0]:.3g} to {r.rates[-1]:.3g}")
    print(r.summary())
    print(f"plot: {r.paths['plot']}")
    print(f"suggested: --lr {r.suggested_lr:.3g}")
    return 0


def cmd_watch(args) -> int:
    from ..search.watch import history_path, watch

    number(args.interval, "--interval", 0.1, 86400.0)  # inf would never poll again, 1e-300 busy-poll
    try:
        n = watch(args.run, args.out, interval=args.interval, once=args.once, plot=not args.no_plot,
                  log=lambda msg: print(msg, flush=True))
    except KeyboardInterrupt:
        return 0
    if not args.no_plot and n:
        print(f"curves: {args.out or history_path(args.run).parent}")
    return 0
