"""The CLI contract: commands, one-line errors, exit codes, nothing half-written."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from synthgen.cli import commands  # noqa: F401  (registers the commands)
from synthgen.cli.app import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train", "sample", "demo", "schema"):
        assert command in result.output


def test_schema_draft_prints_a_marked_draft(heart_csv) -> None:
    result = invoke("schema", "draft", heart_csv, "--target", "disease")
    assert result.exit_code == 0
    assert result.stdout.startswith("# DRAFT")
    assert "draft: true" in result.stdout and "role: label" in result.stdout


def test_train_refuses_an_unreviewed_draft(heart_csv, tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(invoke("schema", "draft", heart_csv).stdout)
    result = invoke("train", heart_csv, "--target", "disease", "--schema", draft, "--epsilon", "1", "--out", tmp_path / "m")
    assert_one_line_error(result, "draft")
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.private").exists()


def write_variant(heart_csv: Path, tmp_path: Path, change) -> Path:
    df = pd.read_csv(heart_csv)
    df = change(df)
    path = tmp_path / "variant.csv"
    df.to_csv(path, index=False)
    return path


BAD_TABLES = {
    "out of bounds": (lambda d: d.assign(age=d.age.where(d.index != 3, 500)), "outside the declared bounds"),
    "unknown category": (lambda d: d.assign(cp=d.cp.where(d.index != 3, 9)), "not in the declared categories"),
    "null where none": (lambda d: d.assign(chol=d.chol.where(d.index != 3, None)), "empty in a column declared without nulls"),
    "missing column": (lambda d: d.drop(columns=["chol"]), "missing column(s) declared in the schema: chol"),
    "extra column": (lambda d: d.assign(nickname="x"), "not in the schema: nickname"),
    "too few rows": (lambda d: d.head(40), "at least 50"),
    "single class": (lambda d: d.assign(disease="yes"), "single class"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_tables_get_one_line_and_leave_nothing(case: str, heart_csv, heart_schema, tmp_path: Path) -> None:
    change, fragment = BAD_TABLES[case]
    data = write_variant(heart_csv, tmp_path, change)
    out = tmp_path / "model"
    result = invoke("train", data, "--schema", heart_schema, "--epsilon", "1", "--out", out)
    assert_one_line_error(result, fragment)
    assert not out.exists() and not (tmp_path / "model.private").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


@pytest.mark.parametrize("args,fragment", [
    (["--epsilon", "0"], "epsilon must be a positive number"),
    (["--epsilon", "-2"], "epsilon must be a positive number"),
    (["--epsilon", "nan"], "epsilon must be a positive number"),
    (["--epsilon", "1", "--delta", "0.01"], "must be smaller than 1/N"),
    (["--epsilon", "1", "--target", "nope"], "'nope' is not in the schema"),
])
def test_bad_privacy_and_target_arguments(args, fragment, heart_csv, heart_schema, tmp_path: Path) -> None:
    result = invoke("train", heart_csv, "--schema", heart_schema, "--out", tmp_path / "m", *args)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.private").exists()


@pytest.mark.parametrize("name,content,fragment", [
    ("missing.csv", None, "file not found"),
    ("garbage.csv", bytes(range(256)) * 20, "not a readable CSV"),
    ("empty.csv", b"", "is empty"),
    ("image.png", b"\x89PNG", "unsupported file type"),
])
def test_unreadable_sources(name, content, fragment, heart_schema, tmp_path: Path) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content)
    result = invoke("train", source, "--schema", heart_schema, "--epsilon", "1", "--out", tmp_path / "m")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_train_then_sample_from_the_command_line(heart_csv, heart_schema, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = invoke("train", heart_csv, "--schema", heart_schema, "--epsilon", "2", "--out", out, "--max-steps", "5")
    assert result.exit_code == 0, result.output
    assert "epsilon spent" in result.stdout
    assert json.loads((out / "certificate.json").read_text())["epsilon"] <= 2.0
    again = invoke("train", heart_csv, "--schema", heart_schema, "--epsilon", "2", "--out", out)
    assert_one_line_error(again, "exists already")

    result = invoke("sample", out, "--rows", "100", "--out", tmp_path / "s.parquet", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == 100
    result = invoke("sample", out, "--class-counts", "yes=30", "--out", tmp_path / "minority.csv")
    assert result.exit_code == 0
    assert (pd.read_csv(tmp_path / "minority.csv")["disease"] == "yes").sum() == 30

    for args, fragment in [
        (["--rows", "0"], "rows: Input should be greater than 0"),
        (["--rows", "-5"], "rows: Input should be greater than 0"),
        (["--class-counts", "maybe=3"], "not one of the model's classes"),
        (["--rows", "10", "--class-counts", "yes=3"], "differs from the sum"),
        (["--rows", "10", "--out", tmp_path / "x.xlsx"], "unsupported file type"),
        (["--rows", "10", "--sampler", "euler"], "--sampler applies to image models"),
        (["--rows", "10", "--candidates", "3"], "--candidates applies to image models"),
        (["--rows", "10", "--critic-guidance", "1"], "--critic-guidance applies to image models"),
    ]:
        if "--out" not in args:
            args = [*args, "--out", tmp_path / "bad.csv"]
        assert_one_line_error(invoke("sample", out, *args), fragment)
    assert not (tmp_path / "bad.csv").exists()
    assert_one_line_error(invoke("sample", tmp_path / "nowhere", "--rows", "5", "--out", tmp_path / "y.csv"),
                          "model directory not found")


@pytest.mark.slow
def test_epsilon_inf_marks_the_model_not_private(heart_csv, heart_schema, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = invoke("train", heart_csv, "--schema", heart_schema, "--epsilon", "inf", "--out", out, "--max-steps", "3")
    assert result.exit_code == 0, result.output
    assert "NOT PRIVATE" in result.stdout
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["private"] is False and cert["epsilon"] == "Infinity"
    assert any("NOT PRIVATE" in n for n in cert["notes"])
