"""The torch (CPU and CUDA), numpy and Python RNG states, taken and put back.

A snapshot puts them back after the sweep, so the training that follows draws the same
random numbers (dropout masks, shuffles) as it would have without the sweep.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

WORD = next(code for code in "ILQ" if array(code).itemsize >= 4)
"""The smallest array type code that holds a Mersenne Twister word (32 bits)."""


@dataclass
class RngState:
    """The torch, numpy and Python RNG states.

    Python's state (625 32-bit words) is kept as an array of 32-bit words (2.5 KB): as
    the tuple of ints ``random.getstate()`` returns it would hold about 25 KB of int
    objects for the whole sweep, a third of what the snapshot holds besides the tensors.

    >>> saved = RngState.take()
    >>> first = torch.rand(2)
    >>> saved.restore()
    >>> torch.equal(torch.rand(2), first)
    True
    """

    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor] | None
    numpy: Any
    python: tuple[Any, array[int], Any]

    @classmethod
    def take(cls) -> RngState:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None  # type: ignore[no-untyped-call]
        version, words, gauss = random.getstate()
        packed = (version, array(WORD, words), gauss)
        return cls(torch.get_rng_state(), cuda, np.random.get_state(), packed)

    def restore(self) -> None:
        torch.set_rng_state(self.torch_cpu)
        if self.torch_cuda is not None:
            torch.cuda.set_rng_state_all(self.torch_cuda)
        np.random.set_state(self.numpy)
        version, words, gauss = self.python
        random.setstate((version, tuple(words), gauss))
