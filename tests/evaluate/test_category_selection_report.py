"""The report's "Categories merged into (other)" section, from a model's statistics."""

from __future__ import annotations

import json

import pandas as pd

from synthgen.evaluate.inputs import TabularInputs
from synthgen.evaluate.model_statistics import ModelStatistics
from synthgen.evaluate.tabular_report import category_selection_sections
from synthgen.tabular.schema import ColumnSpec, Schema

SCHEMA = Schema(columns=(
    ColumnSpec("job", "categorical", categories=("nurse", "clerk", "(other)")),
    ColumnSpec("y", "categorical", role="label", categories=(0, 1)),
))
STATISTICS = {
    "target": "y",
    "classes": [0, 1],
    "class_counts": [60.0, 40.0],
    "numeric": [],
    "category_selection": {
        "job": {"kept": ["nurse", "clerk"], "other_share": 0.1, "threshold_records": 12.5},
    },
}


def _inputs(model: ModelStatistics | None) -> TabularInputs:
    # the real training split holds two values that were merged ("pilot", "judge")
    train = pd.DataFrame({"job": ["nurse"] * 6 + ["clerk"] * 2 + ["pilot", "judge"],
                          "y": [0, 1] * 5})
    synthetic = pd.DataFrame({"job": ["nurse"] * 7 + ["clerk"] * 2 + ["(other)"],
                              "y": [0, 1] * 5})
    return TabularInputs.build(schema=SCHEMA, train=train, synthetic=synthetic, model=model)


def test_report_lists_kept_values_and_merged_shares_never_merged_names() -> None:
    model = ModelStatistics.from_dict(STATISTICS, SCHEMA)
    [section] = category_selection_sections(_inputs(model))
    rendered = json.dumps([b.__dict__ for b in section.blocks], default=str)
    table = section.blocks[-1]
    [row] = table.rows
    assert row[0] == "job" and row[1] == "2: nurse, clerk"
    assert row[2] == "12.5"
    assert float(row[3]) == 0.2  # 2 of 10 real rows were merged
    assert float(row[4]) == 0.1  # the model's DP share
    assert float(row[5]) == 0.1  # 1 of 10 synthetic rows
    assert "pilot" not in rendered and "judge" not in rendered


def test_no_section_when_every_category_was_declared() -> None:
    plain = ModelStatistics.from_dict({**STATISTICS, "category_selection": {}}, SCHEMA)
    assert category_selection_sections(_inputs(plain)) == []
    assert category_selection_sections(_inputs(None)) == []
