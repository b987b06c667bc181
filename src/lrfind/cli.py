"""The ``lrfind`` command: ``demo``, ``run``, ``plot`` and ``grid``.

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
import json
import math
import os
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import lrfind
from lrfind.demo import DEFAULT_FACTORY, KARPATHY_LR, OPTIMIZERS, SetupError
from lrfind.errors import LRFindError
from lrfind.suggest import METHODS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lrfind.demo import Setup
    from lrfind.grid import GridResult
    from lrfind.result import Result

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SNAPSHOT_CHOICES = ("cpu", "disk")
"""``--snapshot``: as ``lrfind.torch.state.SNAPSHOT_PLACES`` (not imported: no torch here)."""
PNG_NAME, JSON_NAME = "lr_find.png", "lr_find.json"
GRID_PNG_NAME, GRID_JSON_NAME = "grid.png", "grid.json"
CHECK_NAME = "check"
"""``lrfind run --check`` writes check.png and check.json."""
DEFAULT_GRID = "1e-5:10:3"
DEMO_GRID = DEFAULT_GRID
DEMO_GRID_STEPS = 300
MAX_WIDTH = 100

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


class UsageError(Exception):
    """Bad usage or input: ``main`` prints the message on one line and returns 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and ``main`` decides the exit code)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=88)


# ---- small helpers ----------------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    for name, option in _OPTION_NAMES.items():
        if text.startswith(f"{name} "):
            return option + text[len(name) :]
    return text


def _raised_by_lrfind(error: BaseException) -> bool:
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
    where = "in lrfind (please report it)" if _raised_by_lrfind(error) else "in your code"
    print(f"lrfind: error {where}: {_one_line(error)}", file=sys.stderr)
    return EXIT_FAILURE


def _guarded(action: Callable[[], int]) -> int:
    """Run a command; sort its errors into usage errors (2) and failures of user code (1)."""
    try:
        return action()
    except (UsageError, SetupError):
        raise
    except (ValueError, LRFindError) as error:
        if _raised_by_lrfind(error):
            raise UsageError(_one_line(error)) from None
        return _user_failure(error)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:
        return _user_failure(error)


