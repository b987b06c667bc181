"""The ``lrfind`` command: ``demo``, ``run``, ``plot`` and ``grid``, one module each.

Exit codes: 0 success; 2 bad usage or input (one line on stderr, no traceback: a
missing file, a set-up that does not follow the protocol, a corrupt result, a bad
option value); 1 a failure in the user's code (its traceback on stderr); 130 when
interrupted. torch, scikit-learn and matplotlib are imported only by the commands
that need them.

>>> main(["plot", "no-such-file.json"])
2
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

import lrfind
from lrfind.cli import demo, grid, plot, run
from lrfind.cli._common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    UsageError,
    formatter,
    one_line,
    parse_lrs,
)
from lrfind.cli.report import suggestions_table
from lrfind.setup import SetupError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "parse_lrs",
    "suggestions_table",
]

_MAIN_HELP = """\
Find a good learning rate with the learning-rate range test.

examples:
  lrfind demo                          the built-in task (digits MLP): no download,
                                       under half a minute on a CPU
  lrfind demo --grid                   ... and check the suggestion against a grid
                                       search: under a minute on 2 CPU cores
  lrfind run my_setup.py               the range test on your model (see 'lrfind run -h')
  lrfind run my_setup.py:make --amp bf16 --num-steps 200
  lrfind plot lr_find.json --terminal  re-plot a saved result in the terminal
  lrfind grid my_setup.py --lrs 1e-4:1:3 --steps 200

exit codes: 0 success, 1 an error in your code (with its traceback),
            2 bad usage or input (one line), 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``lrfind`` argument parser (one sub-parser per command)."""
    parser = Parser(prog="lrfind", description=_MAIN_HELP, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"lrfind {lrfind.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in (demo, run, plot, grid):
        command.register(commands)
    return parser


def _format_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    return f"lrfind: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrfind`` command with ``argv`` (default ``sys.argv[1:]``); the exit code."""
    parser = build_parser()
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if callable(reconfigure):  # a console that cannot show a character gets "?", not a crash
        reconfigure(errors="replace")
    previous = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        code: int = args.func(args)
        return code
    except (UsageError, SetupError) as error:
        print(f"lrfind: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lrfind: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the output went into `head` or the like, which closed it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    finally:
        warnings.formatwarning = previous
