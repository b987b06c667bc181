"""The snapshot and its RNG states under their older address (:mod:`lrfind.torch.snapshot`,
:mod:`lrfind.torch.rng`): ``from lrfind.torch.state import Snapshot`` still works."""

from __future__ import annotations

from lrfind.options import SNAPSHOT_PLACES
from lrfind.torch.rng import RngState
from lrfind.torch.snapshot import Snapshot

__all__ = ["SNAPSHOT_PLACES", "RngState", "Snapshot"]
