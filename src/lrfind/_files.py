"""Result files: one way to write them (atomically) and one way to read their JSON.

A file is written as a normal file write would leave it: a new file gets the usual
permissions (``0o666`` less the umask), an overwritten one keeps its own mode. The text
goes to a hidden temporary file beside the target, then a rename; a write that fails (or
is interrupted) leaves an existing file as it was and no temporary file behind, and its
``OSError`` names the target, not the temporary file.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_atomic(folder / "r.json", '{"a": 1}')
>>> read_json(folder / "r.json")
{'a': 1}
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _naming(error: OSError, target: Path) -> OSError:
    """``error`` (same type, errno and reason) about ``target`` instead of the temporary."""
    if error.errno is None:
        return error
    try:
        return type(error)(error.errno, error.strerror, str(target))
    except Exception:  # an OSError subclass with its own constructor
        return error


def write_atomic(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically: a temporary file, then a rename."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask
    except OSError as error:
        raise _naming(error, target) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, target) from None
        raise


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON in ``path``; ``ValueError`` starting with the path when it is not JSON.

    Raises:
        FileNotFoundError: when there is no such file (other ``OSError`` likewise).
        ValueError: not UTF-8 text, or not valid JSON (also nested too deep for the
            parser, or a number with too many digits).
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start})"
        ) from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, too many digits, depth
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def load_saved(path: str | os.PathLike[str], from_dict: Callable[[Any], T]) -> T:
    """``from_dict`` of the JSON in ``path``; its ``ValueError`` starts with the path."""
    data = read_json(path)
    try:
        return from_dict(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
