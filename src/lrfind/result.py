"""The outcome of a range test: the curve, the settings, the stop reason, and what follows.

>>> import numpy as np
>>> lrs = np.logspace(-5, 0, 51)
>>> result = Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
>>> result.suggest("minimum").lr
0.001
>>> Result.from_dict(result.to_dict()) == result
True
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lrfind import _files, _peak, _validate
from lrfind._json import (
    check_header,
    float_array,
    json_floats,
    json_settings,
    parse_floats,
    parse_settings,
    positive_lrs,
)
from lrfind.display import NotebookDisplay
from lrfind.errors import LRFindError, LRFindWarning
from lrfind.repeats import AGREEMENT_DECADES
from lrfind.smoothing import DEFAULT_SMOOTHING, ema
from lrfind.stopping import STOP_REASONS
from lrfind.suggest import METHODS, Suggestion, suggest, suggest_all

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FloatArray = npt.NDArray[np.float64]

FORMAT = "lrfind.result"
FORMAT_VERSION = 1
DEFAULT_METHOD = "auto"
LOW_CONFIDENCE = 0.3
"""Below this confidence, :meth:`Result.warn_if_unsure` warns."""


def writes_files() -> bool:
    """Whether this process writes files: False on the ranks other than 0 of an
    initialised torch.distributed process group (torch is not imported for this).

    >>> writes_files()
    True
    """
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return True
    return bool(dist.get_rank() == 0)


@dataclass(eq=False)
class Result(NotebookDisplay):
    """A range test's curve and everything needed to re-plot and re-suggest it.

    Attributes:
        lrs: the learning rate of each recorded step (of the reference param group:
            the first whose lr is not 0).
        losses: the raw loss recorded at each step (float64), never smoothed.
        stop_reason: ``"completed"``, ``"diverged"``, ``"non-finite loss"``,
            ``"interrupted"`` or ``"too many skipped steps"``.
        settings: the sweep's settings (``start_lr``, ``end_lr``, ``num_steps``,
            ``mode``, ``smoothing``, ``diverge_factor``, ``method`` ...) and anything
            the adapter adds (``accumulation_steps``, ``amp`` ...).
        runs: with ``repeats > 1``, each sweep's ``(lrs, losses)``; the first is this
            result's own curve.
    """

    lrs: FloatArray
    losses: FloatArray
    stop_reason: str = "completed"
    settings: dict[str, Any] = field(default_factory=dict)
    runs: list[tuple[FloatArray, FloatArray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lrs = float_array("lrs", self.lrs)
        self.losses = float_array("losses", self.losses)
        if self.lrs.shape != self.losses.shape:
            raise ValueError(
                f"lrs and losses must have the same length, got {self.lrs.size} and "
                f"{self.losses.size}"
            )
        positive_lrs("lrs", self.lrs)
        _validate.one_of("stop_reason", self.stop_reason, STOP_REASONS)
        if not isinstance(self.settings, dict):
            raise ValueError(f"settings must be a dict, got {self.settings!r:.80}")
        if "smoothing" in self.settings:
            _validate.smoothing(self.settings["smoothing"])
        if "method" in self.settings:
            _validate.one_of("settings['method']", self.settings["method"], METHODS)
        runs = []
        for k, (lrs, losses) in enumerate(self.runs):
            run = (float_array(f"runs[{k}] lrs", lrs), float_array(f"runs[{k}] losses", losses))
            positive_lrs(f"runs[{k}] lrs", run[0])
            if run[0].shape != run[1].shape:
                raise ValueError(
                    f"runs[{k}]: lrs and losses must have the same length, got "
                    f"{run[0].size} and {run[1].size}"
                )
            runs.append(run)
        self.runs = runs

    # ---- derived values -------------------------------------------------------------

    @property
    def smoothing(self) -> float:
        """The EMA coefficient of :attr:`smoothed` and of the peer methods."""
        return float(self.settings.get("smoothing", DEFAULT_SMOOTHING))

    @property
    def method(self) -> str:
        """The default suggestion method of this result (``"auto"`` unless set)."""
        return str(self.settings.get("method", DEFAULT_METHOD))

    @property
    def smoothed(self) -> FloatArray:
        """The debiased EMA of :attr:`losses` (derived, never stored)."""
        return ema(self.losses, self.smoothing)

    def suggest(self, method: str | None = None) -> Suggestion:
        """The suggestion of one method (default: :attr:`method`).

        With several runs (``repeats > 1``) the suggestion combines them: the median of
        the runs' log learning rates; see :meth:`interval`.
        """
        name = self.method if method is None else method
        if len(self.runs) > 1:
            from lrfind.repeats import combine

            found = combine([suggest(x, y, name, smoothing=self.smoothing) for x, y in self.runs])
        else:
            found = suggest(self.lrs, self.losses, name, smoothing=self.smoothing)
        return self._for_schedule(found)

    @property
    def schedule(self) -> str:
        """The schedule the suggestions are for (``"onecycle"`` unless set; see
        :meth:`for_schedule`)."""
        return str(self.settings.get("schedule", "onecycle"))

    def for_schedule(self, schedule: str) -> Result:
        """This result with its suggestions for training under ``schedule`` (one of
        :data:`lrfind.train_schedules.SCHEDULES`): moved by the shift of the best lr
        measured for it (:data:`lrfind.train_schedules.PEAK_SHIFT`), said in each reason.

        >>> import numpy as np
        >>> curve = Result(np.logspace(-5, 0, 50), np.linspace(2, 1, 50), "completed", {})
        >>> curve.for_schedule("constant").schedule, curve.schedule
        ('constant', 'onecycle')
        """
        from lrfind import train_schedules

        _validate.one_of("schedule", schedule, train_schedules.SCHEDULES)
        return dataclasses.replace(self, settings={**self.settings, "schedule": schedule})

    def _for_schedule(self, found: Suggestion) -> Suggestion:
        if found.lr is None or self.schedule == "onecycle":
            return found
        from lrfind import train_schedules

        lr, words = train_schedules.peak_for(found.lr, self.schedule)
        return dataclasses.replace(found, lr=lr, reason=f"{found.reason}; {words}")

    def suggestions(self) -> dict[str, Suggestion]:
        """Every method's suggestion, by name."""
        if len(self.runs) > 1:
            return {name: self.suggest(name) for name in METHODS}
        found = suggest_all(self.lrs, self.losses, smoothing=self.smoothing)
        return {name: self._for_schedule(s) for name, s in found.items()}

    @property
    def suggestion(self) -> float | None:
        """The default method's suggested lr, or ``None`` (see :meth:`suggest` for why)."""
        return self.suggest().lr

    def interval(self, method: str | None = None) -> tuple[float, float] | None:
        """Lowest and highest suggestion over the runs (``repeats > 1``), else ``None``."""
        if len(self.runs) < 2:
            return None
        name = self.method if method is None else method
        lrs = [suggest(x, y, name, smoothing=self.smoothing).lr for x, y in self.runs]
        found = [lr for lr in lrs if lr is not None]
        return (min(found), max(found)) if found else None

    # ---- actions ----------------------------------------------------------------------

    def apply(self, optimizer: Any, method: str | None = None, *, scheduler: Any = None) -> float:
        """Set the suggestion as the peak lr of ``optimizer``, keeping its param groups'
        ratios, and of its LR ``scheduler`` when it has one.

        The reference group, the first whose lr is not 0, gets the suggestion; every
        other group ``g`` gets ``suggestion * g["lr"] / reference["lr"]``, so a group
        frozen at lr=0 stays at 0. A scheduler made before or after this call both work:
        pass one that is already attached as ``scheduler`` (one, or a list of them), and
        the suggestion becomes its peak (``OneCycleLR``'s ``max_lr``, ``CyclicLR``'s
        ``max_lrs``, any other's base lr: what a warmup climbs to, where a decay starts),
        with every scheduler it holds (``SequentialLR``, ``ChainedScheduler``); the
        current lr moves with it, so the schedule goes on from its current step as one
        created with the suggestion would (``lrfind._peak.set_peak``). A scheduler
        cannot be found from its optimizer: when the groups show one was made
        (``initial_lr``) and none is given, an :class:`~lrfind.errors.LRFindWarning`
        says so.

        Returns:
            The suggestion set (on the reference group).

        Raises:
            LRFindError: when there is no suggestion (its reason is in the message).
            ValueError: when ``optimizer`` has no ``param_groups``, ``scheduler``
                belongs to another optimizer, or every group's lr (or peak) is 0 (the
                ratios are undefined). Nothing is changed then.
        """
        found = self.suggest(method)
        if found.lr is None:
            raise LRFindError(f"no learning rate to apply ({found.method}): {found.reason}")
        _peak.set_peak(optimizer, found.lr, scheduler)
        return found.lr

    def plot(
        self, ax: Axes | None = None, method: str | None = None, show_raw: bool = True
    ) -> Axes:
        """Draw the curve on ``ax`` (a new figure if None); see :func:`lrfind.plot.plot_result`."""
        from lrfind.plot import plot_result

        return plot_result(self, ax=ax, method=method, show_raw=show_raw)

    def warn_if_unsure(self, stacklevel: int = 2) -> None:
        """Warn (:class:`~lrfind.errors.LRFindWarning`) when the default suggestion is weak:
        none, low confidence, or (``repeats > 1``) the sweeps' suggestions more than
        :data:`~lrfind.repeats.AGREEMENT_DECADES` apart."""
        found = self.suggest()
        interval = self.interval()
        spread = None if interval is None else math.log10(interval[1] / interval[0])
        if found.lr is None:
            warnings.warn(
                f"lrfind found no learning rate to suggest: {found.reason}",
                LRFindWarning,
                stacklevel=stacklevel + 1,
            )
        elif interval is not None and spread is not None and spread > AGREEMENT_DECADES:
            warnings.warn(
                f"the {len(self.runs)} sweeps' suggestions spread over {spread:.2f} decades "
                f"({interval[0]:.3g} .. {interval[1]:.3g}): one sweep is not stable on this "
                f"set-up; their median {found.lr:.3g} (confidence {found.confidence:.2f}) is "
                "worth checking by training (lrfind.grid.check)",
                LRFindWarning,
                stacklevel=stacklevel + 1,
            )
        elif found.confidence < LOW_CONFIDENCE:
            warnings.warn(
                f"lrfind's suggestion {found.lr:.3g} has low confidence "
                f"({found.confidence:.2f}): check the plot before you use it",
                LRFindWarning,
                stacklevel=stacklevel + 1,
            )

    # ---- text -------------------------------------------------------------------------

    def summary(self) -> str:
        """A few readable lines: the range, the stop, every method's suggestion."""
        n = len(self.lrs)
        lines = [f"lrfind range test: {n} points, stopped: {self.stop_reason}"]
        if n:
            lines.append(
                f"  lr {self.lrs[0]:.3g} .. {self.lrs[-1]:.3g}; "
                f"loss {self.losses[0]:.4g} -> min {np.min(self.losses):.4g}"
            )
        if "second_look" in self.settings:
            lines.append(f"  a second look: {self.settings['second_look']}")
        for name, found in self.suggestions().items():
            marker = "*" if name == self.method else " "
            lines.append(f" {marker} {found}")
        span = self.interval()
        if span is not None:
            lines.append(f"  interval over {len(self.runs)} runs: {span[0]:.3g} .. {span[1]:.3g}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text: the :meth:`summary`."""
        printer.text(repr(self) if cycle else self.summary())

    def _display_html(self, png: bytes | None) -> str:
        """The notebook's page: see :mod:`lrfind.display`."""
        from lrfind.display import result_html

        return result_html(self, png)

    def __repr__(self) -> str:
        lr = self.suggestion
        shown = "None" if lr is None else f"{lr:.3g}"
        return (
            f"Result(points={len(self.lrs)}, stop_reason={self.stop_reason!r}, "
            f"suggestion={shown} [{self.method}])"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return (
            np.array_equal(self.lrs, other.lrs, equal_nan=True)
            and np.array_equal(self.losses, other.losses, equal_nan=True)
            and self.stop_reason == other.stop_reason
            and self.settings == other.settings
            and len(self.runs) == len(other.runs)
            and all(
                np.array_equal(a, c, equal_nan=True) and np.array_equal(b, d, equal_nan=True)
                for (a, b), (c, d) in zip(self.runs, other.runs, strict=True)
            )
        )

    __hash__ = None  # type: ignore[assignment]

    # ---- JSON -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats written exactly; NaN and infinities as strings, in
        the curve and in the settings alike)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "lrs": json_floats(self.lrs),
            "losses": json_floats(self.losses),
            "stop_reason": self.stop_reason,
            "settings": json_settings(dict(self.settings)),
            "runs": [[json_floats(lrs), json_floats(losses)] for lrs, losses in self.runs],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Result:
        """Rebuild a result from :meth:`to_dict`'s output; ``ValueError`` if it is not one."""
        check_header(data, "result", FORMAT, FORMAT_VERSION, ("lrs", "losses", "stop_reason"))
        runs = data.get("runs", [])
        if not isinstance(runs, list) or not all(
            isinstance(run, list) and len(run) == 2 for run in runs
        ):
            raise ValueError("runs must be a list of [lrs, losses] pairs")
        stop_reason = data["stop_reason"]
        if not isinstance(stop_reason, str):
            raise ValueError(f"stop_reason must be a string, got {stop_reason!r:.80}")
        return cls(
            lrs=np.array(parse_floats("lrs", data["lrs"])),
            losses=np.array(parse_floats("losses", data["losses"])),
            stop_reason=stop_reason,
            settings=parse_settings(data.get("settings", {})),
            runs=[
                (
                    np.array(parse_floats(f"runs[{k}] lrs", lrs)),
                    np.array(parse_floats(f"runs[{k}] losses", losses)),
                )
                for k, (lrs, losses) in enumerate(runs)
            ],
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON, atomically: a temporary file beside it, then a rename.

        Under torch.distributed only rank 0 writes (every rank holds the same result);
        the other ranks return the path without writing. A save that fails (or is
        interrupted) leaves an existing file as it was and no temporary file behind. A
        new file gets the usual permissions (umask); an overwritten one keeps its own.

        Raises:
            ValueError: when a setting cannot be written as JSON.
            OSError: when the file cannot be written; it names ``path`` (not the
                temporary file).
        """
        target = Path(path)
        if not writes_files():
            return target  # under torch.distributed rank 0 writes; the others return its path
        try:
            text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"cannot write the result as JSON: {error}") from None
        _files.write_atomic(target, text)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Result:
        """Read a result written by :meth:`save`.

        Raises:
            FileNotFoundError: when there is no such file.
            ValueError: when the file is not valid JSON or not an lrfind result; the
                message names the file and the problem.
        """
        return _files.load_saved(path, cls.from_dict)
