"""What every ``lrfind`` command shares: exit codes, errors, options, files, the terminal.

Exit codes: 0 success; 2 bad usage or input (one line on stderr, no traceback), an
output file or stdout that cannot be written included; 1 a failure in the user's code
(its traceback on stderr); 130 when interrupted (SIGINT, Ctrl-C), 143 when terminated
(SIGTERM), each after the restore and with what was measured saved; 141 when stdout was
closed early (``lrfind ... | head``), quietly, the files written all the same.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import shutil
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import lrfind
from lrfind.errors import LRFindError
from lrfind.options import SNAPSHOT_KEYS, SNAPSHOT_PLACES, SWEEP_KEYS, TRAIN_KEYS
from lrfind.setup import DEFAULT_FACTORY, SetupError
from lrfind.suggest import METHODS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lrfind.grid import GridResult
    from lrfind.result import Result
    from lrfind.setup import Setup

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE  # 141: what a shell reports for `yes | head -1`
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
PNG_NAME, JSON_NAME = "lr_find.png", "lr_find.json"
GRID_PNG_NAME, GRID_JSON_NAME = "grid.png", "grid.json"
DEFAULT_GRID = "1e-5:10:3"
MAX_WIDTH = 100
EMA_HELP = "terminal plot: also draw the EMA the peers' methods use (it lags on fast curves)"

# lrfind's ValueErrors name the Python argument; the command line shows the option.
_OPTION_NAMES = {
    "start_lr": "--start-lr",
    "end_lr": "--end-lr",
    "num_steps": "--num-steps",
    "mode": "--mode",
    "smoothing": "--smoothing",
    "diverge_factor": "--diverge-factor",
    "accumulation_steps": "--accumulation-steps",
    "grad_clip": "--grad-clip",
    "repeats": "--repeats",
    "val_batches": "--val-batches",
    "steps": "--steps",
    "eval_batches": "--eval-batches",
    "per_decade": "--lrs (per decade)",
    "lrs": "--lrs",
}

_PACKAGE_DIR = Path(lrfind.__file__).resolve().parent

SETUP_HELP = f"""\
SETUP is a Python file with a factory function, '{DEFAULT_FACTORY}()' unless you name
another (my_setup.py:make). The factory takes no arguments and returns an
lrfind.Setup or a dict with the keys
  model      a torch.nn.Module                            (required)
  optimizer  its torch.optim optimizer                    (required)
  data       training batches, re-iterable (a DataLoader) (required)
  loss_fn    loss_fn(model(x), y) for (x, y) batches
  forward    forward(model, batch) -> loss, for any other batch
  val_data   held-out batches (grid scores; run --validation)
Python, NumPy and torch are seeded (--seed) before the factory is called.
"""


class UsageError(Exception):
    """Bad usage or input: ``main`` prints the message on one line and returns 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and ``main`` decides the exit code)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=88)


# ---- errors -------------------------------------------------------------------------------


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