def _out_dir(value: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out must be a folder, but {path} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out folder {path}: {error.strerror}") from None
    return path


def _terminal_width() -> int:
    columns = shutil.get_terminal_size((80, 24)).columns
    return max(40, min(columns, MAX_WIDTH))


def _use_color() -> bool:
    return (
        sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM", "") not in ("", "dumb")
    )


def _charset(args: argparse.Namespace) -> str:
    """Braille, unless ``--ascii`` or stdout cannot encode it (a non-UTF-8 console)."""
    if getattr(args, "ascii", False):
        return "ascii"
    try:
        "⠤▼┊└·".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "ascii"
    return "braille"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
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


def _figure() -> tuple[Any, Axes]:
    """A figure on the Agg canvas (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save_png(figure: Any, path: Path) -> None:
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def _write_result(result: Result, out: Path, method: str | None = None) -> tuple[Path, Path]:
    png, data = out / PNG_NAME, out / JSON_NAME
    figure, ax = _figure()
    result.plot(ax=ax, method=method)
    _save_png(figure, png)
    result.save(data)
    return png, data


def _write_grid(
    grid: GridResult, out: Path, marks: dict[str, float] | None, name: str | None = None
) -> tuple[Path, Path]:
    png, data = out / GRID_PNG_NAME, out / GRID_JSON_NAME
    if name is not None:
        png, data = out / f"{name}.png", out / f"{name}.json"
    figure, ax = _figure()
    grid.plot(ax=ax, marks=marks)
    _save_png(figure, png)
    grid.save(data)
    return png, data


def suggestions_table(result: Result, width: int = 80) -> str:
    """Every method's suggestion in a small table; the result's own method starred.

    >>> import numpy as np
    >>> from lrfind.result import Result
    >>> lrs = np.logspace(-5, 0, 51)
    >>> table = suggestions_table(Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0), width=60)
    >>> print(table.splitlines()[0])
      method           lr  confidence  how
    """
    import textwrap

    lines = [f"  {'method':<9} {'lr':>9}  {'confidence':>10}  how"]
    for name, found in result.suggestions().items():
        star = "*" if name == result.method else " "
        if found.lr is None:
            row = f"{star} {name:<9} {'none':>9}  {'':>10}  "
        else:
            row = f"{star} {name:<9} {found.lr:9.2e}  {found.confidence:10.2f}  "
        how = textwrap.wrap(found.reason, max(width - len(row), 20)) or [""]
        lines.append(row + how[0])
        lines.extend(" " * len(row) + more for more in how[1:])
    return "\n".join(lines)


def _report_result(
    result: Result, args: argparse.Namespace, seconds: float | None, title: str
) -> None:
    from lrfind.terminal import render_result

    width = _terminal_width()
    print()
    print(
        render_result(result, args.method, width=width, charset=_charset(args), color=_use_color())
    )
    print()
    print(title)
    print(suggestions_table(result, width))
    planned = result.settings.get("num_steps", len(result.lrs))
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    print(f"  stopped: {result.stop_reason} after {len(result.lrs)} of {planned} steps{took}")
    span = result.interval()
    if span is not None:
        print(f"  spread over {len(result.runs)} runs: {span[0]:.2e} .. {span[1]:.2e}")


def _report_files(*paths: Path) -> None:
    print("wrote " + ", ".join(str(p) for p in paths))


def _sweep_options(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's options, checked before anything is imported or trained."""
    from lrfind.sweep import SweepConfig

    options = {
        "start_lr": args.start_lr,
        "end_lr": args.end_lr,
        "num_steps": args.num_steps,
        "mode": args.mode,
        "smoothing": args.smoothing,
        "diverge_factor": args.diverge_factor,
        "repeats": args.repeats,
        "method": args.method if args.method != "all" else "auto",
    }
    try:
        SweepConfig.validated(check_every=1, **options)
    except ValueError as error:
        raise UsageError(_one_line(error)) from None
    return options


def _device(name: str | None) -> Any:
    """``--device`` as a ``torch.device``, or a usage error when there is no such device."""
    if name is None:
        return None
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(
            f"--device: {name!r} is not a device (try cpu, cuda, cuda:1, mps)"
        ) from None
    backend = getattr(torch, device.type, None)
    available = getattr(backend, "is_available", None)
    if device.type != "cpu" and callable(available) and not available():
        raise UsageError(f"--device: {name!r} is not available on this machine")
    return device


def _with_torch_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


# ---- commands ---------------------------------------------------------------------------


def _find(setup: Setup, args: argparse.Namespace, options: dict[str, Any]) -> tuple[Result, float]:
    from lrfind.torch.find import find

    start = time.perf_counter()
    result = find(
        setup.model,
        setup.optimizer,
        setup.data,
        loss_fn=setup.loss_fn,
        forward=setup.forward,
        accumulation_steps=getattr(args, "accumulation_steps", 1),
        amp=getattr(args, "amp", None),
        grad_clip=getattr(args, "grad_clip", None),
        val_data=setup.val_data if getattr(args, "validation", False) else None,
        val_batches=getattr(args, "val_batches", None),
        device=getattr(args, "device", None),
        snapshot=getattr(args, "snapshot", "cpu"),
        skip_frozen=getattr(args, "skip_frozen", False),
        progress=not args.no_progress,
        **options,
    )
    return result, time.perf_counter() - start


