"""lrfind's exception and warning types."""

from __future__ import annotations


class LRFindError(RuntimeError):
    """A range test that could not run or finish (bad data, no suggestion to apply, ...)."""


class LRFindWarning(UserWarning):
    """A result to be careful with: no usable descent, low confidence, few points."""


class Terminated(SystemExit):
    """SIGTERM arrived while lrfind held the model (a sweep, a grid, a check), and
    nothing else handles SIGTERM: raised in its place once everything was restored and
    the temporary files removed, as ``KeyboardInterrupt`` is for Ctrl-C, with the curve
    read so far as ``.result``. Uncaught, the process exits with status 143 (128 +
    SIGTERM), as the signal would have made it, but cleanly.

    >>> Terminated().code
    143
    """

    def __init__(self, signum: int = 15) -> None:
        super().__init__(128 + signum)
        self.signum = signum


INTERRUPTS = (KeyboardInterrupt, Terminated)
"""What stops a sweep from outside (Ctrl-C, SIGTERM): the curve so far goes with it."""
