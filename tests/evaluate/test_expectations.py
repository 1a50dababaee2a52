"""The Great Expectations contract built from the schema, on source and synthetic tables."""

from __future__ import annotations

import pandas as pd
import pytest

from synthgen.errors import SchemaMismatch
from synthgen.tabular.expectations import (
    check_source_table,
    check_synthetic_table,
    expectation_suite,
    run_suite,
)
from synthgen.tabular.io import read_table
from synthgen.tabular.schema import Schema
from tests.evaluate.builders import DATA, heart_schema

# values that cannot occur in the data; no message may repeat them
SENTINELS = ("zzz-not-a-number", "777777", "cp-sentinel-9", "131.5")


@pytest.fixture(scope="module")
def raw_heart() -> pd.DataFrame:
    return read_table(DATA / "heart_disease_cleveland.csv", na_values=heart_schema().na_values)


def test_real_source_table_passes(raw_heart):
    schema = heart_schema()
    results = run_suite(raw_heart, schema, table="source")
    # "passes": every expectation of the suite ran on all 303 rows and none failed
    assert results.rows == 303
    assert len(results.outcomes) == len(expectation_suite(schema, schema.names, table="source"))
    assert results.failed == [] and results.problems() == [] and results.success
    check_source_table(raw_heart, schema)  # the gate itself: raises SchemaMismatch on a failure


def test_suite_covers_columns_types_bounds_sets_nulls_and_classes():
    specs = expectation_suite(heart_schema(), heart_schema().names, table="synthetic")
    kinds = {(s.kind, s.column) for s in specs}
    assert ("row_count", None) in kinds and ("columns_match", None) in kinds
    assert ("columns_in_order", None) in kinds
    assert ("of_type", "age") in kinds and ("between", "age") in kinds
    assert ("in_set", "cp") in kinds and ("in_set", "fbs") in kinds
    assert ("not_null", "sex") in kinds and ("not_null", "ca") not in kinds  # ca is nullable
    assert ("between", "num") in kinds  # label classes: an integer label with bounds


def test_bad_source_lists_every_failed_expectation_without_values(raw_heart):
    bad = raw_heart.copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[3, "age"] = SENTINELS[0]
    bad.loc[5, "chol"] = SENTINELS[1]
    bad.loc[7, "cp"] = SENTINELS[2]
    bad.loc[10, "sex"] = None
    bad.loc[11, "trestbps"] = SENTINELS[3]
    bad = bad.drop(columns=["fbs"]).assign(extra="1")
    with pytest.raises(SchemaMismatch) as info:
        check_source_table(bad, heart_schema())
    problems = info.value.problems
    assert problems == [
        "missing column(s) declared in the schema: fbs; column(s) not in the schema: extra",
        "column 'age': 1 of 303 values are not numbers",
        "column 'sex': 1 of 303 values (0.3%) are empty, but the column is declared without nulls",
        "column 'cp': 1 of 303 values (0.3%) are not among the declared categories",
        "column 'trestbps': 1 of 303 values are not whole numbers",
        "column 'chol': 1 of 303 values (0.3%) lie outside the declared bounds [80, 700]",
    ]
    text = str(info.value) + " ".join(problems)
    assert not any(s in text for s in SENTINELS)


def test_source_may_omit_identifier_columns_but_not_add_unknown_ones(raw_heart):
    schema = Schema.from_dict({**heart_schema().to_dict(), "columns": [
        {"name": "patient_id", "role": "identifier"}, *heart_schema().to_dict()["columns"]]})
    check_source_table(raw_heart, schema)  # the identifier column is absent: fine
    check_source_table(raw_heart.assign(patient_id=range(len(raw_heart))), schema)
    with pytest.raises(SchemaMismatch, match="not in the schema: visit"):
        check_source_table(raw_heart.assign(visit=1), schema)


def test_values_are_matched_as_categories_not_text():
    schema = Schema.from_dict({"columns": [
        {"name": "flag", "kind": "boolean"},
        {"name": "code", "kind": "categorical", "categories": [1, 2]},
        {"name": "n", "kind": "integer", "min": 0, "max": 10, "nullable": True},
    ]})
    df = pd.DataFrame({"flag": ["yes", "no", "TRUE"], "code": ["1.0", "2", "1"], "n": ["3.0", None, "10"]})
    assert check_synthetic_table(df, schema).success
    typed = pd.DataFrame({"flag": [True, False, True], "code": [1, 2, 1], "n": [3.0, float("nan"), 10.0]})
    assert check_synthetic_table(typed, schema).success  # Parquet-typed columns


def test_label_outside_its_classes_fails(raw_heart):
    bad = raw_heart.copy()
    bad.loc[0, "num"] = "7"
    with pytest.raises(SchemaMismatch) as info:
        check_source_table(bad, heart_schema())
    assert info.value.problems == ["column 'num': 1 of 303 values (0.3%) lie outside the declared bounds [0, 4]"]


def test_synthetic_column_order_is_a_contract_failure_not_structural(raw_heart):
    shuffled = raw_heart[list(reversed(raw_heart.columns))]
    results = check_synthetic_table(shuffled, heart_schema())
    assert results.problems() == ["the columns are not in the schema's order"]
    assert results.structural_problems() == []


def test_synthetic_missing_column_and_wrong_type_are_structural(raw_heart):
    bad = raw_heart.drop(columns=["thal"]).assign(age="old")
    results = check_synthetic_table(bad, heart_schema())
    assert results.structural_problems() == [
        "missing column(s) declared in the schema: thal",
        "column 'age': 303 of 303 values are not numbers",
    ]
    assert results.to_json_dict()["failed"] == len(results.failed) == 3  # + column order


def test_empty_table_fails_the_row_count(raw_heart):
    results = check_synthetic_table(raw_heart.iloc[:0], heart_schema())
    assert "the table has no rows" in results.structural_problems()
