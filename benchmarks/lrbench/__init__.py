"""The benchmark's package: the protocol, the task tables and the pieces the scripts share.

The scripts one level up (``python benchmarks/<script>.py``) publish the sections of
BENCHMARKS.md; they put ``benchmarks/`` on the import path by being run from it, so they
import this package as ``lrbench``. Nothing here writes a result.

- :mod:`lrbench.protocol`: what a task is (with its ``role``: fit or held out), how it
  is trained (the grid's protocol), the trainings memo, the committed grids, the
  normalized regret, the range test as a user runs it;
- :mod:`lrbench.tier1` (small networks from scratch; :mod:`lrbench.data`,
  :mod:`lrbench.models`), :mod:`lrbench.tier2` (fine-tuning the models
  :mod:`lrbench.pretrain` makes, long runs, text), :mod:`lrbench.tier3` (a real pretrained
  transformer, :mod:`lrbench.real_model`): the task tables;
- :mod:`lrbench.peers` (fastai, torch-lr-finder, Lightning) and :mod:`lrbench.notuning`
  (learning-rate-free optimizers, random search): the rows that are not lrfind's;
- :mod:`lrbench.stats`: statistics the reports share.
"""