def cmd_demo(args: argparse.Namespace) -> int:
    """``lrfind demo``: the range test (and optionally a grid) on the digits task."""
    from lrfind.demo import digits_setup, require_demo

    options = _sweep_options(args)
    out = _out_dir(args.out)
    try:
        require_demo()
    except ImportError as error:
        raise UsageError(str(error)) from None
    import torch

    torch.set_num_threads(args.threads)
    setup = digits_setup(args.optimizer, seed=args.seed)
    name = "Adam" if args.optimizer == "adam" else "SGD (momentum 0.9)"
    print(
        f"lrfind demo: an MLP (64-64-10) with {name} on scikit-learn's digits\n"
        f"  {len(setup.data.dataset)} training images, batches of {setup.data.batch_size}",  # type: ignore[attr-defined]
        flush=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        result, seconds = _find(setup, args, options)
    _report_result(result, args, seconds, "suggestions (lr = the max lr of a one-cycle run):")
    files = list(_write_result(result, out, None if args.method == "all" else args.method))
    if args.grid:
        files.extend(_demo_grid(setup, result, seconds, args, out))
    _report_files(*files)
    return EXIT_OK


def _demo_grid(
    setup: Setup, result: Result, sweep_seconds: float, args: argparse.Namespace, out: Path
) -> tuple[Path, Path]:
    from lrfind.grid import regret, train_at
    from lrfind.terminal import render_grid

    lrs = parse_lrs(args.grid_lrs)
    steps = args.grid_steps
    print(
        f"\nthe baseline: training from the same start at {len(lrs)} learning rates,\n"
        f"  {steps} steps each (one-cycle), scored on {len(setup.val_data[0][1])} held-out images",  # type: ignore[index]
        flush=True,
    )
    grid = train_at(setup, lrs, steps, progress=not args.no_progress)
    found = result.suggest()
    candidates: dict[str, float] = {}
    if found.lr is not None:
        candidates[f"{found.method} (lrfind)"] = found.lr
    candidates["Karpathy's 3e-4"] = KARPATHY_LR
    checked = train_at(setup, sorted(set(candidates.values())), steps, progress=False, desc="check")
    loss_at = dict(zip(checked.lrs.tolist(), checked.losses.tolist(), strict=True))
    width = _terminal_width()
    print()
    print(render_grid(grid, candidates, width=width, charset=_charset(args), color=_use_color()))
    print()
    print(grid.table())
    best = grid.best
    if best is None:
        print("every grid run diverged: nothing to compare with")
        return _write_grid(grid, out, candidates)
    print(f"\n  {'':<16} {'lr':>9}  {'val loss':>9}  {'regret':>7}  distance from the best")
    print(f"  {'grid best':<16} {best[0]:9.2e}  {best[1]:9.4f}  {0.0:7.3f}")
    for label, lr in candidates.items():
        loss = loss_at[lr]
        decades = math.log10(lr / best[0])
        where = "above" if decades > 0 else "below"
        score = regret(loss, best[1], grid.initial_loss)
        shown = f"{loss:9.4f}  {score:7.3f}" if math.isfinite(loss) else f"{'diverged':>9}  {'':>7}"
        print(f"  {label:<16} {lr:9.2e}  {shown}  {abs(decades):.1f} decades {where}")
    if args.optimizer != "adam":
        print("  (3e-4 is a rule of thumb for Adam; with SGD it is expected to be too small)")
    sweep_steps = len(result.lrs)
    print(
        f"\ncost: range test {sweep_steps} steps in {sweep_seconds:.1f} s; grid "
        f"{grid.total_steps} steps in {grid.total_seconds:.1f} s\n"
        f"  the range test was {grid.total_steps / max(sweep_steps, 1):.0f}x cheaper in steps "
        f"and {grid.total_seconds / max(sweep_seconds, 1e-9):.0f}x in time"
    )
    print("  (regret: 0 = as good as the grid's best, 1 = no better than not training)")
    return _write_grid(grid, out, candidates)


def cmd_run(args: argparse.Namespace) -> int:
    """``lrfind run``: the range test on a user set-up."""
    from lrfind.demo import load_setup

    options = _sweep_options(args)
    out = _out_dir(args.out)
    if args.amp == "none":
        args.amp = None
    if args.walk < 0:
        raise UsageError(f"--walk must be >= 0, got {args.walk}")
    if args.walk and args.check is None:
        raise UsageError("--walk needs --check STEPS")

    def action() -> int:
        _with_torch_threads(args.threads)
        device = _device(args.device)
        setup = load_setup(args.setup, seed=args.seed)
        if device is not None and hasattr(setup.model, "to"):
            setup.model.to(device)  # in place: the optimizer keeps the same parameters
        if args.validation and setup.val_data is None:
            raise UsageError(f"--validation needs val_data, but {args.setup} returns none")
        try:
            result, seconds = _find(setup, args, options)
        except KeyboardInterrupt as error:
            _write_partial(error, out, args.method)
            raise
        _report_result(result, args, seconds, "suggestions:")
        _report_files(*_write_result(result, out, None if args.method == "all" else args.method))
        found = result.suggest(None if args.method == "all" else args.method)
        if found.lr is not None:
            print(f"suggested lr: {found.lr:.3g}")
        if args.check is not None:
            _check(setup, found.lr, args, out)
        return EXIT_OK

    return _guarded(action)


def _write_partial(error: KeyboardInterrupt, out: Path, method: str) -> None:
    """On Ctrl-C, save the curve read so far (``error.result``), if any, before exiting."""
    from lrfind.result import Result

    partial = getattr(error, "result", None)
    if isinstance(partial, Result):
        print(f"interrupted after {len(partial.lrs)} points; the curve so far:", file=sys.stderr)
        _report_files(*_write_result(partial, out, None if method == "all" else method))


def _check(setup: Any, lr: float | None, args: argparse.Namespace, out: Path) -> None:
    """``run --check STEPS``: the suggestion and its two neighbours, trained for real."""
    from lrfind.grid import check

    if lr is None:
        print("--check: nothing to check (no suggestion)")
        return
    walk = f" (+ up to {args.walk} past an edge)" if args.walk else ""
    print(f"\nchecking {lr:.3g} and its neighbours: 3 trainings of {args.check} steps{walk}")
    checked = check(setup, lr, args.check, walk=args.walk, progress=not args.no_progress)
    print(checked.table())
    _report_files(*_write_grid(checked, out, {"suggestion": lr}, CHECK_NAME))
    best = checked.best
    if best is None:
        print("every checked run diverged: try a lower lr")
        return
    print(f"checked lr: {best[0]:.3g}")  # the table above says when it is at an edge


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a result file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None


def cmd_plot(args: argparse.Namespace) -> int:
    """``lrfind plot``: re-plot a saved range test (or grid) to a PNG or the terminal."""
    from lrfind.grid import FORMAT as GRID_FORMAT
    from lrfind.grid import GridResult
    from lrfind.result import Result
    from lrfind.terminal import render_grid, render_result

    path = Path(args.result)
    data = _load_json(path)
    is_grid = isinstance(data, dict) and data.get("format") == GRID_FORMAT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lrfind.LRFindWarning)
            loaded: Result | GridResult = (
                GridResult.from_dict(data) if is_grid else Result.from_dict(data)
            )
    except ValueError as error:
        raise UsageError(f"{path}: {_one_line(error)}") from None
    width = _terminal_width()
    if args.terminal:
        if isinstance(loaded, GridResult):
            print(render_grid(loaded, width=width, charset=_charset(args), color=_use_color()))
            print(loaded.table())
        else:
            print(
                render_result(
                    loaded,
                    args.method,
                    width=width,
                    show_raw=not args.no_raw,
                    charset=_charset(args),
                    color=_use_color(),
                )
            )
            print(suggestions_table(loaded, width))
    if args.output is not None or not args.terminal:
        target = Path(args.output) if args.output is not None else path.with_suffix(".png")
        if target.parent and not target.parent.is_dir():
            raise UsageError(f"-o: no such folder: {target.parent}")
        figure, ax = _figure()
        if isinstance(loaded, GridResult):
            loaded.plot(ax=ax)
        else:
            loaded.plot(ax=ax, method=args.method, show_raw=not args.no_raw)
        _save_png(figure, target)
        _report_files(target)
    return EXIT_OK


