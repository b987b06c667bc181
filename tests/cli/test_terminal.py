"""The terminal renderer: exact layout properties of a pure function returning text."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from lrfind.cli.terminal import render_grid, render_result
from lrfind.cli.textplot import (
    EMA,
    MARKER,
    POINT,
    RULE,
    TRAINED,
    Frame,
    Mark,
    Series,
    nice_ticks,
    render,
)
from lrfind.grid import GridResult
from lrfind.plot import lag_free, result_y_range, value_at
from lrfind.result import Result

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _bowl() -> Result:
    """Lowest loss at lr = 0.1 exactly, so ``minimum`` (lowest / 10) suggests 1e-2."""
    lrs = np.logspace(-4, 0, 41)
    losses = (np.log10(lrs) + 1.0) ** 2 + 1.0
    return Result(lrs, losses, "completed", {"smoothing": 0.0, "method": "minimum"})


def _axis_line(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if "└" in line)


@pytest.mark.parametrize("width", [40, 63, 80])
@pytest.mark.parametrize("charset", ["braille", "ascii"])
def test_no_line_is_wider_than_asked(width: int, charset: str) -> None:
    text = render_result(_bowl(), "all", width=width, charset=charset)
    assert max(len(line) for line in text.splitlines()) <= width


def test_marker_sits_on_the_suggestion_column() -> None:
    result = _bowl()
    assert result.suggest().lr == pytest.approx(1e-2)
    lines = render_result(result, width=80, height=10).splitlines()
    axis = _axis_line(lines)
    left = lines[axis].index("└") + 1  # the plot area starts right after the corner
    columns = 80 - left
    # By hand: log10(lr) = -2 is half-way along [-4, 0]; 2 dots a character.
    expected = left + round((-2 - -4) / 4 * (2 * columns - 1)) // 2
    marker_row = next(line for line in lines if MARKER in line)
    assert marker_row.index(MARKER) == expected
    body = lines[axis - 10 : axis]
    assert all(line[expected] in (RULE, POINT) or ord(line[expected]) >= 0x2800 for line in body)
    assert sum(line[expected] == RULE for line in body) >= 5
    assert lines[axis][expected] == "┬"  # 1e-2 is also a decade tick
    # the suggestion's point sits on the curve: (-2 + 1) ** 2 + 1 = 2 on a range whose
    # bottom and top are the ones the rule gives (the row counted from the top)
    low, high = result_y_range(result, [result.suggest()])
    row = round((high - 2.0) / (high - low) * (4 * 10 - 1)) // 4
    assert [i for i, line in enumerate(body) if line[expected] == POINT] == [row]


def test_axis_labels_in_decades_and_round_loss_ticks() -> None:
    lines = render_result(_bowl(), width=80, height=10).splitlines()
    axis = _axis_line(lines)
    labels = lines[axis + 1]
    assert labels.split() == ["1e-4", "1e-3", "1e-2", "1e-1", "1e0"]
    ticks = [m.start() for m in re.finditer("┬", lines[axis])]
    assert len(ticks) == 5
    assert all(labels[col] not in " " for col in ticks)  # each label sits under its tick
    assert "learning rate (log scale)" in lines[axis + 2]
    y_ticks = [float(line.split("┤")[0]) for line in lines[:axis] if "┤" in line]
    assert len(y_ticks) >= 3
    steps = np.diff(y_ticks)
    np.testing.assert_allclose(steps, steps[0])  # evenly spaced, decreasing downwards
    assert steps[0] < 0
    assert lines[0] == "lrfind range test: 41 steps, stopped: completed"
    assert lines[1] == "loss"


def test_legend_names_the_curves_and_the_suggestion() -> None:
    text = render_result(_bowl(), width=80)
    assert "⠤⠤ lag-free smoothing of the loss (auto)" in text
    assert "EMA" not in text  # only when asked
    assert "· raw loss" in text
    assert f"{MARKER} minimum 1.00e-02 (confidence" in text


def test_all_methods_are_marked_with_their_letters() -> None:
    text = render_result(_bowl(), "all", width=80, charset="ascii")
    for letter, name in [("A", "auto"), ("S", "steepest"), ("M", "minimum")]:
        assert f"{letter} {name} " in text
    assert text.isascii()


def test_braille_draws_a_continuous_curve() -> None:
    lines = render_result(_bowl(), width=80, height=10, show_raw=False).splitlines()
    axis = _axis_line(lines)
    left = lines[axis].index("└") + 1
    body = lines[axis - 10 : axis]
    columns = [
        any(
            len(line) > c and (0x2800 < ord(line[c]) <= 0x28FF or line[c] == POINT) for line in body
        )
        for c in range(left, 80)
    ]
    assert all(columns)  # the curve has a dot in every column (the suggestion's point in one)
    assert "·" not in "\n".join(body)


def test_color_only_adds_ansi_codes() -> None:
    plain = render_result(_bowl(), width=80)
    colored = render_result(_bowl(), width=80, color=True)
    assert colored != plain
    assert ANSI.sub("", colored) == plain


def test_render_ascii_exact() -> None:
    x = np.array([0.0, 1.0])
    text = render([Series(x, np.array([1.0, 2.0]))], width=40, height=5, charset="ascii")
    lines = text.splitlines()
    assert lines[0] == "loss"
    assert [line[:6] for line in lines[1:6]] == ["2.00 +", "1.75 +", "1.50 +", "1.25 +", "1.00 +"]
    assert lines[1].endswith("*****")
    assert lines[5] == "1.00 +*****"
    assert lines[6] == "     ++" + "-" * 32 + "+"
    assert lines[7] == "     1e0" + " " * 29 + "1e1"


def test_frame_maps_by_hand() -> None:
    frame = Frame(xlim=(-4.0, 0.0), ylim=(0.0, 1.0), left=6, columns=10, rows=5)
    assert frame.column(1e-4) == 6
    assert frame.column(1.0) == 6 + 19 // 2
    assert frame.row(1.0) == 0
    assert frame.row(0.0) == 4


def test_points_outside_the_y_range_are_not_drawn() -> None:
    x = np.array([0.0, 1.0, 2.0])
    text = render(
        [Series(x, np.array([0.5, 100.0, 0.5]), "points", "p", "o")],
        width=40,
        height=5,
        ylim=(0.0, 1.0),
        charset="ascii",
    )
    body = text.splitlines()[1:6]
    assert [line.count("o") for line in body] == [0, 0, 2, 0, 0]
    assert text.isascii()


def test_empty_and_bad_arguments() -> None:
    empty = Result(np.array([]), np.array([]))
    assert render_result(empty).endswith("(no points to plot)")
    with pytest.raises(ValueError, match="width"):
        render_result(_bowl(), width=20)
    with pytest.raises(ValueError, match="charset"):
        render_result(_bowl(), charset="emoji")
    with pytest.raises(ValueError, match="method"):
        render_result(_bowl(), "best")


def test_no_suggestion_is_said_in_words() -> None:
    lrs = np.logspace(-4, 0, 20)
    text = render_result(Result(lrs, np.linspace(1.0, 2.0, 20), "completed", {}), width=80)
    assert MARKER not in text
    assert "auto: none (the loss never decreased)" in text


def test_nice_ticks() -> None:
    assert nice_ticks(0.0, 2.3) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(2.6, 4.7) == [3.0, 3.5, 4.0, 4.5]
    assert nice_ticks(-1e-3, 1e-3) == [-0.001, -0.0005, 0.0, 0.0005, 0.001]
    assert nice_ticks(1.0, 1.0) == [1.0]


def test_render_grid_marks_best_and_diverged() -> None:
    grid = GridResult(
        lrs=np.array([1e-4, 1e-3, 1e-2, 1e-1]),
        losses=np.array([2.0, 1.0, 0.5, math.nan]),
        steps=10,
        initial_loss=2.3,
    )
    text = render_grid(grid, {"Karpathy 3e-4": 3e-4}, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "grid best 1.00e-02 (loss 0.5000)" in text
    assert "K Karpathy 3e-4 3.00e-04" in text
    assert "x diverged" in text
    lines = text.splitlines()
    marks = next(line for line in lines if MARKER in line)
    assert marks.index("K") < marks.index(MARKER)


def _fast_curve() -> Result:
    """The demo's shape: flat at 2.3, a fall of 1.9 around 1e-2 within a decade, then a
    blow-up to 36; the EMA (0.98) lags a decade behind and never gets below 1.7."""
    x = np.linspace(-7.0, 0.0, 91)
    tail = np.where(x > -1.2, np.exp(3.0 * (x + 1.2)) - 1.0, 0.0)
    losses = 2.3 - 1.9 / (1.0 + np.exp(-(x + 2.0) / 0.2)) + tail
    losses[0] = 0.9  # a low first loss: where the EMA starts, and the old y-range too
    return Result(10.0**x, losses, "diverged", {})


def _ascii_frame(result: Result, lines: list[str], height: int) -> tuple[Frame, int]:
    """The frame ``render`` drew in (ASCII: a dot a character) and the top row's line."""
    axis = next(i for i, line in enumerate(lines) if line.lstrip().startswith("++"))
    left = lines[axis].index("++") + 1
    x = np.log10(result.lrs)
    ylim = result_y_range(result, [result.suggest()], raw=False, ema=False)
    assert ylim is not None
    frame = Frame((float(x[0]), float(x[-1])), ylim, left, 80 - left, height, 1, 1)
    return frame, axis - height


