"""lrfind._room: the room a snapshot can take, read from fake /proc and cgroup files."""

from pathlib import Path

import pytest

from lrfind import _room

GIB = 2**30


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text)
    return folder


def test_meminfo_counts_available_memory_and_free_swap(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\nSwapFree: 1024 kB\n")
    assert _room.meminfo_room(meminfo) == 3072 * 1024
    meminfo.write_text("MemTotal: 100 kB\n")  # an old kernel: nothing said
    assert _room.meminfo_room(meminfo) is None
    assert _room.meminfo_room(tmp_path / "missing") is None


def test_cgroup_v2_limit_minus_usage_plus_reclaimable_cache(tmp_path):
    write(tmp_path, memory__max=f"{8 * GIB}\n", memory__current=f"{6 * GIB}\n",
          memory__stat=f"anon 5\ninactive_file {GIB}\nactive_file 7\n")  # fmt: skip
    assert _room.cgroup_room(tmp_path) == 3 * GIB


def test_cgroup_v1_under_memory(tmp_path):
    stat = "total_inactive_file 512\n"
    write(tmp_path / "memory", memory__limit_in_bytes=f"{4 * GIB}",
          memory__usage_in_bytes=f"{3 * GIB}", memory__stat=stat)  # fmt: skip
    assert _room.cgroup_room(tmp_path) == GIB + 512


@pytest.mark.parametrize("limit", ["max", str(2**63 - 4096)])
def test_an_unlimited_cgroup_says_nothing(tmp_path, limit):
    write(tmp_path, memory__max=limit, memory__current="10")
    write(tmp_path / "memory", memory__limit_in_bytes=limit, memory__usage_in_bytes="10")
    assert _room.cgroup_room(tmp_path) is None
    assert _room.cgroup_room(tmp_path / "nowhere") is None


def test_a_cgroup_over_its_limit_has_no_room(tmp_path):
    write(tmp_path, memory__max="100", memory__current="150")
    assert _room.cgroup_room(tmp_path) == 0


def test_host_memory_room_is_the_smaller(monkeypatch):
    monkeypatch.setattr(_room, "meminfo_room", lambda: 5 * GIB)
    monkeypatch.setattr(_room, "cgroup_room", lambda: 2 * GIB)
    assert _room.host_memory_room() == 2 * GIB
    monkeypatch.setattr(_room, "cgroup_room", lambda: None)
    assert _room.host_memory_room() == 5 * GIB
    monkeypatch.setattr(_room, "meminfo_room", lambda: None)
    assert _room.host_memory_room() is None


def test_disk_room(tmp_path):
    assert _room.disk_room(str(tmp_path)) > 0
    assert _room.disk_room(str(tmp_path / "missing")) is None


@pytest.mark.parametrize(("value", "ranks"), [("", 1), ("4", 4), ("0", 1), ("x", 1)])
def test_local_ranks(monkeypatch, value, ranks):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", value)
    assert _room.local_ranks() == ranks


def test_needs_counts_every_rank_of_the_host():
    assert _room.needs(GIB, available=3 * GIB, what="host memory", ranks=3) is None
    assert _room.needs(GIB, available=3 * GIB, what="host memory", ranks=4) == (
        "1.0 GiB of host memory on each of the 4 ranks of this host, but 3.0 GiB is available"
    )
    assert _room.needs(10 * GIB, available=None, what="host memory", ranks=1) is None
