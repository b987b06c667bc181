"""The ``lrfind`` command: ``demo``, ``run``, ``plot`` and ``grid``, one module each.

Exit codes: 0 success; 2 bad usage or input (one line on stderr, no traceback: a
missing file, a set-up that does not follow the protocol, a corrupt result, a bad
option value, an output file or stdout that cannot be written); 1 a failure in the
user's code (its traceback on stderr); 130 when interrupted (Ctrl-C), 143 when
terminated (SIGTERM), both after the restore, with the curve so far saved; 141 when
stdout is closed early (``lrfind run ... | head -1``): quietly, as a shell reports
``yes | head -1``, with the files written (Python's own advice is exit 1, which
lrfind keeps for failures of the user's code). torch, scikit-learn and matplotlib are
imported only by the commands that need them.

>>> main(["plot", "no-such-file.json"])
2
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

import lrfind
from lrfind.cli import demo, grid, plot, run
from lrfind.cli._errors import (
    EXIT_CLOSED_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    GuardedStdout,
    UsageError,
    interrupt_exit,
    one_line,
    sigterm_as_interrupt,
)
from lrfind.cli._options import Parser, formatter, parse_lrs
from lrfind.cli.report import suggestions_table
from lrfind.setup import SetupError

__all__ = [
    "EXIT_CLOSED_PIPE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
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
            2 bad usage or input (one line), 130 interrupted, 143 terminated
            (SIGTERM), 141 stdout closed early (| head): files written all the same.
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
        return _run_command(args)
    except (UsageError, SetupError) as error:
        print(f"lrfind: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as error:
        code, line = interrupt_exit(error)
        print(line, file=sys.stderr)
        return code
    except SystemExit as error:
        if getattr(error, "signum", None) is None:  # --help, --version, sys.exit()
            raise
        code, line = interrupt_exit(error)  # a signal raised as SystemExit
        print(line, file=sys.stderr)
        return code
    finally:
        warnings.formatwarning = previous


def _run_command(args: argparse.Namespace) -> int:
    """The command, with SIGTERM raised as an interrupt and stdout guarded: a closed or
    full stdout does not stop the command before it has written its files."""
    stdout = GuardedStdout(sys.stdout)
    sys.stdout = stdout
    try:
        with sigterm_as_interrupt():
            code: int = args.func(args)
    finally:
        sys.stdout = stdout.stream
        stdout.flush()  # here, not in the interpreter's exit, where it cannot be reported
    return stdout.exit_code(code)
