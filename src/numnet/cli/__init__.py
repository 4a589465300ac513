"""The `numnet` command line: train, evaluate, errors, label-issues, diagnose, predict, gradcheck, plot, recipes,
compare-optimizers, lab, lr-find, watch, search (each subcommand: one parser block and one `cmd_` handler).
Each handler parses, calls the library (runs/, model/, report/) and prints; no training logic lives here.

A user error prints one line, `numnet: error: ...`, and exits with status 2; never a traceback.
"""
from __future__ import annotations

import sys
import warnings

from ..runs.run import DEFAULT_MODEL, RunError

from .models import (cmd_diagnose, cmd_errors, cmd_evaluate, cmd_gradcheck, cmd_label_issues, cmd_plot,
                     cmd_predict)
from .parser import SUBCOMMANDS, UserError, _error_text, build_parser
from .tools import _print_results, cmd_compare, cmd_lab, cmd_lr_find, cmd_recipes, cmd_search, cmd_watch
from .training import cmd_train


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "errors": cmd_errors, "label-issues": cmd_label_issues,
            "diagnose": cmd_diagnose, "predict": cmd_predict, "gradcheck": cmd_gradcheck,
            "plot": cmd_plot, "recipes": cmd_recipes, "compare-optimizers": cmd_compare, "lab": cmd_lab,
            "search": cmd_search, "lr-find": cmd_lr_find, "watch": cmd_watch,
            **{name: handler for name, (_, _, handler) in SUBCOMMANDS.items()}}


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings in one line, without numnet's source paths: `numnet: warning: ...`."""
    print(f"numnet: warning: {message}", file=sys.stderr if file is None else file)


def main(argv=None) -> int:
    parser = build_parser()
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help()
                return 2
            return COMMANDS[args.command](args)
        except BrokenPipeError:
            return 0
        except (UserError, RunError, ValueError, OSError, ImportError) as e:
            print(f"numnet: error: {_error_text(e)}", file=sys.stderr)
            return 2
        except RecursionError:
            print("numnet: error: input nested too deeply", file=sys.stderr)
            return 2
        except MemoryError:
            print("numnet: error: out of memory (an input or setting asks for more memory than there is)",
                  file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("numnet: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
