"""Result.load on corrupt, truncated and hand-edited files; Result.save is atomic.

Every bad file gives a plain ``ValueError`` whose message starts with the path and
names the problem (never a ``JSONDecodeError``, ``UnicodeDecodeError``,
``OverflowError`` or ``RecursionError`` from deep inside json or numpy). A save
that fails midway leaves the old file byte for byte and no temporary file.
``benchmarks/reliability.py`` counts the inputs tried through ``LRFIND_RELIABILITY_LOG``.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrfind import LRFindWarning, Result

pytestmark = pytest.mark.filterwarnings("error")

LRS = np.logspace(-5, 0, 21)
LOSSES = (np.log10(LRS) + 2.0) ** 2 + 1.0
SETTINGS = {"start_lr": 1e-5, "end_lr": 1.0, "num_steps": 21, "smoothing": 0.9, "method": "auto"}
GOOD = Result(LRS, LOSSES, "diverged", SETTINGS, runs=[(LRS, LOSSES), (LRS, LOSSES + 0.5)])
HYPOTHESIS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _record(category: str, n: int = 1) -> None:
    """Count ``n`` bad inputs tried under ``category`` (for benchmarks/reliability.py)."""
    path = os.environ.get("LRFIND_RELIABILITY_LOG")
    if not path:
        return
    row = {"suite": "result files", "category": category, "lost_state": False}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write((json.dumps(row) + "\n") * n)


def good_dict() -> dict[str, Any]:
    return json.loads(json.dumps(GOOD.to_dict()))


def load_error(path: Path) -> ValueError:
    """The error ``Result.load(path)`` raises: exactly ValueError, naming the file."""
    with pytest.raises(ValueError, match=re.escape(f"{path}: ")) as info:
        Result.load(path)
    error = info.value
    assert type(error) is ValueError, type(error)
    assert str(error).startswith(f"{path}: "), str(error)
    assert error.__suppress_context__  # no chained traceback from json or numpy internals
    return error


def load_or_error(path: Path) -> Result | ValueError:
    """The loaded result, or the ValueError (exactly that type, naming the file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LRFindWarning)
            return Result.load(path)
    except ValueError as error:
        found = error
    assert type(found) is ValueError
    assert str(found).startswith(f"{path}: ")
    return found


def write(tmp_path: Path, text: str | bytes, name: str = "r.json") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---- corrupt and truncated ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00\x01garbage", "not a UTF-8 text file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a UTF-8 text file"),
        (b'{"format": "lrfind.result", "lrs": [1e-3,\x00]}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # too deep for json's recursion
        (b"[1" + b"0" * 5000 + b"]", "not valid JSON"),  # over Python's int-digits limit
        (b"lrs,losses\n0.001,2.0\n", "not valid JSON"),  # a CSV
        (b"null", "must be a JSON object, got NoneType"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b"3.5", "must be a JSON object, got float"),
        (b'"lrfind"', "must be a JSON object, got str"),
        (b"{}", "not an lrfind result: format is None"),
    ],
    ids=[
        "empty",
        "binary",
        "png",
        "nul-byte",
        "deeply-nested",
        "huge-int-literal",
        "csv",
        "null",
        "list",
        "number",
        "string",
        "empty-object",
    ],
)
def test_corrupt_files(tmp_path, content, match):
    error = load_error(write(tmp_path, content))
    assert match in str(error)
    _record("corrupt file")


def test_every_truncation_of_a_saved_file(tmp_path):
    text = GOOD.save(tmp_path / "full.json").read_text(encoding="utf-8")
    cuts = range(0, len(text) - 1, 7)
    for cut in cuts:
        path = write(tmp_path, text[:cut])
        assert "not valid JSON" in str(load_error(path))
    _record("truncated file", len(cuts))


# ---- hand-edited ------------------------------------------------------------------------

DROP = object()

