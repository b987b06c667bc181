"""How every ``lrfind`` command ends: exit codes, usage errors, signals, a closed stdout.

Exit codes: 0 success; 2 bad usage or input (one line on stderr, no traceback), an
output file or stdout that cannot be written included; 1 a failure in the user's code
(its traceback on stderr); 130 when interrupted (SIGINT, Ctrl-C), 143 when terminated
(SIGTERM), each after the restore and with what was measured saved; 141 when stdout was
closed early (``lrfind ... | head``), quietly, the files written all the same.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import lrfind
from lrfind.errors import LRFindError
from lrfind.options import SnapshotConfig, SweepConfig, TrainingConfig, rows
from lrfind.setup import SetupError

if TYPE_CHECKING:
    pass

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE  # 141: what a shell reports for `yes | head -1`
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

# lrfind's ValueErrors name the Python argument; the command line shows the option:
# every option of the tables by its flag, and the other arguments the commands check.
_OPTION_NAMES = {
    **{
        row.name: row.flag
        for table in (SweepConfig, SnapshotConfig, TrainingConfig)
        for row in rows(table)
        if row.spec.flag_help is not None  # grad_scaler: no flag
    },
    "val_batches": "--val-batches",
    "steps": "--steps",
    "eval_batches": "--eval-batches",
    "per_decade": "--lrs (per decade)",
    "lrs": "--lrs",
}

_PACKAGE_DIR = Path(lrfind.__file__).resolve().parent


class UsageError(Exception):
    """Bad usage or input: ``main`` prints the message on one line and returns 2."""


def one_line(error: BaseException, options: bool = True) -> str:
    """The error's message on one line, with a Python argument named as its option
    (unless ``options`` is False: a field of a file, say, is no option)."""
    text = " ".join(str(error).split()) or type(error).__name__
    for name, option in _OPTION_NAMES.items() if options else ():
        if text.startswith(f"{name} "):
            return option + text[len(name) :]
    return text


def raised_by_lrfind(error: BaseException) -> bool:
    """True when the innermost frame of ``error`` is lrfind's own code (a check at the door)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        Path(tb.tb_frame.f_code.co_filename).resolve().relative_to(_PACKAGE_DIR)
    except ValueError:
        return False
    return True


def _user_failure(error: BaseException) -> int:
    traceback.print_exception(error)
    where = "in lrfind (please report it)" if raised_by_lrfind(error) else "in your code"
    print(f"lrfind: error {where}: {one_line(error)}", file=sys.stderr)
    return EXIT_FAILURE


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, as SIGINT raises ``KeyboardInterrupt``: the
    sweep stops, the model is restored, the curve so far is saved, and ``main`` exits 143."""

    signum = signal.SIGTERM


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For the length of a command, SIGTERM raises :class:`Terminated` (a
    ``KeyboardInterrupt``), so it ends a command the way Ctrl-C does. Only the main
    thread can set a handler: elsewhere this does nothing."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_exit(error: BaseException) -> tuple[int, str]:
    """The exit code and the last line for an interrupt: 130 for SIGINT, 143 for SIGTERM
    (any exception that says so with a ``signum``)."""
    signum = getattr(error, "signum", signal.SIGINT)
    if signum == signal.SIGTERM:
        return EXIT_TERMINATED, "lrfind: terminated (SIGTERM)"
    return EXIT_INTERRUPTED, "lrfind: interrupted"


class GuardedStdout:
    """``sys.stdout`` for the length of a command: a write that fails (a pipe closed by
    ``head``, a full disk) is remembered instead of raised, and what follows is dropped,
    so the command finishes its work and writes its files. :meth:`exit_code` says how
    the command ends then."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def _failed(self, error: OSError) -> None:
        self.error = error
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no real file
            devnull = os.open(os.devnull, os.O_WRONLY)  # the interpreter's last flush:
            os.dup2(devnull, self.stream.fileno())  # into the void, not a second error
            os.close(devnull)

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self.stream.write(text)
            except OSError as error:
                self._failed(error)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as error:
                self._failed(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def exit_code(self, code: int) -> int:
        """``code``, unless the command succeeded but its output could not be written:
        141 (quietly) for a closed pipe, else 2 with one line."""
        self.flush()
        if self.error is None or code != EXIT_OK:
            return code
        if self.error.errno == errno.EPIPE:
            return EXIT_CLOSED_PIPE  # not lrfind's failure: the reader stopped reading
        reason = self.error.strerror or str(self.error)
        print(f"lrfind: error: cannot write to stdout: {reason}", file=sys.stderr)
        return EXIT_USAGE


def guarded(action: Callable[[], int]) -> int:
    """Run a command; sort its errors into usage errors (2) and failures of user code (1)."""
    try:
        return action()
    except (UsageError, SetupError):
        raise
    except (ValueError, LRFindError) as error:
        if raised_by_lrfind(error):
            raise UsageError(one_line(error)) from None
        return _user_failure(error)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:
        return _user_failure(error)
