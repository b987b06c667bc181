"""What the commands print about a result: the suggestions, the curve, and how a
suggestion compares with a grid search (regret and cost)."""

from __future__ import annotations

import argparse
import math
import textwrap
from typing import TYPE_CHECKING

from lrfind.cli._output import charset, terminal_width, use_color

if TYPE_CHECKING:
    from lrfind.grid import GridResult
    from lrfind.result import Result


SUGGESTIONS_TITLE = "suggestions: lr = the max lr of a one-cycle run (OneCycleLR's max_lr)"
"""The title of the suggestions table that ``demo`` and ``run`` print."""


def suggestions_title(result: Result) -> str:
    """:data:`SUGGESTIONS_TITLE`, or for a result meant for another training schedule
    (``--schedule``) the peak of that schedule.

    >>> import numpy as np
    >>> from lrfind.result import Result
    >>> curve = Result(np.logspace(-5, 0, 51), np.ones(51), "completed", {"schedule": "wsd"})
    >>> suggestions_title(curve)
    'suggestions: lr = the peak lr of a wsd run'
    """
    if result.schedule == "onecycle":
        return SUGGESTIONS_TITLE
    return f"suggestions: lr = the peak lr of a {result.schedule} run"


def suggestions_table(result: Result, width: int = 80) -> str:
    """Every method's suggestion in a small table; the result's own method starred.

    >>> import numpy as np
    >>> from lrfind.result import Result
    >>> lrs = np.logspace(-5, 0, 51)
    >>> table = suggestions_table(Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0), width=60)
    >>> print(table.splitlines()[0])
      method           lr  confidence  how
    """
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


def report_result(
    result: Result, args: argparse.Namespace, seconds: float | None, title: str
) -> None:
    """Print the curve in the terminal, the suggestions, the stop and the spread."""
    from lrfind.cli.terminal import render_result

    width = terminal_width()
    print()
    text = render_result(
        result,
        args.method,
        width=width,
        show_ema=getattr(args, "ema", False),
        charset=charset(args),
        color=use_color(),
    )
    print(text)
    print()
    print(title)
    print(suggestions_table(result, width))
    planned = result.settings.get("num_steps", len(result.lrs))
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    print(f"  stopped: {result.stop_reason} after {len(result.lrs)} of {planned} steps{took}")
    span = result.interval()
    if span is not None:
        print(f"  spread over {len(result.runs)} runs: {span[0]:.2e} .. {span[1]:.2e}")


def comparison(grid: GridResult, candidates: dict[str, float], losses: dict[float, float]) -> str:
    """How each candidate lr did against the grid's best: its loss, its regret and how
    many decades it lies from the best.

    >>> import numpy as np
    >>> from lrfind.grid import GridResult
    >>> grid = GridResult(np.array([1e-3, 1e-2]), np.array([0.5, 0.25]), 10, initial_loss=2.25)
    >>> print(comparison(grid, {"auto": 1e-3}, {1e-3: 0.5}))  # doctest: +NORMALIZE_WHITESPACE
                             lr   val loss   regret  distance from the best
      grid best        1.00e-02     0.2500    0.000
      auto             1.00e-03     0.5000    0.125  1.0 decades below
    """
    from lrfind.grid import regret

    best = grid.best
    if best is None:
        return "every grid run diverged: nothing to compare with"
    lines = [
        f"  {'':<16} {'lr':>9}  {'val loss':>9}  {'regret':>7}  distance from the best",
        f"  {'grid best':<16} {best[0]:9.2e}  {best[1]:9.4f}  {0.0:7.3f}",
    ]
    for label, lr in candidates.items():
        loss = losses[lr]
        decades = math.log10(lr / best[0])
        where = "above" if decades > 0 else "below"
        score = regret(loss, best[1], grid.initial_loss)
        shown = f"{loss:9.4f}  {score:7.3f}" if math.isfinite(loss) else f"{'diverged':>9}  {'':>7}"
        lines.append(f"  {label:<16} {lr:9.2e}  {shown}  {abs(decades):.1f} decades {where}")
    return "\n".join(lines)


def cost(sweep_steps: int, sweep_seconds: float, grid: GridResult) -> str:
    """The range test's cost against the grid's, in steps and in time."""
    return (
        f"cost: range test {sweep_steps} steps in {sweep_seconds:.1f} s; grid "
        f"{grid.total_steps} steps in {grid.total_seconds:.1f} s\n"
        f"  the range test was {grid.total_steps / max(sweep_steps, 1):.0f}x cheaper in steps "
        f"and {grid.total_seconds / max(sweep_seconds, 1e-9):.0f}x in time"
    )