EDITS: list[tuple[str, str, Any, str]] = [
    # (id, field, new value, the message names ...)
    ("lrs-string", "lrs", "0.001, 0.01", "lrs must be a list of numbers, got str"),
    ("lrs-dict", "lrs", {"0": 1e-3}, "lrs must be a list of numbers, got dict"),
    ("lrs-number", "lrs", 1e-3, "lrs must be a list of numbers, got float"),
    ("losses-null", "losses", None, "losses must be a list of numbers, got NoneType"),
    ("loss-as-text", "losses", ["1.5", *LOSSES[1:]], "losses[0] must be a number, got str"),
    (
        "loss-bool",
        "losses",
        [*LOSSES[:3], True, *LOSSES[4:]],
        "losses[3] must be a number, got bool",
    ),
    ("loss-nested", "losses", [[1.0], *LOSSES[1:]], "losses[0] must be a number, got list"),
    ("loss-object", "losses", [*LOSSES[:-1], {}], "losses[20] must be a number, got dict"),
    ("loss-nan-typo", "losses", ["nan", *LOSSES[1:]], "losses[0] must be a number, got str"),
    ("lr-huge-int", "lrs", [10**400, *LRS[1:]], "lrs[0] is too large for a float"),
    ("lr-negative", "lrs", [-1e-3, *LRS[1:]], "lrs must be finite and > 0, got lrs[0] = -0.001"),
    ("lr-zero", "lrs", [*LRS[:5], 0, *LRS[6:]], "lrs must be finite and > 0, got lrs[5] = 0.0"),
    ("lr-nan", "lrs", ["NaN", *LRS[1:]], "lrs must be finite and > 0, got lrs[0] = nan"),
    ("lr-inf", "lrs", [*LRS[:-1], "Infinity"], "lrs must be finite and > 0, got lrs[20] = inf"),
    ("short-losses", "losses", list(LOSSES[:3]), "same length, got 21 and 3"),
    ("empty-lrs", "lrs", [], "same length, got 0 and 21"),
    ("runs-dict", "runs", {"0": []}, "runs must be a list of [lrs, losses] pairs"),
    ("runs-triple", "runs", [[[1e-3], [1.0], [2.0]]], "runs must be a list of [lrs, losses] pairs"),
    ("run-lengths", "runs", [[[1e-3, 1e-2], [1.0]]], "runs[0]: lrs and losses must have the same"),
    ("run-bad-value", "runs", [[[1e-3], [1.0]], [[1e-3], ["x"]]], "runs[1] losses[0] must be a"),
    ("run-negative-lr", "runs", [[[-1.0], [1.0]]], "runs[0] lrs must be finite and > 0"),
    ("stop-number", "stop_reason", 3, "stop_reason must be a string, got 3"),
    ("stop-unknown", "stop_reason", "exploded", "stop_reason must be one of"),
    ("settings-list", "settings", [1, 2], "settings must be a dict, got [1, 2]"),
    ("settings-null", "settings", None, "settings must be a dict, got None"),
    ("smoothing-text", "settings", {"smoothing": "high"}, "smoothing must be a number"),
    ("smoothing-one", "settings", {"smoothing": 1.0}, "smoothing must be in [0, 1), got 1.0"),
    ("smoothing-bool", "settings", {"smoothing": True}, "smoothing must be a number, got True"),
    ("smoothing-huge-int", "settings", {"smoothing": 10**400}, "smoothing must be finite"),
    ("settings-deep", "settings", "DEEP", "settings are nested more than 32 levels deep"),
    ("run-lr-huge-int", "runs", [[[10**400], [1.0]]], "runs[0] lrs[0] is too large for a float"),
    ("method-unknown", "settings", {"method": "magic"}, "settings['method'] must be one of"),
    ("version-text", "version", "1", "version must be a positive integer, got '1'"),
    ("version-zero", "version", 0, "version must be a positive integer, got 0"),
    ("version-bool", "version", True, "version must be a positive integer, got True"),
    ("version-float", "version", 1.5, "version must be a positive integer, got 1.5"),
    ("version-missing", "version", DROP, "version must be a positive integer, got None"),
    ("format-other", "format", "fastai.lr_find", "not an lrfind result: format is 'fastai"),
    ("format-missing", "format", DROP, "not an lrfind result: format is None"),
    ("lrs-missing", "lrs", DROP, "an lrfind result needs lrs"),
    ("losses-missing", "losses", DROP, "an lrfind result needs losses"),
    ("stop-missing", "stop_reason", DROP, "an lrfind result needs stop_reason"),
]


