"""`numnet train`: one run (or an ensemble) from settings, with Ctrl-C and SIGTERM turned into a clean stop."""
from __future__ import annotations

import contextlib
import signal
import sys
import warnings

from ..runs import settings as cfgmod
from ..runs.run import DEFAULT_MODEL
from .parser import UserError


def _is_default_run(args, given) -> bool:
    """`numnet train` with no recipe, config, resume or setting flags (a seed aside)."""
    return not (args.recipe or args.config or args.resume) and not (set(given) - {"seed"})


def cmd_train(args) -> int:
    from ..runs import RunInterrupted, run
    from ..runs.outputs import resumed_out

    given = {k: v for k, v in vars(args).items() if k in cfgmod.known_keys()}
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    if args.quiet:  # numerical RuntimeWarnings are noise under --quiet (divergence is an error of its own)
        warnings.simplefilter("ignore", RuntimeWarning)
    if args.ensemble is not None or args.memory is not None:
        return _train_ensemble(args, given, log)
    out = args.out or (resumed_out(args.resume, DEFAULT_MODEL) if args.resume else DEFAULT_MODEL)
    try:
        with _sigterm_as_interrupt() as received:
            r = run(args.recipe, args.config, given, resume=args.resume, out=out,
                    checkpoint_dir=args.checkpoint_dir, overwrite=args.overwrite, history=args.history, plot=args.plot,
                    json_summary=args.json_summary, verbose=0 if args.quiet else 2, log=log)
    except RunInterrupted as e:
        print(f"numnet: {e}" + (" (terminated)" if received else ""), file=sys.stderr)
        return 128 + signal.SIGTERM if received else 130
    except KeyboardInterrupt:  # before or after training (loading data, saving)
        if not received:
            raise
        print("numnet: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    _diagnosis(r, log)
    epochs = len(r.history)
    measured = (f"test MSE {r.test.mse:.4g}, R² {r.test.r2:.4f}" if hasattr(r.test, "r2")
                else f"test accuracy {100 * r.test.accuracy:.2f}% (cost {r.test.cost:.4f})")
    print(f"{measured} after {epochs} epoch{'' if epochs == 1 else 's'} in {r.seconds:.1f}s; model saved to "
          f"{r.paths['model']}", flush=True)
    if _is_default_run(args, given):
        log("the most accurate recipe (about 99.1% test accuracy, about 4 minutes on 2 cores): "
            "numnet train --recipe best")
    return 0


def _train_ensemble(args, given, log) -> int:
    """`numnet train --ensemble K`: the members at once, one model file; the ensemble's and each member's test."""
    from ..runs.ensemble import run_ensemble

    if args.ensemble is None or args.ensemble < 1:
        raise UserError("--ensemble K needs a positive number of members" if args.ensemble is not None
                        else "--memory applies to --ensemble K")
    for flag, value in (("--resume", args.resume), ("--checkpoint-dir", args.checkpoint_dir),
                        ("--history", args.history), ("--plot", args.plot), ("--json-summary", args.json_summary)):
        if value:
            raise UserError(f"--ensemble does not take {flag} yet")
    r = run_ensemble(args.ensemble, args.recipe, args.config, given, out=args.out or DEFAULT_MODEL,
                     memory=args.memory, verbose=0 if args.quiet else 1, log=log)
    for i, reason in sorted(r.histories.stopped.items()):
        log(f"member {i} stopped: {reason}")
    log(_member_lines(r.members))
    print(f"ensemble of {args.ensemble}: test accuracy {100 * r.test.accuracy:.2f}% (cost {r.test.cost:.4f}) in "
          f"{r.seconds:.1f}s; model saved to {r.paths['model']}", flush=True)
    return 0


def _member_lines(evaluations) -> str:
    """One line per member of an ensemble: accuracy and cost."""
    return "\n".join(f"  member {i}: accuracy {100 * e.accuracy:.2f}%, cost {e.cost:.4f}"
                     for i, e in enumerate(evaluations))


def _diagnosis(r, log) -> None:
    """The training-curve reading and, with a training-dev set, the error ladder."""
    log(r.curves().format())
    if r.errors:
        from ..report.diagnosis import error_ladder

        log("error ladder (human-level error unknown: numnet diagnose --human-error P):\n"
            + error_ladder(None, r.errors["train"], r.errors["train_dev"], r.errors["dev"], r.errors["test"]).format())


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While training, SIGTERM (kill, a batch system's time limit) stops the run as Ctrl-C does: the last
    checkpoint stays and the resume hint is printed. Yields a list that holds the signal once received."""
    received = []

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield received
        return
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------- other commands
