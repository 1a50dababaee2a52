"""`synthgen train` runs the feasibility estimate first: stops on infeasible, --force goes
ahead, --check-only prints it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_tabular_commands import assert_one_line_error, invoke
from tests.tabular.test_feasibility import exact_dp_count


@pytest.mark.slow
def test_train_stops_on_an_infeasible_estimate_with_one_error_line(
    heart_csv: Path, heart_schema: Path, tmp_path: Path
) -> None:
    result = invoke(
        "train",
        heart_csv,
        "--schema",
        heart_schema,
        "--epsilon",
        "0.3",
        "--out",
        tmp_path / "m",
        "--public-record-count",
        "303",
    )
    assert_one_line_error(result, "the feasibility estimate says infeasible")
    line = result.stderr.strip()
    assert "would help: epsilon >= " in line and "--force" in line
    assert "nothing was spent" in line
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.private").exists()


@pytest.mark.slow
def test_train_reports_the_dp_count_it_spent_before_stopping(
    heart_csv: Path, heart_schema: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exact_dp_count(monkeypatch)
    result = invoke(
        "train", heart_csv, "--schema", heart_schema, "--epsilon", "0.02", "--out", tmp_path / "m"
    )
    assert_one_line_error(result, "the feasibility estimate says infeasible")
    # 0.2 of epsilon 0.02: a small epsilon buys the count its largest share
    assert "spent epsilon 0.004 on the record count" in result.stderr
    assert "declare public_record_count" in result.stderr
    assert "the DP record count is noise" in result.stderr


@pytest.mark.slow
def test_force_goes_ahead(
    heart_csv: Path, heart_schema: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthgen.tabular import preprocess

    exact_dp_count(monkeypatch, preprocess)  # so that the forced run finishes
    result = invoke(
        "train",
        heart_csv,
        "--schema",
        heart_schema,
        "--epsilon",
        "0.3",
        "--out",
        tmp_path / "m",
        "--public-record-count",
        "303",
        "--max-steps",
        "2",
        "--preprocessing-share",
        "0.1",  # the large-table share: infeasible at this epsilon (0.5 is only marginal)
        "--force",
    )
    assert result.exit_code == 0, result.output
    assert "warning: feasibility (infeasible)" in result.stderr
    assert (tmp_path / "m" / "certificate.json").exists()


def test_check_only_prints_the_estimate_and_spends_nothing_with_a_declared_count(
    heart_csv: Path, heart_schema: Path, tmp_path: Path
) -> None:
    result = invoke(
        "train",
        heart_csv,
        "--schema",
        heart_schema,
        "--epsilon",
        "10",
        "--out",
        tmp_path / "m",
        "--public-record-count",
        "303",
        "--check-only",
    )
    assert result.exit_code == 0, result.output
    assert "verdict: feasible" in result.stdout
    assert "nothing was spent" in result.stdout
    assert not list(tmp_path.glob("m*"))


@pytest.mark.slow
def test_check_only_without_a_declared_count_says_what_the_count_cost(
    heart_csv: Path, heart_schema: Path, tmp_path: Path
) -> None:
    result = invoke(
        "train",
        heart_csv,
        "--schema",
        heart_schema,
        "--epsilon",
        "10",
        "--out",
        tmp_path / "m",
        "--check-only",
    )
    assert result.exit_code == 0, result.output
    assert "spent epsilon 0.2 on the record count" in result.stdout
    assert (tmp_path / "m.feasibility.private" / "spend.jsonl").is_file()
    assert not (tmp_path / "m").exists()