@pytest.mark.parametrize(
    ("field", "value", "match"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS]
)
def test_hand_edited_files_give_a_clear_error(tmp_path, field, value, match):
    data = good_dict()
    if value is DROP:
        del data[field]
    else:
        data[field] = value
    text = json.dumps(data)
    if value == "DEEP":  # nested ~900 deep: under json's limit, over any sane setting's
        text = text.replace('"DEEP"', '{"a": ' * 900 + "1" + "}" * 900)
    error = load_error(write(tmp_path, text))
    assert match in str(error), str(error)
    _record("hand-edited: wrong type / length / value")


def test_a_float_literal_too_large_for_a_float_is_named(tmp_path):
    text = json.dumps(good_dict()).replace('"smoothing": 0.9', '"smoothing": 1e400')
    assert "1e400" in text
    assert "smoothing must be finite, got inf" in str(load_error(write(tmp_path, text)))
    text = json.dumps(good_dict()).replace(str(LRS[3]), "1" + "0" * 400, 1)  # an integer lr
    assert "lrs[3] is too large for a float" in str(load_error(write(tmp_path, text)))
    _record("hand-edited: wrong type / length / value", 2)


def test_readable_edits_are_accepted(tmp_path):
    data = good_dict()
    data["losses"] = [None, "NaN", "Infinity", "-Infinity", *(int(v) for v in LOSSES[4:])]
    data["settings"]["comment"] = "edited by hand"
    result = Result.load(write(tmp_path, "\ufeff" + json.dumps(data, indent=4)))  # a BOM too
    np.testing.assert_array_equal(result.losses[:4], [math.nan, math.nan, math.inf, -math.inf])
    np.testing.assert_array_equal(result.losses[4:], np.floor(LOSSES[4:]))
    assert result.losses.dtype == np.float64
    assert result.settings["comment"] == "edited by hand"
    # Python's json writes bare NaN / Infinity (not JSON, but common): read them too
    text = json.dumps(good_dict()).replace(str(LOSSES[0]), "NaN", 1)
    text = text.replace(str(LOSSES[1]), "Infinity", 1)
    loaded = Result.load(write(tmp_path, text))
    assert math.isnan(loaded.losses[0])
    assert loaded.losses[1] == math.inf
    _record("hand-edited: accepted spellings", 2)


def test_fields_from_a_future_version_are_ignored_with_a_warning(tmp_path):
    data = good_dict() | {"version": 7, "hessian": [1, 2, 3], "provenance": {"git": "abc"}}
    with pytest.warns(LRFindWarning, match="newer lrfind .format version 7"):
        result = Result.load(write(tmp_path, json.dumps(data)))
    assert result == GOOD
    data["version"] = 1  # extra fields in this version: read silently
    assert Result.load(write(tmp_path, json.dumps(data))) == GOOD
    _record("extra fields / future version", 2)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Result.load(tmp_path / "nowhere.json")
    _record("corrupt file")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False)
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "completed", "auto", "1e-3", ""])
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["format", "version", "lrs", "losses", "stop_reason", "settings", "runs", "extra"]


@settings(HYPOTHESIS, max_examples=300)
@given(
    st.lists(
        st.tuples(st.sampled_from(FIELDS), JSON_VALUES | st.just(DROP)), min_size=1, max_size=3
    ),
    st.lists(st.tuples(st.integers(0, 20), JSON_VALUES), max_size=2),
)
def test_any_hand_edit_loads_or_gives_a_value_error(edits, item_edits):
    data = good_dict()
    for field, value in edits:
        if value is DROP:
            data.pop(field, None)
        else:
            data[field] = value
    for i, value in item_edits:  # change one element of the arrays
        for key in ("lrs", "losses"):
            if isinstance(data.get(key), list) and i < len(data[key]):
                data[key][i] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        result = load_or_error(path)
        if isinstance(result, Result):  # whatever loads is a usable result
            assert result.lrs.shape == result.losses.shape
            result.suggestions()
            result.summary()
            assert Result.load(result.save(path)) == result
    _record("hand-edited: random (hypothesis)")


@settings(HYPOTHESIS, max_examples=150)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4))
def test_flipped_bytes_load_or_give_a_value_error(flips):
    raw = bytearray(json.dumps(good_dict(), indent=1).encode())
    for position, byte in flips:
        raw[position % len(raw)] = byte
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.json"
        path.write_bytes(bytes(raw))
        result = load_or_error(path)
        if isinstance(result, Result):
            assert result.lrs.shape == result.losses.shape
            result.suggestions()
    _record("corrupt file: flipped bytes (hypothesis)")