def cmd_grid(args: argparse.Namespace) -> int:
    """``lrfind grid``: the grid-search baseline on a user set-up."""
    from lrfind.demo import load_setup
    from lrfind.grid import grid_search
    from lrfind.terminal import render_grid

    lrs = parse_lrs(args.lrs)
    out = _out_dir(args.out)

    def action() -> int:
        _with_torch_threads(args.threads)
        setup = load_setup(args.setup, seed=args.seed)
        grid = grid_search(
            setup,
            lrs,
            args.steps,
            schedule=args.schedule,
            eval_batches=args.eval_batches,
            progress=not args.no_progress,
        )
        print(
            render_grid(grid, width=_terminal_width(), charset=_charset(args), color=_use_color())
        )
        print()
        print(grid.table())
        _report_files(*_write_grid(grid, out, None))
        best = grid.best
        print(f"best lr: {best[0]:.3g}" if best else "every run diverged")
        return EXIT_OK

    return _guarded(action)


# ---- the parser -------------------------------------------------------------------------

_MAIN_HELP = """\
Find a good learning rate with the learning-rate range test.

examples:
  lrfind demo                          the built-in task: digits MLP, ~15 s, no download
  lrfind demo --grid                   ... and check the suggestion against a grid search
  lrfind run my_setup.py               the range test on your model (see 'lrfind run -h')
  lrfind run my_setup.py:make --amp bf16 --num-steps 200
  lrfind plot lr_find.json --terminal  re-plot a saved result in the terminal
  lrfind grid my_setup.py --lrs 1e-4:1:3 --steps 200

exit codes: 0 success, 1 an error in your code (with its traceback),
            2 bad usage or input (one line), 130 interrupted.
"""

