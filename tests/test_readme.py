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
    blocks = re.findall(r"```bash\n(.+?)\n```", setup, flags=re.DOTALL)
    commands = [" ".join(block.replace("\\\n", " ").split()) for block in blocks]
    assert len(commands) == 2
    for block in blocks:  # one command, wrapped to fit a page without a scrollbar
        assert all(line.endswith(" \\") for line in block.splitlines()[:-1])
        assert max(len(line) for line in block.splitlines()) <= 80
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


def test_the_readme_says_which_torch_a_machine_takes() -> None:
    install = README.split("## Install", 1)[1].split("\n## Quick start", 1)[0]
    install = " ".join(install.replace("\\\n", " ").split())
    cpu = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert install.count(cpu) == 3  # the install, and both set-up commands
    assert "a CUDA build" in install
    for code in re.findall(r"```(?:bash|python)\n(.+?)\n```", README, flags=re.DOTALL):
        assert max(len(line) for line in code.splitlines()) <= 80, code