# ---- atomic save ------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_save_round_trip_keeps_nan_and_inf(tmp_path):
    losses = LOSSES.copy()
    losses[[2, 5, 9]] = [math.nan, math.inf, -math.inf]
    result = Result(LRS, losses, "completed", SETTINGS)
    path = result.save(tmp_path / "r.json")
    text = path.read_text(encoding="utf-8")
    json.loads(text, parse_constant=pytest.fail)  # strict JSON: no bare NaN / Infinity
    assert Result.load(path) == result
    _record("save: non-finite values")


def test_save_round_trip_keeps_an_infinite_diverge_factor(tmp_path):
    # diverge_factor=inf (the stop rule switched off) is written as the curve's
    # infinities are, "Infinity", and read back as a float.
    result = Result(LRS, LOSSES, "completed", SETTINGS | {"diverge_factor": math.inf})
    path = result.save(tmp_path / "r.json")
    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=pytest.fail)
    assert data["settings"]["diverge_factor"] == "Infinity"
    loaded = Result.load(path)
    assert loaded == result
    assert loaded.settings["diverge_factor"] == math.inf
    assert isinstance(loaded.settings["diverge_factor"], float)


def test_save_over_an_existing_file_replaces_it_and_keeps_its_mode(tmp_path):
    path = tmp_path / "r.json"
    Result(LRS[:5], LOSSES[:5]).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()  # a new file: the umask
    os.chmod(path, 0o640)
    GOOD.save(path)
    assert Result.load(path) == GOOD
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["r.json"]
    _record("save: overwrite")


def _fail_write(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Make the next save write half of its text, then raise ``error``."""
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, text: str) -> int:
            self.handle.write(text[: len(text) // 2])
            self.handle.flush()
            raise error

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k)))


def _fail(monkeypatch: pytest.MonkeyPatch, name: str, error: BaseException) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(os, name, broken)


FAILURES = [
    ("disk-full-midway", lambda mp: _fail_write(mp, OSError(28, "No space left on device"))),
    ("interrupt-midway", lambda mp: _fail_write(mp, KeyboardInterrupt())),
    ("fsync-fails", lambda mp: _fail(mp, "fsync", OSError(5, "Input/output error"))),
    ("rename-fails", lambda mp: _fail(mp, "replace", PermissionError(13, "Permission denied"))),
    ("interrupt-at-rename", lambda mp: _fail(mp, "replace", KeyboardInterrupt())),
]


@pytest.mark.parametrize("break_it", [f[1] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_a_save_that_fails_midway_leaves_the_old_file_and_no_temporary(
    tmp_path, monkeypatch, break_it
):
    path = tmp_path / "r.json"
    GOOD.save(path)
    before = path.read_bytes()
    os.chmod(path, 0o600)
    changed = Result(LRS, LOSSES * 2.0, "completed", SETTINGS)
    with monkeypatch.context() as mp:
        break_it(mp)
        with pytest.raises((OSError, KeyboardInterrupt)):
            changed.save(path)
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["r.json"]
    changed.save(path)  # and the next save works
    assert Result.load(path) == changed
    _record("save: failure midway")


def test_a_failed_save_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    target = tmp_path / "missing-folder" / "r.json"
    with pytest.raises(FileNotFoundError) as info:
        GOOD.save(target)
    assert info.value.filename == str(target)
    assert str(target) in str(info.value)
    assert ".tmp" not in str(info.value)
    with monkeypatch.context() as mp:
        _fail_write(mp, OSError(28, "No space left on device"))
        with pytest.raises(OSError, match="No space left on device") as info:
            GOOD.save(tmp_path / "r.json")
    assert info.value.filename == str(tmp_path / "r.json")
    assert os.listdir(tmp_path) == []


def test_a_setting_json_cannot_hold_fails_before_touching_the_file(tmp_path):
    path = tmp_path / "r.json"
    GOOD.save(path)
    before = path.read_bytes()
    with pytest.raises(
        ValueError, match=r"cannot write the result as JSON: .*not JSON serializable"
    ):
        Result(LRS, LOSSES, "completed", {"device": object()}).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["r.json"]
    with pytest.raises(FileNotFoundError):
        GOOD.save(tmp_path / "missing-folder" / "r.json")
    assert os.listdir(tmp_path) == ["r.json"]
    _record("save: failure midway", 2)
