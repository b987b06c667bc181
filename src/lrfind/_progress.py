"""The progress bar: tqdm's, imported only when one is shown.

``tqdm.auto`` picks the notebook bar in Jupyter; without ipywidgets it warns
(``TqdmWarning: IProgress not found``) and falls back to the plain bar. lrfind imports
it only for a bar that is shown, and takes the plain bar silently: a hidden bar
(``progress=False``) imports only ``tqdm.std``, which never warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any


def progress_bar(
    iterable: Iterable[Any] | None = None, *, disable: bool = False, **kwargs: Any
) -> Any:
    """A tqdm bar (``tqdm(iterable, disable=disable, **kwargs)``): the notebook's when
    ipywidgets is there, the plain one otherwise, with no warning either way."""
    if disable:
        from tqdm.std import tqdm as plain

        return plain(iterable, disable=True, **kwargs)
    from tqdm.std import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)  # "IProgress not found": the plain bar
        from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)