# ---- argument types and option groups ------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def repeats_count(text: str) -> int | str:
    """``--repeats``: a whole number >= 1, or ``auto``."""
    if text == "auto":
        return text
    return positive_int(text)


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def factor_float(text: str) -> float:
    """A number, or ``inf`` (``--diverge-factor inf`` records the whole range); not NaN."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or inf, got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"expected a number or inf, got {text!r}")
    return value


def parse_lrs(items: Sequence[str]) -> list[float]:
    """Learning rates from ``--lrs``: numbers, or ``START:END[:PER_DECADE]`` log ranges.

    >>> parse_lrs(["1e-3", "1e-2:1e-1:1"])
    [0.001, 0.01, 0.1]
    """
    from lrfind.grid import log_grid

    values: list[float] = []
    for item in items:
        parts = item.split(":")
        try:
            if len(parts) == 1:
                values.append(float(item))
                continue
            if len(parts) not in (2, 3):
                raise ValueError(item)
            start, end = float(parts[0]), float(parts[1])
            per = int(parts[2]) if len(parts) == 3 else 3
        except ValueError:
            raise UsageError(
                f"--lrs: {item!r} is neither a number nor START:END[:PER_DECADE]"
            ) from None
        if not (0 < start < end and math.isfinite(end) and per >= 1):
            raise UsageError(
                f"--lrs: in {item!r} need 0 < START < END and PER_DECADE >= 1 (a whole number)"
            )
        values.extend(log_grid(start, end, per).tolist())
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad:
        raise UsageError(f"--lrs: learning rates must be > 0, got {bad[0]!r}")
    return sorted(set(values))


THREADS_HELP = (
    "torch CPU threads (default: torch's, one per core). It matters on the CPU with a small "
    "model, or on a machine other jobs share: there 1 thread can be many times faster"
)
"""``--threads``' help, also quoted in docs/cli.md."""


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """The range test's options (:class:`~lrfind.options.SweepOptions`), by their names."""
    group = parser.add_argument_group("range test")
    group.add_argument(
        "--start-lr", type=finite_float, default=1e-7, help="first lr (default 1e-7)"
    )
    group.add_argument("--end-lr", type=finite_float, default=10.0, help="last lr (default 10)")
    group.add_argument("--num-steps", type=int, default=100, help="steps, >= 5 (default 100)")
    group.add_argument(
        "--mode", choices=("exp", "linear"), default="exp", help="lr spacing (default exp)"
    )
    group.add_argument(
        "--smoothing",
        type=finite_float,
        default=0.98,
        help="EMA coefficient in [0, 1) (default 0.98)",
    )
    group.add_argument(
        "--diverge-factor",
        type=factor_float,
        default=4.0,
        help="stop when the smoothed loss rises this much (default 4; inf: never)",
    )
    group.add_argument(
        "--repeats",
        type=repeats_count,
        default="auto",
        help="sweeps from the same start; the median is suggested (default auto: one, and "
        "two more only when the first is unsure)",
    )
    group.add_argument(
        "--method",
        choices=(*METHODS, "all"),
        default="auto",
        help="suggestion to mark in the plots (default auto; all marks every one)",
    )


def add_training_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """How each step trains (:class:`~lrfind.options.TrainOptions`), by their names."""
    train = parser.add_argument_group("training")
    train.add_argument(
        "--accumulation-steps",
        type=int,
        default=1,
        help="micro-batches per optimizer step (default 1)",
    )
    train.add_argument(
        "--amp",
        choices=("bf16", "fp16", "none"),
        default=None,
        help="mixed precision (default none)",
    )
    train.add_argument(
        "--grad-clip", type=finite_float, default=None, help="clip the gradient norm"
    )
    train.add_argument(
        "--device", default=None, help="move the model and batches there (default: the model's)"
    )
    train.add_argument("--seed", type=int, default=0, help="seed before the factory (default 0)")
    train.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help=THREADS_HELP,
    )
    return train


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    """The snapshot's options (:class:`~lrfind.options.SnapshotOptions`), by their names."""
    memory = parser.add_argument_group("memory")
    memory.add_argument(
        "--snapshot",
        choices=SNAPSHOT_PLACES,
        default="cpu",
        help="where the copy of the model and optimizer lives during the sweep: host memory "
        "or a temporary file, removed afterwards (default cpu)",
    )
    memory.add_argument(
        "--skip-frozen",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="do not copy parameters with requires_grad=False (a frozen backbone, LoRA's "
        "base weights); check them instead (default: on when they hold at least half of "
        "the parameters' bytes)",
    )


def add_output_options(
    parser: argparse.ArgumentParser, what: str, *, range_test: bool = True
) -> None:
    """``--out``, ``--no-progress``, ``--ascii`` and, for a range test's plot, ``--ema``."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "--out",
        default=".",
        metavar="DIR",
        help=f"folder for {what} (created if missing; default: here)",
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument(
        "--ascii",
        action="store_true",
        help="draw the terminal plot in ASCII (no braille font needed)",
    )
    if range_test:
        group.add_argument("--ema", action="store_true", help=EMA_HELP)


def _picked(args: argparse.Namespace, keys: frozenset[str]) -> dict[str, Any]:
    """The parsed values whose names are ``keys`` (argparse names ``--num-steps`` num_steps)."""
    return {key: getattr(args, key) for key in sorted(keys) if hasattr(args, key)}


def sweep_options(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's options, checked before anything is imported or trained."""
    from lrfind.options import SweepConfig

    options = _picked(args, SWEEP_KEYS)
    if options.get("method") == "all":
        options["method"] = "auto"
    options["progress"] = not args.no_progress
    try:
        SweepConfig.validated(**options)
    except ValueError as error:
        raise UsageError(one_line(error)) from None
    return options