def test_the_drawn_curve_follows_the_lag_free_smoothing() -> None:
    result = _fast_curve()
    height = 24
    text = render_result(result, width=80, height=height, show_raw=False, charset="ascii")
    lines = text.splitlines()
    frame, top = _ascii_frame(result, lines, height)
    curve = lag_free(result)
    assert curve is not None
    drawn = 0
    for lr, y in zip(result.lrs, curve, strict=True):
        row = frame.row(float(y))
        if 0 <= row < height:
            assert lines[top + row][frame.column(float(lr))] in "*o", (lr, y)
            drawn += 1
    assert drawn >= 75  # all but the top of the blow-up tail
    # where the curve bottoms out (0.55 at 5e-2) the EMA is still at 1.8: not drawn
    i = int(np.nanargmin(curve))
    column = frame.column(float(result.lrs[i]))
    marks = [r for r in range(height) if lines[top + r][column : column + 1] == "*"]
    assert frame.row(float(curve[i])) in marks
    assert frame.row(float(result.smoothed[i])) < min(marks) - 3
    # the start: the lag-free curve's 2.3 is in view (the old rule's top was 1.16)
    start = frame.row(float(curve[0]))
    assert 0 <= start < height
    assert lines[top + start][frame.left] == "*"
    # the suggestion is on the curve: its point where the curve is at its lr
    found = result.suggest()
    assert found.lr is not None
    y = value_at(result.lrs, curve, found.lr)
    assert lines[top + frame.row(y)][frame.column(found.lr)] == "o"


