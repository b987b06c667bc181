"""A griffe extension for the API reference: lrfind's docstrings as mkdocstrings reads them.

The docstrings cross-reference with Sphinx roles (``:func:`lrfind.find```,
``:class:`~lrfind.result.Result```, ``:meth:`summary```). mkdocstrings would print them
as they are; this extension resolves each name in the scope of the object whose
docstring holds it (as Python would: its members, then its parents') and writes an
autorefs link, ``[`name`][lrfind.module.name]``. A name that does not resolve is logged
as a warning (``mkdocs build --strict`` then fails), and a link whose target is not on
any page fails the build in autorefs: a broken reference cannot pass unnoticed. Private
names (a component starting with ``_``) are not documented and stay plain code, as do
the PyTorch adapter's internals (:data:`INTERNAL_MEMBERS`).

The ``>>>`` examples (run by the test suite as doctests) are fenced as ``pycon`` code, so
Markdown shows them as typed and reads nothing in them (``[1, 2]`` is not a link).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`(~?)([^`<]+?)(?:\s*<([^`>]+)>)?`")
"""``:role:`target```, ``:role:`~target``` (shown by its last part) or ``:role:`text <target>```."""

log = logging.getLogger("mkdocs.plugins.griffe_roles")

INTERNAL_MEMBERS = (
    "lrfind.torch.trainer",
    "lrfind.torch.training",
    "lrfind.torch.state",
    "lrfind.torch.snapshot",
    "lrfind.torch.rng",
    "lrfind.torch.batches",
    "lrfind.torch.passes",
    "lrfind.torch.precision",
    "lrfind.torch.distributed",
)
"""Modules whose members are internal: not in the reference (their module docstrings are,
on the adapter's page, except the trainer's and the snapshot's). A reference to one of
their members stays plain code; :data:`INTERNAL_MODULES` likewise for the modules."""

INTERNAL_MODULES = (
    "lrfind.torch.trainer",
    "lrfind.torch.training",
    "lrfind.torch.state",
    "lrfind.torch.snapshot",
    "lrfind.torch.rng",
)


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The full path ``target`` names in the scope of ``obj``, or ``None``."""
    head, _, rest = target.partition(".")
    try:
        path = obj.resolve(head)
    except griffe.NameResolutionError:
        if head != obj.package.name:
            return None
        path = head
    return f"{path}.{rest}" if rest else path


def rewrite(obj: griffe.Object, text: str) -> str:
    """``text`` with every role turned into an autorefs link (or plain code, if private)."""

    def link(match: re.Match[str]) -> str:
        short, written, explicit = match.group(1), match.group(2).strip(), match.group(3)
        target = (explicit or written).strip()
        shown = target.rsplit(".", 1)[-1] if short else written
        if any(part.startswith("_") for part in target.split(".")):
            return f"`{shown}`"
        path = _resolve(obj, target)
        if path is None:
            log.warning("%s: cannot resolve the reference %r", obj.path, match.group(0))
            return f"`{shown}`"
        if path in INTERNAL_MODULES or path.startswith(tuple(m + "." for m in INTERNAL_MEMBERS)):
            return f"`{shown}`"
        return f"[`{shown}`][{path}]"

    return ROLE.sub(link, text)


def fence_examples(text: str) -> str:
    """Every run of lines that starts with ``>>>`` (its continuation and output lines up to
    the next blank line) inside a fenced ``pycon`` block at the same indentation."""
    out: list[str] = []
    lines = text.split("\n")
    k = 0
    while k < len(lines):
        line = lines[k]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            k += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out.append(f"{indent}```pycon")
        while k < len(lines) and lines[k].strip():
            out.append(lines[k])
            k += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles and the examples of every docstring once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg)

    def _walk(self, obj: griffe.Object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_examples(rewrite(obj, obj.docstring.value))
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member)  # type: ignore[arg-type]
