"""`synthgen validate MODEL_DIR --synthetic OUT.csv [--policy P.yaml] --report-dir DIR`."""

from __future__ import annotations

import json
import shutil

import pytest
import typer
from typer.testing import CliRunner

from synthgen.cli.validate import validate
from tests.evaluate.builders import independent_columns, to_csv_like_sampler, write_model

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


@pytest.mark.slow
def test_validate_prints_each_check_to_review_and_skips_the_pdf_without_chromium(tmp_path, heart, model, monkeypatch):
    monkeypatch.setenv("SYNTHGEN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    shuffled = independent_columns(heart.holdout, seed=1)  # poor fidelity and utility: warnings
    synthetic = to_csv_like_sampler(shuffled, heart.schema, tmp_path / "synthetic.csv")
    report = tmp_path / "report"
    result = invoke(model, "--synthetic", synthetic, "--report-dir", report)
    data = json.loads((report / "report.json").read_text())
    flagged = [c for c in data["checks"] if c["status"] in ("warn", "fail")]
    lines = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert flagged and len(lines) == len(flagged)  # one line per check that warned or failed
    for check, line in zip(sorted(flagged, key=lambda c: c["status"] != "fail"), lines, strict=True):
        assert line.startswith(f"{check['status'].upper():4s} {check['name']} = "), line
    assert "what to do: " in result.stdout
    assert result.stderr.startswith("warning: report.pdf was not written: SYNTHGEN_CHROMIUM=")
    assert sorted(p.name for p in report.iterdir()) == ["report.html", "report.json"]
    assert f"wrote {report / 'report.html'} and report.json" in result.stdout


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


def test_demo_prints_the_checks_that_warned_or_failed(tmp_path, monkeypatch):
    """`synthgen demo` ends like `validate`: one line per check to review, then what to do
    (training and validation replaced by a hand-made warning result)."""
    from synthgen.cli.demo import demo
    from tests.evaluate.test_bottom_line import release

    warned = release(lift=-0.014, shapes=0.7)
    monkeypatch.setattr("synthgen.demo.run_tabular_demo", lambda out_dir, **_: {
        "model_dir": tmp_path / "model", "synthetic": tmp_path / "s.csv", "private_dir": tmp_path / "p"})
    monkeypatch.setattr("reports.validation.validate_release", lambda *a, **k: warned)
    demo_app = typer.Typer()
    demo_app.command("demo")(demo)
    demo_app.command("other")(lambda: None)
    result = runner.invoke(demo_app, ["demo", "--out-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "(verdict: warn)" in result.stdout
    lines = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert lines == [
        "WARN column_shape_similarity = 0.7 (warn below 0.85): column shape similarity",
        "WARN augmentation_auc_lift = -0.014 (warn below 0): augmentation auc lift",
    ]
    assert "what to do: Review column_shape_similarity, augmentation_auc_lift" in result.stdout