def test_the_ema_is_drawn_only_when_asked() -> None:
    result = _fast_curve()
    height = 24
    plain = render_result(result, width=80, height=height, show_raw=False, charset="ascii")
    assert "EMA" not in plain
    assert EMA not in "\n".join(plain.splitlines()[3 : 3 + height])
    text = render_result(
        result, width=80, height=height, show_raw=False, show_ema=True, charset="ascii"
    )
    assert f"{EMA} EMA 0.98 (peers' smoothing)" in text
    lines = text.splitlines()
    frame, top = _ascii_frame(result, lines, height)
    curve = lag_free(result)
    assert curve is not None
    ema_cells = 0
    for lr, y, c in zip(result.lrs, result.smoothed, curve, strict=True):
        row, column = frame.row(float(y)), frame.column(float(lr))
        if frame.row(float(c)) != row and 0 <= row < height:
            assert lines[top + row][column] in (EMA, "*"), (lr, y)  # the curve wins a cell
            ema_cells += lines[top + row][column] == EMA
    assert ema_cells >= 30


def test_markers_that_would_touch_or_cover_each_other_go_on_lines_of_their_own() -> None:
    x = np.linspace(-4.0, 0.0, 41)
    curve = Series(x, (x + 1.0) ** 2 + 1.0)
    # V and M one column apart (they would read "VM"), A and L in the same column
    marks = [Mark(1e-2, "a", "A", 2.0, "A"), Mark(1.02e-2, "l", "L", 2.0, "L"),
             Mark(1e-3, "v", "V"), Mark(1.2e-3, "m", "M"), Mark(1e-1, "s", "S")]  # fmt: skip
    lines = render([curve], marks, width=60, height=8, charset="ascii").splitlines()
    axis = next(i for i, line in enumerate(lines) if line.lstrip().startswith("++"))
    above = lines[1 : axis - 8]  # between the y label and the plot area
    assert sorted("".join(above).replace(" ", "")) == ["A", "L", "M", "S", "V"]
    for line in above:  # no two symbols side by side on one line
        assert not re.search(r"\S\S", line), above
    col = {ch: line.index(ch) for line in above for ch in line.strip().replace(" ", "")}
    assert col["A"] == col["L"]  # stacked over their shared column
    assert col["M"] - col["V"] == 1  # each still over its own column
    assert col["V"] < col["A"] < col["S"]
    body = lines[axis - 8 : axis]
    assert sum(line.count("A") for line in body) == 1  # the first mark's point wins the cell
    assert sum(line.count("L") for line in body) == 0


