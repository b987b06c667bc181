"""The README is the front page: its links lead somewhere, and its test command is CI's."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_every_relative_link_of_the_readme_exists() -> None:
    targets = [m.group(1) for m in LINK.finditer(README) if "://" not in m.group(1)]
    assert "docs/getting-started.md" in targets
    assert [t for t in targets if not (ROOT / t).exists()] == []


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    setup = README.split("## Set-up: two commands from a fresh clone", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", setup)
    assert len(commands) == 2
    assert commands[0].endswith("&& lrfind demo")
    assert commands[1].endswith("&& python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\npython -m pytest -q\n" in ci


def test_the_moved_sections_keep_their_heading_and_live_on_in_docs() -> None:
    """The README's "Several processes" and "Integrations" sections moved to docs/ as they
    were; their headings stay in the README as links."""
    for page in ("distributed.md", "integrations.md"):
        heading = (ROOT / "docs" / page).read_text(encoding="utf-8").splitlines()[0]
        assert heading.startswith("## ")
        stub = README.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        assert f"(docs/{page})" in stub
        assert len(stub.strip().splitlines()) <= 3
