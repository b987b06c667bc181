"""How much host memory (or temporary disk) a snapshot can still take, before taking it.

A snapshot of a large model that does not fit gets the process killed by the kernel
or its container, with nothing said and nothing restored. lrfind asks first:

- host memory: ``MemAvailable + SwapFree`` from ``/proc/meminfo``, and, inside a
  container, what its memory cgroup (v2 ``memory.max``, v1 ``memory.limit_in_bytes``)
  still allows, not counting the page cache it can reclaim (``inactive_file``);
- disk: the free space of the folder temporary files go to.

Where the system says nothing (no ``/proc``: macOS, Windows), nothing is checked.

>>> needs(3 * 2**30, available=2 * 2**30, what="host memory", ranks=1)
'3.0 GiB of host memory, but 2.0 GiB is available'
>>> needs(1 * 2**30, available=2 * 2**30, what="host memory", ranks=1) is None
True
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

GIB = float(2**30)
UNLIMITED = 2**60
"""A cgroup limit at or above this is no limit (v1 writes 2**63 rounded to pages)."""


def _fields(path: Path) -> dict[str, int]:
    """``name value`` lines (``/proc/meminfo``, ``memory.stat``) as integers; {} if unreadable."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1]) * (1024 if parts[2:] == ["kB"] else 1)
    return out


def _number(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None  # "max" (v2, no limit) is not a number


def meminfo_room(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable + SwapFree`` in bytes, or ``None`` when the kernel does not say."""
    fields = _fields(meminfo)
    if "MemAvailable" not in fields:
        return None
    return fields["MemAvailable"] + fields.get("SwapFree", 0)


def cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """What this container's memory cgroup still allows, in bytes; ``None`` if unlimited.

    The limit minus the usage, plus the inactive page cache that the kernel reclaims
    before it kills anything (v2: ``memory.max``, ``memory.current``; v1, mounted under
    ``memory/``: ``memory.limit_in_bytes``, ``memory.usage_in_bytes``).
    """
    for folder, limit_name, usage_name, cache_name in (
        (root, "memory.max", "memory.current", "inactive_file"),
        (root / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
    ):
        limit, usage = _number(folder / limit_name), _number(folder / usage_name)
        if limit is None or usage is None or limit >= UNLIMITED:
            continue
        cache = _fields(folder / "memory.stat").get(cache_name, 0)
        return max(limit - usage + cache, 0)
    return None


def host_memory_room() -> int | None:
    """Bytes of host memory this process can still take (the smaller of the two above)."""
    known = [room for room in (meminfo_room(), cgroup_room()) if room is not None]
    return min(known) if known else None


def disk_room(folder: str) -> int | None:
    """Free bytes where ``folder`` lives, or ``None`` when that cannot be read."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def local_ranks() -> int:
    """Processes on this host that take a snapshot at about the same time (torchrun's
    ``LOCAL_WORLD_SIZE``; 1 outside it)."""
    value = os.environ.get("LOCAL_WORLD_SIZE", "")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def needs(needed: int, *, available: int | None, what: str, ranks: int) -> str | None:
    """Why ``needed`` bytes (on each of ``ranks`` processes) do not fit, or ``None``."""
    if available is None or needed * ranks <= available:
        return None
    each = f" on each of the {ranks} ranks of this host" if ranks > 1 else ""
    return f"{needed / GIB:.1f} GiB of {what}{each}, but {available / GIB:.1f} GiB is available"
