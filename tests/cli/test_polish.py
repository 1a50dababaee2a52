"""The CLI's small promises: --version, flags without a type, refusing to overwrite,
warnings as one line, errors that name the real mistake, what a failed run spent."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from synthgen.cli import commands  # noqa: F401  (registers the commands)
from synthgen.cli.app import Typer, app, reports_errors
from synthgen.cli.train import after_spending

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


def test_version_prints_the_version() -> None:
    from synthgen import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"synthgen {__version__}"


@pytest.mark.parametrize("command", [["train"], ["sample"], ["demo"], ["users", "create"], []])
def test_help_shows_no_bool_type_for_flags(command) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "--help" in result.stdout


def test_sample_refuses_an_existing_output_without_force(tmp_path: Path) -> None:
    out = tmp_path / "synthetic.csv"
    out.write_text("kept\n")
    result = invoke("sample", tmp_path / "model", "--rows", "5", "--out", out)
    assert_one_line_error(result, "pass --force to replace it")
    assert out.read_text() == "kept\n"
    # --force passes the check (and then fails on the missing model, not on the output)
    forced = invoke("sample", tmp_path / "model", "--rows", "5", "--out", out, "--force")
    assert_one_line_error(forced, "model directory not found")


def test_sample_from_a_file_says_it_is_not_a_model_directory(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    result = invoke("sample", data, "--rows", "5", "--out", tmp_path / "s.csv")
    assert_one_line_error(result, "data.csv is a file, not a model directory")


@pytest.mark.parametrize("option", [["--target", "outcome"], ["--schema", "schema.yaml"]])
def test_train_on_a_folder_with_table_options_is_about_tables(option, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    result = invoke("train", folder, *option, "--epsilon", "3", "--out", tmp_path / "m")
    assert_one_line_error(result, "is a folder, not a table")
    assert "image label" not in result.stderr


def test_train_warns_about_a_large_epsilon_and_goes_on(tmp_path: Path) -> None:
    result = invoke("train", tmp_path / "missing.csv", "--target", "y", "--epsilon", "300",
                    "--out", tmp_path / "m")
    lines = stderr_lines(result)
    assert lines[0].startswith("warning: epsilon 300 is above 10"), lines
    assert lines[-1].startswith("error: ") and "epsilon" not in lines[-1], lines  # not refused for it
    quiet = invoke("train", tmp_path / "missing.csv", "--target", "y", "--epsilon", "10",
                   "--out", tmp_path / "m")
    assert not any(line.startswith("warning:") for line in stderr_lines(quiet))


def test_python_warnings_print_as_one_warning_line() -> None:
    demo = Typer()

    @demo.command()
    @reports_errors
    def noisy() -> None:
        warnings.warn("the table has few rows", UserWarning, stacklevel=1)
        typer.echo("done")

    result = runner.invoke(demo, [])
    assert result.exit_code == 0
    assert stderr_lines(result) == ["warning: the table has few rows"]
    assert "UserWarning" not in result.output


def test_a_missing_extra_is_one_error_line_naming_it(monkeypatch) -> None:
    demo = Typer()

    @demo.command()
    @reports_errors
    def serve() -> None:
        import uvicorn  # noqa: F401

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    result = runner.invoke(demo, [])
    assert_one_line_error(result, "synthgen serve needs the service extra")
    assert "pip install 'synthgen[service]'" in result.stderr


def test_a_failed_run_says_what_it_spent_and_suggests_resume_only_with_a_checkpoint(tmp_path: Path) -> None:
    private = tmp_path / "model.private"
    private.mkdir()
    text = after_spending(0.42, private)
    assert "epsilon 0.42 was spent" in text and str(private / "spend.jsonl") in text
    assert "--resume" not in text and "no checkpoint to resume" in text
    (private / "checkpoint").mkdir()
    (private / "checkpoint" / "state.json").write_text("{}")
    assert "rerun the same command with --resume" in after_spending(0.42, private)


def test_train_refuses_a_run_left_without_checkpoint_without_suggesting_resume(tmp_path: Path) -> None:
    private = tmp_path / "m.private"
    private.mkdir()
    (private / "spend.jsonl").write_text('{"event": "release"}\n')
    data = tmp_path / "data.csv"
    data.write_text("a,y\n1,0\n")
    result = invoke("train", data, "--target", "y", "--epsilon", "1", "--out", tmp_path / "m")
    assert_one_line_error(result, "cannot be resumed")
    assert "--resume" not in result.stderr and "spend.jsonl" in result.stderr


def test_train_failing_after_its_dp_statistics_says_what_it_spent(monkeypatch, tmp_path: Path) -> None:
    from synthgen import workflows
    from synthgen.errors import InsufficientData
    from synthgen.progress import ProgressEvent

    def fails_after_preprocessing(request, *, progress, should_stop=None):
        progress(ProgressEvent("preprocess", 1, 1, epsilon_spent=0.3))
        raise InsufficientData("the label 'y' has a single class in the training data")

    monkeypatch.setattr(workflows, "train", fails_after_preprocessing)
    data = tmp_path / "data.csv"
    data.write_text("a,y\n1,0\n")
    result = invoke("train", data, "--target", "y", "--epsilon", "1", "--out", tmp_path / "m")
    assert_one_line_error(result, "single class")
    assert "epsilon 0.3 was spent" in result.stderr and "m.private/spend.jsonl" in result.stderr
    assert "no checkpoint to resume" in result.stderr


def test_validate_refuses_a_report_dir_with_files_without_force(tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.html").write_text("kept")
    args = ("validate", tmp_path / "model", "--synthetic", tmp_path / "s.csv", "--report-dir", report)
    assert_one_line_error(invoke(*args), "pass --force to overwrite")
    assert (report / "report.html").read_text() == "kept"
    # --force passes the check (and then stops at the missing model, not at the folder)
    forced = invoke(*args, "--force")
    assert forced.exit_code == 2 and "--force" not in forced.stderr, forced.stderr


def test_demo_minutes_reach_the_image_demo_and_a_missing_report_extra_stops_it_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def fake_demo(data, out_dir, **kwargs):
        seen.update(kwargs)
        raise typer.Exit(0)  # stop before validation: only the options are under test

    monkeypatch.setattr("synthgen.images.demo.run_image_demo", fake_demo)
    assert invoke("demo", "--images", "--minutes", "1.5", "--out-dir", tmp_path / "d").exit_code == 0
    assert seen["train_minutes"] == 1.5
    seen.clear()
    assert invoke("demo", "--images", "--out-dir", tmp_path / "e").exit_code == 0
    assert "train_minutes" not in seen  # the library's default (12 minutes)

    import synthgen.extras as extras

    monkeypatch.setattr(extras, "installed", lambda module: module != "matplotlib")
    seen.clear()
    result = invoke("demo", "--images", "--out-dir", tmp_path / "f")
    assert_one_line_error(result, "synthgen demo needs the report extra (matplotlib")
    assert seen == {}  # nothing trained
