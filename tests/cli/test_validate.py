"""`synthgen validate MODEL_DIR --synthetic OUT.csv [--policy P.yaml] --report-dir DIR`."""

from __future__ import annotations

import json
import shutil

import pytest
import typer
from typer.testing import CliRunner

from synthgen.cli.validate import validate
from tests.evaluate.builders import to_csv_like_sampler, write_model

runner = CliRunner()
# The command as registered on synthgen's app, mounted on a test app with a second command
# so that typer keeps the `synthgen COMMAND` form (a one-command app drops the name).
app = typer.Typer()
app.command("validate")(validate)
app.command("other")(lambda: None)


@pytest.fixture
def model(tmp_path, heart):
    return write_model(tmp_path, heart.schema, heart.train, heart.holdout)


def invoke(*args: str):
    return runner.invoke(app, ["validate", *map(str, args)])


@pytest.mark.slow
def test_validate_writes_the_three_reports_and_exits_1_on_fail(tmp_path, heart, model):
    synthetic = to_csv_like_sampler(heart.train, heart.schema, tmp_path / "synthetic.csv")
    report = tmp_path / "report"
    result = invoke(model, "--synthetic", synthetic, "--report-dir", report)
    assert result.exit_code == 1, result.output
    assert "verdict: FAIL" in result.stdout
    assert "FAIL exact_copy_share = 1" in result.stdout
    assert sorted(p.name for p in report.iterdir()) == ["report.html", "report.json", "report.pdf"]
    assert json.loads((report / "report.json").read_text())["verdict"] == "fail"


def test_bad_policy_is_one_error_line_and_exit_2(tmp_path, heart, model):
    synthetic = to_csv_like_sampler(heart.holdout, heart.schema, tmp_path / "synthetic.csv")
    policy = tmp_path / "p.yaml"
    policy.write_text("checks:\n  nonsense: {fail: 1}\n")
    result = invoke(model, "--synthetic", synthetic, "--policy", policy, "--report-dir", tmp_path / "report")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "unknown check 'nonsense'" in result.stderr
    assert not (tmp_path / "report").exists()


def test_missing_private_directory_is_reported_clearly(tmp_path, heart, model):
    synthetic = to_csv_like_sampler(heart.holdout, heart.schema, tmp_path / "synthetic.csv")
    shutil.rmtree(tmp_path / "model.private")
    result = invoke(model, "--synthetic", synthetic, "--report-dir", tmp_path / "report")
    assert result.exit_code == 2
    assert "error: the private run directory of this model is gone" in result.stderr


def test_wrong_columns_list_the_problems_on_one_line(tmp_path, heart, model):
    synthetic = to_csv_like_sampler(heart.holdout.drop(columns=["age"]), heart.schema, tmp_path / "s.csv")
    result = invoke(model, "--synthetic", synthetic, "--report-dir", tmp_path / "report")
    assert result.exit_code == 2
    assert "missing column(s) declared in the schema: age" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "report").exists()


def test_required_options():
    result = invoke("somewhere")
    assert result.exit_code == 2
    assert "--synthetic" in result.stderr