def test_all_methods_keep_their_letter_when_two_land_in_one_column() -> None:
    result = _bowl()
    text = render_result(result, "all", width=80, charset="ascii")
    lines = text.splitlines()
    axis = next(i for i, line in enumerate(lines) if line.lstrip().startswith("++"))
    above = "".join(lines[2 : axis - 16])
    for name, found in result.suggestions().items():
        if found.lr is not None:
            assert {"auto": "A", "steepest": "S", "valley": "V", "minimum": "M",
                    "slide": "L"}[name] in above  # fmt: skip


def test_render_grid_marks_every_trained_point() -> None:
    lrs = np.logspace(-4, 0, 7)
    losses = np.array([2.0, 1.5, 1.0, 0.6, 0.5, 0.9, math.nan])
    grid = GridResult(lrs=lrs, losses=losses, steps=10, initial_loss=2.3)
    for charset, symbol in (("braille", TRAINED), ("ascii", "o")):
        text = render_grid(grid, width=80, height=12, charset=charset)
        lines = text.splitlines()
        axis = next(i for i, line in enumerate(lines) if line.lstrip()[:2] in ("└┬", "++"))
        body = lines[axis - 12 : axis]
        left = lines[axis].index("└" if charset == "braille" else "+") + 1
        frame = Frame((-4.0, 0.0), (0.5, 2.0), left, 80 - left, 12,
                      *((2, 4) if charset == "braille" else (1, 1)))  # fmt: skip
        drawn = sorted((r, c) for r, line in enumerate(body) for c, ch in enumerate(line)
                       if ch == symbol)  # fmt: skip
        expected = sorted((frame.row(loss), frame.column(lr)) for lr, loss in
                          zip(lrs[:6], losses[:6], strict=True))  # fmt: skip
        assert drawn == expected
        assert f"{symbol} trained lr (one run each)" in text