_SETUP_HELP = f"""\
SETUP is a Python file with a factory function, '{DEFAULT_FACTORY}()' unless you name
another (my_setup.py:make). The factory takes no arguments and returns a
lrfind.demo.Setup or a dict with the keys
  model      a torch.nn.Module                            (required)
  optimizer  its torch.optim optimizer                    (required)
  data       training batches, re-iterable (a DataLoader) (required)
  loss_fn    loss_fn(model(x), y) for (x, y) batches
  forward    forward(model, batch) -> loss, for any other batch
  val_data   held-out batches (grid scores; run --validation)
Python, NumPy and torch are seeded (--seed) before the factory is called.
"""


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("range test")
    group.add_argument("--start-lr", type=_float, default=1e-7, help="first lr (default 1e-7)")
    group.add_argument("--end-lr", type=_float, default=10.0, help="last lr (default 10)")
    group.add_argument("--num-steps", type=int, default=100, help="steps, >= 5 (default 100)")
    group.add_argument(
        "--mode", choices=("exp", "linear"), default="exp", help="lr spacing (default exp)"
    )
    group.add_argument(
        "--smoothing", type=_float, default=0.98, help="EMA coefficient in [0, 1) (default 0.98)"
    )
    group.add_argument(
        "--diverge-factor",
        type=_float,
        default=4.0,
        help="stop when the smoothed loss rises this much (default 4)",
    )
    group.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="sweeps from the same start; the median is suggested (default 1)",
    )
    group.add_argument(
        "--method",
        choices=(*METHODS, "all"),
        default="auto",
        help="suggestion to mark in the plots (default auto; all marks every one)",
    )


