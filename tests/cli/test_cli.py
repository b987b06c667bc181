"""The ``lrfind`` command, run as users run it: ``python -m lrfind ...`` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lrfind import cli
from lrfind.result import Result

pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).parents[1] / "cli_setup_example.py"
PNG_HEADER = b"\x89PNG\r\n\x1a\n"
TINY_DEMO = [
    "demo",
    "--num-steps",
    "25",
    "--grid",
    "--grid-lrs",
    "1e-3",
    "1e-1",
    "--grid-steps",
    "4",
    "--no-progress",
]


def lrfind(*args: str, cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1", "NO_COLOR": "1", **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "lrfind", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copied(path: Path, folder: Path) -> Path:
    """A copy of ``path`` as ``folder/copy.json``."""
    copy = folder / "copy.json"
    copy.write_text(path.read_text())
    return copy


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_HEADER
    assert path.stat().st_size > 10_000  # a drawn figure, not an empty canvas


def assert_usage_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit code 2, one line on stderr that says what is wrong, no traceback."""
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("lrfind: error: ")
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo")
    done = lrfind(*TINY_DEMO, "--out", "out", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "out", done.stdout


def test_demo_writes_png_json_and_prints_table_and_plot(demo_run: tuple[Path, str]) -> None:
    out, stdout = demo_run
    assert_png(out / "lr_find.png")
    result = Result.load(out / "lr_find.json")
    assert 5 <= len(result.lrs) <= 25
    assert result.settings["num_steps"] == 25
    for name in ("auto", "steepest", "valley", "minimum", "slide"):
        assert any(line.lstrip("* ").startswith(name) for line in stdout.splitlines())
    assert "learning rate (log scale)" in stdout
    assert max(len(line) for line in stdout.splitlines()) <= 80


def test_demo_grid_compares_and_counts_the_cost(demo_run: tuple[Path, str]) -> None:
    out, stdout = demo_run
    assert_png(out / "grid.png")
    grid = json.loads((out / "grid.json").read_text())
    assert grid["format"] == "lrfind.grid"
    assert grid["lrs"] == [1e-3, 1e-1]
    assert grid["steps"] == 4
    assert "grid best" in stdout
    assert "Karpathy's 3e-4" in stdout
    assert "(lrfind)" in stdout
    assert "cost: range test" in stdout
    assert "x cheaper in steps" in stdout


def test_demo_is_deterministic(tmp_path: Path, demo_run: tuple[Path, str]) -> None:
    import torch

    out, _ = demo_run
    threads = torch.get_num_threads()
    try:  # in-process, to save a start-up; the demo sets torch's threads
        assert cli.main(["demo", "--num-steps", "25", "--no-progress", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert Result.load(tmp_path / "lr_find.json").losses.tolist() == (
        Result.load(out / "lr_find.json").losses.tolist()
    )


def test_plot_rerenders_png_and_terminal(tmp_path: Path, demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    args = ("plot", str(out / "lr_find.json"), "-o", "again.png", "--terminal")
    done = lrfind(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_png(tmp_path / "again.png")
    assert "▼ auto" in done.stdout
    assert "1e-4" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    ascii_only = lrfind(*args[:2], "--terminal", cwd=tmp_path, PYTHONIOENCODING="ascii")
    assert ascii_only.returncode == 0, ascii_only.stderr
    assert ascii_only.stdout.isascii()
    assert "v auto" in ascii_only.stdout


def test_plot_terminal_only_and_grid_results(
    tmp_path: Path, demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo_run
    copy = copied(out / "lr_find.json", tmp_path)
    assert cli.main(["plot", str(copy), "--terminal", "--method", "all"]) == 0
    assert "S steepest" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [copy]  # --terminal alone writes no file
    assert (
        cli.main(["plot", str(out / "grid.json"), "--terminal", "-o", str(tmp_path / "g.png")]) == 0
    )
    assert "grid best" in capsys.readouterr().out
    assert_png(tmp_path / "g.png")


def test_plot_terminal_draws_the_ema_only_with_the_flag(
    tmp_path: Path, demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo_run
    copy = copied(out / "lr_find.json", tmp_path)
    assert cli.main(["plot", str(copy), "--terminal", "--ascii"]) == 0
    plain = capsys.readouterr().out
    assert "** lag-free smoothing of the loss (auto)" in plain
    assert "EMA" not in plain
    assert cli.main(["plot", str(copy), "--terminal", "--ascii", "--ema"]) == 0
    assert "- EMA 0.98 (peers' smoothing)" in capsys.readouterr().out


def test_run_on_a_setup_file(tmp_path: Path) -> None:
    done = lrfind("run", f"{EXAMPLE}:as_dataclass", "--num-steps", "10", "--end-lr", "1",
                  "--threads", "1", "--no-progress", "--out", "res", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_png(tmp_path / "res" / "lr_find.png")
    result = Result.load(tmp_path / "res" / "lr_find.json")
    assert result.settings["end_lr"] == 1.0
    assert len(result.lrs) <= 10
    assert "suggestions:" in done.stdout


def test_run_saves_and_shows_the_curve_so_far_on_ctrl_c(tmp_path: Path) -> None:
    done = lrfind("run", f"{EXAMPLE}:interrupted", "--num-steps", "20", "--threads", "1",
                  "--no-progress", "--ascii", "--out", "res", cwd=tmp_path)  # fmt: skip
    assert done.returncode == cli.EXIT_INTERRUPTED, done.stderr
    assert "interrupted after 7 points; the curve so far:" in done.stderr
    assert_png(tmp_path / "res" / "lr_find.png")
    result = Result.load(tmp_path / "res" / "lr_find.json")
    assert (len(result.lrs), result.stop_reason) == (7, "interrupted")
    assert "suggestions:" not in done.stdout
    lines = done.stdout.splitlines()  # what it announces, it shows
    title = lines.index("lrfind range test: 7 steps, stopped: interrupted")
    assert lines[title + 1] == "loss"
    assert sum(line.count("*") for line in lines) >= 7  # the curve, drawn
    assert "suggestions from the 7 points so far:" in done.stdout
    assert "stopped: interrupted after 7 of 20 steps" in done.stdout
    assert lines.index("suggestions from the 7 points so far:") > title


@pytest.mark.parametrize("where", ["cpu", "disk"])
def test_run_passes_the_memory_options_on(
    where: str, tmp_path: Path, snapshots_taken: list[Any]
) -> None:
    code = cli.main(["run", f"{EXAMPLE}:frozen_first_layer", "--num-steps", "8", "--threads",
                     "1", "--no-progress", "--out", str(tmp_path), "--skip-frozen",
                     "--snapshot", where])  # fmt: skip
    assert code == cli.EXIT_OK
    snap = snapshots_taken[0]
    assert (snap.where, [f.name for f in snap._frozen]) == (where, ["0.weight", "0.bias"])


def test_grid_on_a_setup_file(tmp_path: Path) -> None:
    done = lrfind("grid", str(EXAMPLE), "--lrs", "1e-2:1:1", "--steps", "5", "--threads", "1",
                  "--no-progress", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    grid = json.loads((tmp_path / "grid.json").read_text())
    assert grid["lrs"] == pytest.approx([1e-2, 1e-1, 1.0])
    assert grid["validation"] is True
    assert_png(tmp_path / "grid.png")
    assert "best lr:" in done.stdout
    assert "final val loss" in done.stdout


def test_grid_trains_under_the_schedule_given(tmp_path: Path) -> None:
    done = lrfind("grid", str(EXAMPLE), "--lrs", "1e-2", "0.1", "--steps", "10", "--threads",
                  "1", "--no-progress", "--schedule", "wsd", "--warmup", "0.2",
                  cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    grid = json.loads((tmp_path / "grid.json").read_text())
    assert (grid["schedule"], grid["warmup"], grid["scheduler"]) == ("wsd", 0.2, None)
    assert "2 runs x 10 steps (wsd, warmup 20%)" in done.stdout
    refused = lrfind("grid", str(EXAMPLE), "--warmup", "0.1", cwd=tmp_path)
    assert_usage_error(refused, "warmup does not apply to schedule 'onecycle'")


def test_run_check_trains_the_suggestion_and_its_neighbours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["run", str(EXAMPLE), "--num-steps", "30", "--check", "4", "--threads", "1",
                     "--no-progress", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    suggested = Result.load(tmp_path / "lr_find.json").suggestion
    assert suggested is not None
    checked = json.loads((tmp_path / "check.json").read_text())
    assert checked["lrs"] == pytest.approx([suggested / 10 ** (1 / 3), suggested,
                                            suggested * 10 ** (1 / 3)])  # fmt: skip
    assert (checked["steps"], checked["schedule"], checked["validation"]) == (4, "onecycle", True)
    assert_png(tmp_path / "check.png")
    best = min(zip(checked["losses"], checked["lrs"], strict=True))[1]
    assert f"checked lr: {best:.3g}" in capsys.readouterr().out


def test_run_for_a_schedule_records_it_and_checks_under_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--num-steps", "30", "--check", "4", "--threads", "1", "--schedule", "warmup-cosine"]
    code = cli.main(["run", str(EXAMPLE), *args, "--no-progress", "--out", str(tmp_path)])
    assert code == 0
    result = Result.load(tmp_path / "lr_find.json")
    assert result.schedule == "warmup-cosine"
    assert "for warmup-cosine" in result.suggest().reason
    assert "suggestions: lr = the peak lr of a warmup-cosine run" in capsys.readouterr().out
    checked = json.loads((tmp_path / "check.json").read_text())
    assert (checked["schedule"], checked["warmup"]) == ("warmup-cosine", 0.1)


def test_run_takes_an_infinite_diverge_factor(tmp_path: Path) -> None:
    code = cli.main(["run", str(EXAMPLE), "--num-steps", "12", "--diverge-factor", "inf",
                     "--threads", "1", "--no-progress", "--out", str(tmp_path)])  # fmt: skip
    assert code == cli.EXIT_OK
    result = Result.load(tmp_path / "lr_find.json")
    assert result.settings["diverge_factor"] == float("inf")
    assert result.stop_reason in ("completed", "non-finite loss")
    assert "Infinity" in (tmp_path / "lr_find.json").read_text()


def test_diverge_factor_nan_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", str(EXAMPLE), "--diverge-factor", "nan"]) == 2
    assert "--diverge-factor" in one_error_line(capsys)


def test_run_check_needs_a_positive_step_count(tmp_path: Path) -> None:
    done = lrfind("run", str(EXAMPLE), "--check", "0", cwd=tmp_path)
    assert_usage_error(done, "--check", "expected an integer >= 1")


def test_run_check_walk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", str(EXAMPLE), "--num-steps", "30", "--check", "4", "--walk", "2",
                     "--threads", "1", "--no-progress", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    checked = json.loads((tmp_path / "check.json").read_text())
    assert 3 <= len(checked["lrs"]) <= 5
    assert "+ up to 2 past an edge" in capsys.readouterr().out
    assert cli.main(["run", str(EXAMPLE), "--walk", "2"]) == 2
    assert "--walk needs --check" in capsys.readouterr().err
    assert cli.main(["run", str(EXAMPLE), "--check", "4", "--walk", "-1"]) == 2
    assert "--walk must be >= 0, got -1" in capsys.readouterr().err


def test_missing_setup_file(tmp_path: Path) -> None:
    assert_usage_error(lrfind("run", "nope.py", cwd=tmp_path), "not found", "nope.py")


def test_corrupt_json(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"format": "lrfind.result", "lrs": [1, ')
    assert_usage_error(lrfind("plot", "broken.json", cwd=tmp_path), "not valid JSON")
    (tmp_path / "other.json").write_text('{"format": "something"}')
    assert_usage_error(lrfind("plot", "other.json", cwd=tmp_path), "not an lrfind result")


def test_bad_option_values(tmp_path: Path) -> None:
    done = lrfind("run", str(EXAMPLE), "--start-lr", "1", "--end-lr", "0.1", cwd=tmp_path)
    assert_usage_error(done, "--end-lr must be > start_lr")
    assert_usage_error(lrfind("demo", "--optimizer", "lamb", cwd=tmp_path), "invalid choice")
    assert_usage_error(lrfind("grid", str(EXAMPLE), "--lrs", "1e-3:x", cwd=tmp_path), "--lrs")


# In-process (no interpreter start-up): the same entry point, the same exit codes.


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("lrfind: error: ")
    return lines[0]


def test_setup_file_without_the_factory(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grid", f"{EXAMPLE}:make"]) == 2
    assert "has no function 'make'" in one_error_line(capsys)
    assert cli.main(["run", f"{EXAMPLE}:NOT_A_FUNCTION"]) == 2
    assert "not a function (it is int)" in one_error_line(capsys)


def test_factory_returning_the_wrong_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", f"{EXAMPLE}:wrong_shape"]) == 2
    line = one_error_line(capsys)
    assert "wrong_shape() must return a Setup or a dict with keys model, optimizer, data" in line
    assert line.endswith("got tuple")


def test_failure_in_user_code_exits_1_with_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", f"{EXAMPLE}:broken", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "the user's factory is broken" in err
    assert (
        err.strip().splitlines()[-1] == "lrfind: error in your code: the user's factory is broken"
    )


def test_lrfind_setup_checks_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", f"{EXAMPLE}:no_loss", "--no-progress", "--num-steps", "5"])
    assert code == 2
    assert "loss_fn is required" in one_error_line(capsys)


def test_model_error_is_the_users(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", f"{EXAMPLE}:model_fails", "--no-progress", "--num-steps", "5"])
    assert code == 1
    assert "shapes cannot be multiplied" in capsys.readouterr().err


def test_demo_without_its_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lrfind import demo

    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name, *a: None)
    assert cli.main(["demo", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "lrfind: error: the demo needs torch and scikit-learn: pip install 'lrfind[demo]'"
    )


def test_help_everywhere_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["demo"], ["run"], ["plot"], ["grid"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main([*command, "--help"])
        assert exit_.value.code == 0
        assert "examples:" in capsys.readouterr().out
    assert cli.main([]) == 2


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    assert cli.main(["grid", str(EXAMPLE), "--out", str(tmp_path / "file")]) == 2
    assert "--out must be a folder" in capsys.readouterr().err


def test_parse_lrs() -> None:
    assert cli.parse_lrs(["1e-3", "1e-2:1e-1:1", "1e-3"]) == [1e-3, 1e-2, 1e-1]
    with pytest.raises(cli.UsageError, match="must be > 0"):
        cli.parse_lrs(["-1"])
    with pytest.raises(cli.UsageError, match="need 0 < START < END"):
        cli.parse_lrs(["1:1e-3"])
    with pytest.raises(cli.UsageError, match="neither a number nor"):
        cli.parse_lrs(["1e-3:1:2:3"])


def test_plot_defaults_to_a_png_next_to_the_json(
    tmp_path: Path, demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo_run
    copy = tmp_path / "saved.json"
    copy.write_text((out / "lr_find.json").read_text())
    assert cli.main(["plot", str(copy), "--no-raw"]) == 0
    assert_png(tmp_path / "saved.png")
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'saved.png'}"
    assert cli.main(["plot", str(copy), "-o", str(tmp_path / "no" / "such.png")]) == 2
    assert "-o: no such folder" in one_error_line(capsys)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"lrfind {lrfind_version()}"


def lrfind_version() -> str:
    import lrfind as package

    return package.__version__


# ---- signals, closed and full outputs, set-up files that exit (#26) ----------------------


def test_sigterm_ends_a_disk_snapshot_run_as_ctrl_c_does(tmp_path: Path) -> None:
    """A real SIGTERM mid-sweep: restore, the curve so far saved, the snapshot file
    removed, exit 143 with one line (systemd, Kubernetes and job schedulers send it)."""
    temp, mark = tmp_path / "tmp", tmp_path / "mark"
    temp.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1", "TMPDIR": str(temp),
           "LRFIND_TEST_MARK": str(mark)}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "lrfind", "run", f"{EXAMPLE}:slow", "--snapshot", "disk",
         "--num-steps", "2000", "--threads", "1", "--no-progress", "--out", "res"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not mark.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == cli.EXIT_TERMINATED == 143, stderr
    assert stderr.strip().splitlines()[-1] == "lrfind: terminated (SIGTERM)"
    assert "Traceback" not in stderr
    result = Result.load(tmp_path / "res" / "lr_find.json")
    assert result.stop_reason == "interrupted"
    assert 3 <= len(result.lrs) < 2000  # the mark is made in the 4th step
    assert_png(tmp_path / "res" / "lr_find.png")
    assert "wrote" in stdout
    assert [p.name for p in temp.iterdir() if p.name.startswith("lrfind")] == []


def test_a_signal_raised_as_system_exit_is_said_and_exits_with_its_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIGTERM the library turns into a SystemExit (with ``signum``) ends as SIGTERM."""
    code = cli.main(["run", f"{EXAMPLE}:system_exit_on_sigterm", "--num-steps", "8",
                     "--threads", "1", "--no-progress", "--out", str(tmp_path)])  # fmt: skip
    assert code == cli.EXIT_TERMINATED
    assert capsys.readouterr().err.strip().splitlines()[-1] == "lrfind: terminated (SIGTERM)"


def test_a_closed_stdout_loses_no_file_and_is_not_an_error(tmp_path: Path) -> None:
    """`lrfind run ... | head -1`, the reader gone before the first line: the files are
    written, the exit is 141 (as a shell reports `yes | head -1`), nothing on stderr."""
    read, write = os.pipe()
    os.close(read)  # every write to stdout now fails with EPIPE
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "lrfind", "run", str(EXAMPLE), "--num-steps", "10",
             "--threads", "1", "--no-progress", "--out", "res"],
            cwd=tmp_path, env=env, stdout=write, stderr=subprocess.PIPE, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == cli.EXIT_CLOSED_PIPE, done.stderr
        assert "error" not in done.stderr  # quiet (a warning about the curve may show)
        assert Result.load(tmp_path / "res" / "lr_find.json").settings["num_steps"] == 10
        assert_png(tmp_path / "res" / "lr_find.png")
        done = subprocess.run(
            [sys.executable, "-m", "lrfind", "plot", "res/lr_find.json", "--terminal"],
            cwd=tmp_path, env=env, stdout=write, stderr=subprocess.PIPE, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (cli.EXIT_CLOSED_PIPE, "")
    finally:
        os.close(write)
    if not Path("/dev/full").exists():
        return
    with open("/dev/full", "w") as full:  # stdout on a full disk: one line, exit 2
        done = subprocess.run(
            [sys.executable, "-m", "lrfind", "plot", "res/lr_find.json", "--terminal"],
            cwd=tmp_path, env=env, stdout=full, stderr=subprocess.PIPE, text=True,
            timeout=300, check=False,
        )  # fmt: skip
    assert_usage_error(done, "cannot write to stdout: No space left on device")


def test_an_output_file_that_cannot_be_written_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lr_find.json").mkdir()  # in the way of the JSON (root can write anywhere)
    args = ["run", str(EXAMPLE), "--num-steps", "8", "--threads", "1", "--no-progress"]
    assert cli.main([*args, "--out", str(tmp_path)]) == cli.EXIT_USAGE
    line = one_error_line(capsys)
    assert line.startswith(f"lrfind: error: cannot write {tmp_path / 'lr_find.json'}: ")
    other = tmp_path / "other"
    (other / "lr_find.png").mkdir(parents=True)  # and in the way of the PNG: the same rule
    assert cli.main([*args, "--out", str(other)]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"lrfind: error: cannot write {other / 'lr_find.png'}")
    Result.load(other / "lr_find.json")  # the measurements were written first


SETUP_BODY = """
import sys
sys.path.insert(0, {folder!r})
from cli_setup_example import setup
"""


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("sys.exit(0)\n", "called sys.exit(0) while lrfind imported it"),
        ("def setup():\n    sys.exit(3)\n", "called sys.exit(3) while {path}:setup() ran"),
        (
            "import argparse\nparser = argparse.ArgumentParser()\n"
            "parser.add_argument('--data', required=True)\nparser.parse_args()\n",
            "called sys.exit(2) while lrfind imported it",
        ),
    ],
    ids=["exit-at-import", "exit-in-factory", "argparse-at-import"],
)
def test_a_set_up_file_that_exits_is_one_line_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, said: str
) -> None:
    path = tmp_path / "job.py"
    path.write_text(SETUP_BODY.format(folder=str(EXAMPLE.parent)) + code)
    argv = sys.argv
    out = tmp_path / "res"
    args = ["run", str(path), "--num-steps", "8", "--no-progress", "--out", str(out)]
    assert cli.main(args) == cli.EXIT_USAGE
    assert sys.argv is argv
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"lrfind: error: {path} {said.format(path=path)}: ")
    assert "must not exit" in err[-1]
    assert "usage: lrfind" not in "\n".join(err)  # argparse's usage names the set-up, not lrfind
    assert list(out.iterdir()) == []


def test_a_set_up_file_sees_no_lrfind_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "job.py"
    path.write_text(
        SETUP_BODY.format(folder=str(EXAMPLE.parent))
        + "import argparse\nARGS = argparse.ArgumentParser().parse_args()\n"
        + "SEEN = list(sys.argv)\n"
    )
    code = cli.main(["run", str(path), "--num-steps", "8", "--threads", "1", "--no-progress",
                     "--out", str(tmp_path)])  # fmt: skip
    assert code == cli.EXIT_OK, capsys.readouterr().err
    seen = [m.SEEN for m in sys.modules.values() if getattr(m, "SEEN", None) is not None]
    assert seen[-1] == [str(path)]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('"settings": ' + '{"a": ' * 900 + "1" + "}" * 900, "settings are nested more than"),
        ('"settings": {"smoothing": 1e400}', "smoothing must be finite, got inf"),
        ('"settings": {"smoothing": 1' + "0" * 400 + "}", "smoothing must be finite"),
        ('"settings": {}, "lrs": [1' + "0" * 400 + ", 1, 2, 3, 4]", "lrs[0] is too large"),
    ],
    ids=["deep-settings", "smoothing-1e400", "smoothing-huge-int", "lr-huge-int"],
)
def test_plot_a_hostile_result_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        '{"format": "lrfind.result", "version": 1, "lrs": [1e-3, 1e-2, 1e-1, 1, 2],'
        ' "losses": [1, 2, 3, 4, 5], "stop_reason": "completed", ' + text + "}"
    )
    assert cli.main(["plot", str(path), "--terminal"]) == cli.EXIT_USAGE
    line = one_error_line(capsys)
    assert line.startswith(f"lrfind: error: {path}: ")
    assert said in line


@pytest.mark.parametrize("lr", [-1e-3, 0, "NaN", 10**400])
def test_plot_a_grid_file_with_a_bad_lr_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lr: object
) -> None:
    from lrfind.grid import GridResult

    data = GridResult([1e-3, 1e-2], [0.5, 0.4], steps=4).to_dict()
    data["lrs"][0] = lr
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(data))
    assert cli.main(["plot", str(path), "--terminal"]) == cli.EXIT_USAGE
    line = one_error_line(capsys)
    assert line.startswith(f"lrfind: error: {path}: lrs")
    assert "lrs[0]" in line
