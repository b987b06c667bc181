import runpy
import sys
from pathlib import Path

from lrfind import Result

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pytorch_example.py"


def test_plain_pytorch_example_finds_and_trains(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "lrfind range test" in out
    accuracy = float(out.strip().rsplit(" ", 1)[-1])
    assert accuracy > 0.9  # trained with the suggested max_lr under OneCycleLR
    assert (tmp_path / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Result.load(tmp_path / "lr_find.json").suggestion is not None