def training_options(args: argparse.Namespace) -> dict[str, Any]:
    """How each step trains, from ``--accumulation-steps``, ``--amp`` (``none``: off),
    ``--grad-clip`` and ``--device``; checked where they are used."""
    options = _picked(args, TRAIN_KEYS)
    if options.get("amp") == "none":
        options["amp"] = None
    if "device" in options:
        options["device"] = device(options["device"])
    return options


def memory_options(args: argparse.Namespace) -> dict[str, Any]:
    """The snapshot's options from ``--snapshot`` and ``--skip-frozen``."""
    return _picked(args, SNAPSHOT_KEYS)


def device(name: str | None) -> Any:
    """``--device`` as a ``torch.device``, or a usage error when there is no such device."""
    if name is None:
        return None
    import torch

    try:
        found = torch.device(name)
    except RuntimeError:
        raise UsageError(
            f"--device: {name!r} is not a device (try cpu, cuda, cuda:1, mps)"
        ) from None
    backend = getattr(torch, found.type, None)
    available = getattr(backend, "is_available", None)
    if found.type != "cpu" and callable(available) and not available():
        raise UsageError(f"--device: {name!r} is not available on this machine")
    return found


def with_torch_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


# ---- files and the terminal ------------------------------------------------------------------


def out_dir(value: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out must be a folder, but {path} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out folder {path}: {error.strerror}") from None
    return path


def terminal_width() -> int:
    columns = shutil.get_terminal_size((80, 24)).columns
    return max(40, min(columns, MAX_WIDTH))


def use_color() -> bool:
    return (
        sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM", "") not in ("", "dumb")
    )


def charset(args: argparse.Namespace) -> str:
    """Braille, unless ``--ascii`` or stdout cannot encode it (a non-UTF-8 console)."""
    if getattr(args, "ascii", False):
        return "ascii"
    try:
        "⠤▼┊└·●".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "ascii"
    return "braille"


def figure() -> tuple[Any, Axes]:
    """A figure on the Agg canvas (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def load_setup(spec: str, seed: int) -> Setup:
    """:func:`lrfind.setup.load_setup` run as the set-up file's own program: ``sys.argv``
    is ``[the file]`` (it sees none of lrfind's arguments), and a ``sys.exit()`` while
    it is imported or its factory runs is a usage error that says so."""
    from lrfind.setup import as_setup, load_factory, parse_spec, seed_everything

    path = parse_spec(spec)[0]
    saved, sys.argv = sys.argv, [str(path)]
    where = "lrfind imported it"
    try:
        factory, source = load_factory(spec)
        where = f"{source} ran"
        seed_everything(seed)
        return as_setup(factory(), source)
    except SystemExit as stop:
        if getattr(stop, "signum", None) is not None:  # a signal raised as SystemExit
            raise
        code = "" if stop.code is None else repr(stop.code)
        raise UsageError(
            f"{path} called sys.exit({code}) while {where}: a set-up file must not exit "
            "(parse a command line under `if __name__ == '__main__':`, not at import)"
        ) from None
    finally:
        sys.argv = saved


def save_json(result: Result | GridResult, path: Path) -> None:
    """``result.save(path)``; a file that cannot be written is a usage error naming it."""
    try:
        result.save(path)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def save_png(fig: Any, path: Path) -> None:
    """Write ``fig`` (rank 0 alone under torch.distributed, as ``Result.save``)."""
    from lrfind.result import writes_files

    if not writes_files():
        return
    try:
        fig.savefig(path, dpi=120)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def write_result(result: Result, out: Path, method: str | None = None) -> tuple[Path, Path]:
    png, data = out / PNG_NAME, out / JSON_NAME
    save_json(result, data)  # the measurements first, then the picture of them
    fig, ax = figure()
    result.plot(ax=ax, method=method)
    save_png(fig, png)
    return png, data


def write_grid(
    grid: GridResult, out: Path, marks: dict[str, float] | None, name: str | None = None
) -> tuple[Path, Path]:
    png, data = out / GRID_PNG_NAME, out / GRID_JSON_NAME
    if name is not None:
        png, data = out / f"{name}.png", out / f"{name}.json"
    save_json(grid, data)
    fig, ax = figure()
    grid.plot(ax=ax, marks=marks)
    save_png(fig, png)
    return png, data


def report_files(*paths: Path) -> None:
    print("wrote " + ", ".join(str(p) for p in paths))
