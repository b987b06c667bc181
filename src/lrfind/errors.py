"""lrfind's exception and warning types."""

from __future__ import annotations


class LRFindError(RuntimeError):
    """A range test that could not run or finish (bad data, no suggestion to apply, ...)."""


class LRFindWarning(UserWarning):
    """A result to be careful with: no usable descent, low confidence, few points."""