def _add_output_options(parser: argparse.ArgumentParser, what: str) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """The ``lrfind`` argument parser (one sub-parser per command)."""
    parser = _Parser(prog="lrfind", description=_MAIN_HELP, formatter_class=_formatter)
    parser.add_argument("--version", action="version", version=f"lrfind {lrfind.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo",
        help="the range test on a built-in task (digits MLP), no download",
        formatter_class=_formatter,
        description="""\
Run the range test on a small MLP trained on scikit-learn's bundled digits data set:
print every method's suggestion, draw the curve in the terminal, and write
lr_find.png and lr_find.json into --out. With --grid, also train the model at a
grid of learning rates (one-cycle, same start each time) and at the suggestion and
at Karpathy's 3e-4, and compare losses and cost. Needs: pip install 'lrfind[demo]'.

examples:
  lrfind demo
  lrfind demo --optimizer sgd --out runs/demo
  lrfind demo --grid                   (under a minute on 2 CPU cores)
  lrfind demo --grid --grid-lrs 1e-4:1e-1:2 --grid-steps 100
""",
    )
    demo.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adam",
        help="Adam or SGD with momentum (default adam)",
    )
    demo.add_argument(
        "--grid", action="store_true", help="also run the grid-search baseline and compare"
    )
    demo.add_argument(
        "--grid-lrs",
        nargs="+",
        default=[DEMO_GRID],
        metavar="LR",
        help=f"grid learning rates: numbers or START:END[:PER_DECADE] (default {DEMO_GRID})",
    )
    demo.add_argument(
        "--grid-steps",
        type=_positive_int,
        default=DEMO_GRID_STEPS,
        help=f"training steps per grid lr (default {DEMO_GRID_STEPS})",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of split, weights, batches")
    demo.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch CPU threads (default 1: fastest for this tiny model)",
    )
    _add_sweep_options(demo)
    _add_output_options(demo, "lr_find.png, lr_find.json (and grid.png, grid.json)")
    demo.set_defaults(func=cmd_demo)

    run = commands.add_parser(
        "run",
        help="the range test on your own set-up file",
        formatter_class=_formatter,
        description=f"""\
Run the range test on the model that SETUP builds, with a progress bar; print the
suggestions, draw the curve in the terminal, write lr_find.png and lr_find.json into
--out. The model and optimizer are restored afterwards (nothing is saved).

{_SETUP_HELP}
examples:
  lrfind run examples/setup_example.py
  lrfind run my_setup.py:make --num-steps 200 --end-lr 1
  lrfind run my_setup.py --accumulation-steps 4 --amp bf16 --device cuda
  lrfind run finetune.py --skip-frozen --snapshot disk
""",
    )
    run.add_argument("setup", metavar="SETUP.py[:FACTORY]", help="set-up file and factory")
    _add_sweep_options(run)
    train = run.add_argument_group("training")
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
    train.add_argument("--grad-clip", type=_float, default=None, help="clip the gradient norm")
    train.add_argument(
        "--validation",
        action="store_true",
        help="record the loss on the set-up's val_data after each step",
    )
    train.add_argument(
        "--val-batches", type=int, default=None, help="validation batches per step (default all)"
    )
    train.add_argument(
        "--device", default=None, help="move the model and batches there (default: the model's)"
    )
    train.add_argument("--seed", type=int, default=0, help="seed before the factory (default 0)")
    train.add_argument(
        "--threads", type=_positive_int, default=None, help="torch CPU threads (default: torch's)"
    )
    train.add_argument(
        "--check",
        type=_positive_int,
        default=None,
        metavar="STEPS",
        help="then train the suggestion and its neighbours a third of a decade away for "
        "STEPS steps each (one-cycle), scored on val_data; keep the best (check.png/json)",
    )
    train.add_argument(
        "--walk",
        type=int,
        default=0,
        metavar="K",
        help="with --check: up to K more trainings, one step further out while the best is "
        "at an edge (default 0)",
    )
    memory = run.add_argument_group("memory")
    memory.add_argument(
        "--snapshot",
        choices=SNAPSHOT_CHOICES,
        default="cpu",
        help="where the copy of the model and optimizer lives during the sweep: host memory "
        "or a temporary file, removed afterwards (default cpu)",
    )
    memory.add_argument(
        "--skip-frozen",
        action="store_true",
        help="do not copy parameters with requires_grad=False (a frozen backbone, LoRA's "
        "base weights); check them instead",
    )
    _add_output_options(run, "lr_find.png and lr_find.json (and check.png, check.json)")
    run.set_defaults(func=cmd_run)

    plot = commands.add_parser(
        "plot",
        help="re-plot a saved result (lr_find.json or grid.json)",
        formatter_class=_formatter,
        description="""\
Re-plot a result saved by 'lrfind run', 'lrfind demo' or Result.save (or a grid.json
from 'lrfind grid'), to a PNG, in the terminal, or both. Without -o and --terminal
the PNG goes next to the JSON file (lr_find.json -> lr_find.png).

examples:
  lrfind plot lr_find.json --terminal
  lrfind plot lr_find.json -o curve.png --method all
""",
    )
    plot.add_argument("result", metavar="RESULT.json", help="a saved result")
    plot.add_argument("-o", "--output", metavar="PNG", help="write the plot to this PNG")
    plot.add_argument(
        "--method",
        choices=(*METHODS, "all"),
        default=None,
        help="suggestion to mark (default: the result's; all marks every one)",
    )
    plot.add_argument("--terminal", action="store_true", help="draw the plot in the terminal")
    plot.add_argument("--no-raw", action="store_true", help="only the smoothed curve")
    plot.add_argument("--ascii", action="store_true", help="terminal plot in ASCII")
    plot.set_defaults(func=cmd_plot)

    grid = commands.add_parser(
        "grid",
        help="the grid-search baseline on your set-up file",
        formatter_class=_formatter,
        description=f"""\
Train the model that SETUP builds at each learning rate of --lrs for --steps steps,
each from the same initial state and batch order, and score it by the mean loss on
val_data (or on --eval-batches training batches when the set-up has none). Prints a
table and a plot of final loss against lr; writes grid.png and grid.json into --out.

{_SETUP_HELP}
examples:
  lrfind grid my_setup.py                        19 lrs, 1e-5 .. 10, 100 steps each
  lrfind grid my_setup.py --lrs 1e-4 3e-4 1e-3 3e-3 --steps 500
  lrfind grid my_setup.py:make --lrs 1e-5:1e-1:2 --schedule constant
""",
    )
    grid.add_argument("setup", metavar="SETUP.py[:FACTORY]", help="set-up file and factory")
    grid.add_argument(
        "--lrs",
        nargs="+",
        default=[DEFAULT_GRID],
        metavar="LR",
        help=f"numbers or START:END[:PER_DECADE] ranges (default {DEFAULT_GRID})",
    )
    grid.add_argument(
        "--steps", type=_positive_int, default=100, help="training steps per lr (default 100)"
    )
    grid.add_argument(
        "--schedule",
        choices=("onecycle", "constant"),
        default="onecycle",
        help="OneCycleLR(max_lr=lr) or a constant lr (default onecycle)",
    )
    grid.add_argument(
        "--eval-batches",
        type=_positive_int,
        default=None,
        help="batches that score a run (default: all val_data, or 10 train)",
    )
    grid.add_argument("--seed", type=int, default=0, help="seed before the factory (default 0)")
    grid.add_argument(
        "--threads", type=_positive_int, default=None, help="torch CPU threads (default: torch's)"
    )
    _add_output_options(grid, "grid.png and grid.json")
    grid.set_defaults(func=cmd_grid)
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
        print(f"lrfind: error: {_one_line(error)}", file=sys.stderr)
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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["build_parser", "main", "parse_lrs", "suggestions_table"]
