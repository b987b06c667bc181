"""lrbench.jsonfile: shared JSON files, merged under a lock."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from lrbench import jsonfile


def _add(path: Path, start: int) -> None:
    for i in range(start, start + 25):
        jsonfile.merge(path, {str(i): i})


def test_merge_keeps_entries_and_replaces_updated_ones(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    assert jsonfile.read(path) == {}
    jsonfile.merge(path, {"a": 1, "b": 2})
    assert jsonfile.merge(path, {"b": 3}) == {"a": 1, "b": 3}
    assert jsonfile.read(path) == {"a": 1, "b": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json", "data.json.lock"]


def test_two_processes_merging_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add, args=(path, start)) for start in (0, 100)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert jsonfile.read(path) == {str(i): i for i in (*range(25), *range(100, 125))}


def test_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "data.json"
    jsonfile.write(path, {"x": [1, 2]})
    jsonfile.write(path, {"y": None})
    assert jsonfile.read(path) == {"y": None}
    assert path.read_text(encoding="utf-8").endswith("\n")
