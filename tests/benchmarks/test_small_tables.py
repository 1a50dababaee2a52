"""The small-table benchmark: MST's schema coding, the detection metric, the summary, and a
smoke run with MST skipped when its environment is absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import mst_baseline
from benchmarks.small_tables import TABLES, binary_tstr, load, run, summarise
from benchmarks.tabular_metrics import detection_auc
from synthgen.tabular.schema import Schema

SCHEMA = Schema.from_dict(
    {
        "version": 1,
        "name": "tiny",
        "draft": False,
        "columns": [
            {"name": "age", "kind": "integer", "min": 18, "max": 100},
            {"name": "visits", "kind": "integer", "min": 0, "max": 5, "nullable": True},
            {"name": "bmi", "kind": "continuous", "min": 10, "max": 60},
            {"name": "sex", "kind": "categorical", "categories": ["F", "M"], "nullable": True},
            {"name": "y", "kind": "categorical", "role": "label", "categories": [0, 1]},
        ],
    }
)


def _table(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(float),
            "visits": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 6, n)),
            "bmi": np.clip(rng.normal(27 + shift, 4, n), 10, 60),
            "sex": pd.Series(rng.choice(["F", "M", None], n), dtype=object),
            "y": pd.Series(rng.choice([0, 1], n), dtype=object),
        }
    )


def test_mst_domain_comes_from_the_schema_not_the_rows() -> None:
    sizes = mst_baseline.domain_sizes(SCHEMA)
    # 16 equal-width bins; a short integer range gets one code per value; +1 for missing
    assert sizes == {"age": 16, "visits": 7, "bmi": 16, "sex": 3, "y": 2}


def test_mst_coding_round_trip_keeps_values_in_their_bins() -> None:
    df = _table(200, seed=0)
    codes = mst_baseline.encode(df, SCHEMA)
    sizes = mst_baseline.domain_sizes(SCHEMA)
    for column, size in sizes.items():
        assert codes[column].between(0, size - 1).all()
    back = mst_baseline.decode(codes, SCHEMA, seed=0)
    # categories and missing values come back exactly; short integer ranges too
    for column in ("sex", "y", "visits"):
        pd.testing.assert_series_equal(
            back[column].astype(str), df[column].astype(str), check_names=False
        )
    # a continuous value comes back within its bin (width (60 - 10) / 16)
    assert np.abs(back["bmi"] - df["bmi"]).max() <= 50 / 16 + 1e-9
    assert (back["age"] == np.round(back["age"])).all()


@pytest.mark.slow
def test_detection_auc_tells_shifted_rows_apart_and_not_identical_ones() -> None:
    real = _table(300, seed=1)
    same = _table(300, seed=2)
    shifted = _table(300, seed=3, shift=12.0)
    assert detection_auc(real, same, SCHEMA) < 0.65
    assert detection_auc(real, shifted, SCHEMA) > 0.9


def test_binary_tstr_is_chance_when_the_synthetic_rows_hold_one_class() -> None:
    real = _table(200, seed=4)
    one_class = real.assign(y=pd.Series([0] * len(real), dtype=object))
    assert binary_tstr(one_class, real, "y", lambda v: str(v) == "1") == 0.5


def test_summary_gives_mean_and_spread_per_cell() -> None:
    records = [
        {
            "dataset": "heart",
            "epsilon": 1.0,
            "method": "mst",
            "TSTR": t,
            "TRTR": 0.9,
            "1-way TV": 0.2,
            "2-way TV": 0.4,
            "detection": 0.9,
            "classes": c,
        }
        for t, c in ((0.6, True), (0.7, True), (0.8, False))
    ]
    line = summarise(records).splitlines()[-1]
    assert line.startswith("| heart | 1 | mst | 3 | 0.700 ± 0.100 |")
    assert line.endswith("| 2/3 |")


def test_every_small_table_loads_with_its_public_schema(shared_data) -> None:
    for name in TABLES:
        df, schema = load(name, shared_data / "tabular")
        target = schema.target
        assert target is not None and target.declared_categories() is not None
        # the declared classes are the ones in the data (the schema is complete)
        assert {str(v) for v in df[target.name]} <= {str(c) for c in target.declared_categories()}
        assert 150 <= len(df) // 2 <= 430


def test_runner_skips_mst_with_a_message_when_it_is_absent(
    shared_data, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("SYNTHGEN_MST_PYTHON", "/nonexistent/python")
    assert run("heart", 1.0, 0, ["mst"], shared_data / "tabular", {}) == []
    assert "MST skipped" in capsys.readouterr().err


@pytest.mark.slow
def test_mst_runs_on_a_small_table_when_installed(shared_data) -> None:
    if mst_baseline.mst_python() is None:
        pytest.skip("the MST environment is not installed (SYNTHGEN_MST_PYTHON)")
    (row,) = run("heart", 10.0, 0, ["mst"], shared_data / "tabular", {})
    assert row["method"] == "mst" and row["classes"] is True
    assert 0.5 < row["TSTR"] <= 1.0  # MST at epsilon 10 learns the task


def test_binary_tstr_scores_when_a_synthetic_column_is_all_missing() -> None:
    real = _table(300, seed=5)
    real["y"] = pd.Series(np.where(real["bmi"] > 27, 1, 0), dtype=object)  # learnable
    synthetic = real.assign(visits=np.nan)
    assert binary_tstr(synthetic, real, "y", lambda v: str(v) == "1") > 0.9
