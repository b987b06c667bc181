"""docs/screenshots.py makes the documentation's pictures of the demo from a fresh run."""

from __future__ import annotations

import runpy
import struct
import sys
from pathlib import Path

import pytest

from lrfind.cli.report import suggestions_table
from lrfind.cli.terminal import render_result
from lrfind.result import Result

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "screenshots.py"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_script_writes_the_pictures_the_docs_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--out", str(tmp_path)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    names = ["demo.png", "demo.json", "terminal.txt", "terminal.png", "terminal-ascii.txt"]
    assert capsys.readouterr().out == "wrote " + ", ".join(str(tmp_path / n) for n in names) + "\n"
    assert _png_size(tmp_path / "demo.png") == (960, 600)  # 8 x 5 inches at 120 dpi
    result = Result.load(tmp_path / "demo.json")
    assert result.stop_reason == "diverged"  # the demo's curve, blow-up included
    assert result.suggestion is not None
    table = suggestions_table(result, 80)
    for name, charset in (("terminal.txt", "braille"), ("terminal-ascii.txt", "ascii")):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert text == render_result(result, width=80, charset=charset) + "\n\n" + table + "\n"
    assert (tmp_path / "terminal-ascii.txt").read_text(encoding="utf-8").isascii()
    width, height = _png_size(tmp_path / "terminal.png")
    lines = len((tmp_path / "terminal.txt").read_text(encoding="utf-8").splitlines())
    assert width == round((80 * 0.085 + 0.3) * 110)
    assert height == round((lines * 0.17 + 0.3) * 110)


def test_the_docs_show_the_pictures_the_script_writes() -> None:
    page = (ROOT / "docs" / "reading-the-plot.md").read_text(encoding="utf-8")
    for name in ("images/demo.png", "images/terminal.png"):
        assert f"]({name})" in page
        assert (ROOT / "docs" / name).is_file()
    for name in ("docs/images/terminal.txt", "docs/images/terminal-ascii.txt"):
        assert f'--8<-- "{name}"' in page
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "lag-free smoothing of the loss (auto)" in text  # made after #21, not before


def test_the_site_pictures_are_committed_at_the_size_the_script_makes() -> None:
    pages = runpy.run_path(str(SCRIPT))["SITE_PAGES"]
    assert set(pages) == {"site-home.png", "site-find.png"}
    for name, (_, height) in pages.items():
        assert _png_size(ROOT / "docs" / "images" / name) == (1280, height)


def test_a_page_is_photographed_by_headless_chromium(tmp_path: Path) -> None:
    import shutil

    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no chromium (apt-get install chromium)")
    script = runpy.run_path(str(SCRIPT))
    page = tmp_path / "page.html"
    page.write_text("<html><body style='background:#123456'><h1>lrfind</h1></body></html>")
    png = script["photograph"](page, tmp_path / "page.png", 300)
    assert _png_size(png) == (1280, 300)
