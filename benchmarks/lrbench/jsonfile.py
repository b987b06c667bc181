"""JSON files that several processes share: read, replace atomically, merge under a lock.

Two benchmark runners (or a runner and a later session) may write the same cache. Each
write is a read-merge-replace under an exclusive lock on ``<file>.lock``, so neither ever
drops what the other wrote, and a reader never sees a half-written file.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "memo.json"
>>> merge(path, {"a": 1})
{'a': 1}
>>> merge(path, {"b": 2})  # a second writer keeps the first's entries
{'a': 1, 'b': 2}
>>> read(path)
{'a': 1, 'b': 2}
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` + ``.lock`` for the duration (across processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read(path: Path) -> dict[str, Any]:
    """The file's object, or ``{}`` when there is no file."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write(path: Path, data: Mapping[str, Any], indent: int | None = 1) -> None:
    """Replace the file by ``data`` atomically (a temporary file, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(data, indent=indent, sort_keys=True)
    temporary.write_text(text + "\n", encoding="utf-8")
    os.replace(temporary, path)


def merge(path: Path, update: Mapping[str, Any], indent: int | None = None) -> dict[str, Any]:
    """Set the top-level entries of ``update`` in the file, keeping every other entry
    another process wrote; returns the merged object."""
    with locked(path):
        data = {**read(path), **update}
        write(path, data, indent)
    return data
