"""Question: how long a walk does ``lrfind.grid.check`` need on a fine-tuning trained for
many epochs, where the optimum lies far below ``auto``'s pick?

On the third tier's two tasks trained 6x longer (360 steps: 6 and 13 epochs over a small
set) the grid's best lr lies 1.2 to 2.0 decades below ``auto``'s pick, and trained at the
pick both end where they started (#27). ``check`` trains the pick and its neighbours a
third of a decade away at the real budget and, with ``walk=k``, up to ``k`` more lrs a
third of a decade further out while the best is at an edge, so ``walk=k`` reaches
``(k + 1) / 3`` decades below the pick. This runs the quality benchmark's check
(``quality.checked``: the candidates trained on another seed than the one that scores
the choice) with ``walk`` 0 to 5 on those tasks and prints, per seed, the lr each walk
ends on and its regret, trained on the scoring seed. The tasks are held out: this
measures, it fits nothing. Trainings are shared with the quality benchmark's memo
(``benchmarks/.cache/trainings-tier3.json``).

Run: ``python benchmarks/research/long_walk.py [--tasks a,b] [--walk 5]``.

Answer (2026-12-05): a walk longer than 2 changes nothing on either task. On
bert_packages8_lora_x6 (``auto`` 7.9e-3, the optimum 4.6e-4) the three trainings point
down, the walk reaches 7.9e-4 (+0.23 decades) at ``walk=2`` and stops there, inside its
runs: regret -0.031 and 0.040 on the two seeds, from 1.000 at the pick. On
bert_kinds3_last_x6 (``auto`` 2.1e-3 and 1.2e-3, the optimum 2.2e-5) the three point
up, to a second, poorer basin near 5e-3: the check ends at 4.6e-3 (regret 0.993) and
5.7e-3 (0.263) with any walk. No walk reaches an optimum two decades below when its
three trainings are best above; there only a grid over the decades below finds it.
"""

from __future__ import annotations

import argparse
import math

import _paths  # noqa: F401  (benchmarks/ on the path: lrbench)
import numpy as np

import quality
from lrbench import jsonfile, tier3
from lrbench.protocol import LOCAL, Memo, grid_means

LONG = ("bert_packages8_lora_x6", "bert_kinds3_last_x6")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(LONG), help="comma-separated tier-3 tasks")
    parser.add_argument("--walk", type=int, default=5, help="the longest walk to try")
    args = parser.parse_args()
    memo = Memo(LOCAL / "trainings-tier3.json")
    picks = jsonfile.read(LOCAL / "picks.json")  # auto's picks, as the quality run swept them
    for name in args.tasks.split(","):
        task = tier3.by_name(name)
        data = quality.load_grid(task)
        means, l0 = grid_means(data)
        best = int(np.argmin(means))
        l_star = float(means[best])
        print(f"{name}: grid's best {data['grid'][best]:.2g} (L* {l_star:.3f}, L0 {l0:.3f})")
        for seed in task.seeds:
            auto = quality.Pick.from_json(picks[f"{name}|{seed}"]["auto"])
            cells = []
            for walk in range(args.walk + 1):
                pick = quality.checked(task, auto, seed, memo, walk)
                assert pick.lr is not None
                loss = min(memo.train(task, pick.lr, seed), l0)
                regret = (loss - l_star) / (l0 - l_star)
                off = math.log10(pick.lr / data["grid"][best])
                cells.append(f"walk={walk}: {pick.lr:.2g} ({off:+.2f} dec) {regret:.3f}")
            print(f"  seed {seed}, auto {auto.lr:.2g}: " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
