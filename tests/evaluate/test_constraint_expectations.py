"""One contract expectation per declared constraint: ground truth is a table that keeps
every rule, then the same table with exactly one rule broken in a few rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from synthgen.tabular.expectations import check_source_table, check_synthetic_table
from tests.tabular.test_constraints import CONSTRAINTS, schema_with, table

THREE_WAY: dict[str, Any] = {
    "type": "fixed_combinations",
    "columns": ["edu", "sex", "y"],
    "combinations": [  # no (MSc, M, *), which table() never draws, and no (MSc, F, yes)
        [e, s, y]
        for e in ("HS", "BSc", "MSc")
        for s in ("F", "M")
        for y in ("no", "yes")
        if e != "MSc" or (s, y) == ("F", "no")
    ],
}
RULES = [*CONSTRAINTS, THREE_WAY]


def rows(n: int, seed: int, broken: int = 0) -> pd.DataFrame:
    """``table``'s rows, which keep every rule of CONSTRAINTS, made to keep THREE_WAY too."""
    df = table(n, seed, broken)
    df["y"] = np.where(df["edu"] == "MSc", "no", df["y"])
    return df


def as_csv_cells(df: pd.DataFrame) -> pd.DataFrame:
    """The table as read back from a CSV: text cells, like a release on disk."""
    return df.astype(str)


def constraint_results(df: pd.DataFrame) -> dict[str, Any]:
    results = check_synthetic_table(as_csv_cells(df), schema_with(RULES))
    return {o.spec.rule: o for o in results.outcomes if o.spec.rule is not None}


def test_each_declared_constraint_gets_its_own_expectation_and_a_valid_table_passes():
    outcomes = constraint_results(rows(400, seed=1))
    assert len(outcomes) == len(RULES)  # one per rule, none merged
    kinds = sorted(o.spec.kind for o in outcomes.values())
    assert kinds == sorted(
        [
            *("pair_a_at_least_b", "pair_in_set", "custom_formula", "between", "pair_in_set"),
            "custom_combinations",
        ]
    )
    for rule, outcome in outcomes.items():
        assert outcome.success, (rule, outcome.problem())
        assert outcome.element_count and outcome.element_count > 0  # something was checked


def _break(df: pd.DataFrame, rule_type: str, which: np.ndarray) -> None:
    if rule_type == "inequality":
        df.loc[which, "a"] = df.loc[which, "b"] + 0.5
        df.loc[which, "total"] = df.loc[which, "a"] + df.loc[which, "b"]  # keep the formula
    elif rule_type == "determined_by":
        df.loc[which, "edu_num"] = df.loc[which, "edu_num"] + 1
    elif rule_type == "formula":
        df.loc[which, "total"] = df.loc[which, "total"] + 0.25
    elif rule_type == "conditional_range":
        men = df.index[df["sex"] == "M"][: len(which)]
        df.loc[men, "x"] = 7.0  # inside x's bounds [0, 10], outside the men's [.., 4]
    else:
        women = df.index[(df["sex"] == "F") & (df["edu"] == "MSc")][: len(which)]
        df.loc[women, "y"] = "yes"  # (MSc, F, yes) is one of the two combinations left out


@pytest.mark.parametrize(
    ("rule_type", "rule_index"),
    [
        ("inequality", 0),
        ("determined_by", 1),
        ("formula", 2),
        ("conditional_range", 3),
        ("three_way", 5),
    ],
)
def test_a_table_breaking_exactly_one_rule_fails_exactly_its_expectation(rule_type, rule_index):
    df = rows(400, seed=2)
    if rule_type == "three_way":
        df["y"] = np.where((df["sex"] == "F") & (df["edu"] == "MSc"), "no", df["y"])
    _break(df, rule_type, np.arange(7))
    outcomes = constraint_results(df)
    failed = [rule for rule, o in outcomes.items() if not o.success]
    broken_rule = schema_with(RULES).constraints[rule_index].describe()
    assert failed == [broken_rule]
    assert outcomes[broken_rule].unexpected_count == 7
    assert "break the declared constraint" in outcomes[broken_rule].problem()


def test_a_pair_outside_the_declared_combinations_fails_the_pair_expectation():
    df = rows(300, seed=3)
    men = df.index[df["sex"] == "M"][:4]
    df.loc[men, "edu"] = "MSc"
    df.loc[men, "edu_num"] = 14  # keep the mapping: only the combination is wrong
    outcomes = constraint_results(df)
    failed = {rule for rule, o in outcomes.items() if not o.success}
    pair = schema_with(RULES).constraints[4].describe()
    three_way = schema_with(RULES).constraints[5].describe()
    assert failed == {pair, three_way}
    assert outcomes[pair].unexpected_count == 4


def test_rows_with_an_empty_input_are_not_held_to_the_rule():
    df = rows(200, seed=4).astype(object)
    df.loc[:5, "a"] = None  # a is nullable-by-default: the inequality and formula skip them
    outcomes = constraint_results(df)
    inequality = schema_with(RULES).constraints[0].describe()
    assert outcomes[inequality].success
    assert outcomes[inequality].element_count == 200


def test_the_source_check_does_not_refuse_rows_that_break_a_rule():
    # training drops them (synthgen.tabular.constraints); the source gate is about shape
    df = rows(200, seed=5, broken=3)
    check_source_table(as_csv_cells(df), schema_with(RULES))


def test_the_report_entry_names_the_rule_and_its_columns():
    df = rows(200, seed=6, broken=2)
    entry = next(
        r
        for r in check_synthetic_table(as_csv_cells(df), schema_with(RULES)).to_json_dict()[
            "results"
        ]
        if r["constraint"] == "a <= b"
    )
    assert entry["expectation"] == "ExpectColumnPairValuesAToBeGreaterThanB"
    assert entry["columns"] == ["a", "b"] and entry["success"] is False
    assert entry["problem"].startswith("2 of 200 rows")


def test_an_empty_determined_value_breaks_the_mapping_and_empty_pairs_are_skipped():
    df = rows(300, seed=7).astype(object)
    df.loc[:2, "edu_num"] = None  # edu is mapped: an empty edu_num is not what it maps to
    df.loc[3:4, ["edu", "sex"]] = None  # the combination rule reads nothing here
    df.loc[3:4, "x"] = 9.0  # nor the men's range: sex is empty
    outcomes = constraint_results(df)
    rules = schema_with(RULES).constraints
    mapping, pair = outcomes[rules[1].describe()], outcomes[rules[4].describe()]
    assert not mapping.success and mapping.unexpected_count == 3
    assert pair.success and pair.unexpected_count == 0
    men = outcomes[rules[3].describe()]
    assert men.success and men.element_count == int((df["sex"] == "M").sum())


def test_the_report_section_lists_every_rule_with_pass_or_fail():
    from types import SimpleNamespace

    from synthgen.evaluate.sections import Table
    from synthgen.evaluate.tabular_report import expectations_section

    results = check_synthetic_table(as_csv_cells(rows(200, seed=8, broken=3)), schema_with(RULES))
    section = expectations_section(SimpleNamespace(expectations=results))  # type: ignore[arg-type]
    (table,) = [b for b in section.blocks if isinstance(b, Table)]
    assert len(table.rows) == len(RULES)  # every rule, the passing ones too
    by_columns = {row[1]: row[3] for row in table.rows}
    assert by_columns["a, b"].startswith("FAIL") and "3 of 200 rows" in by_columns["a, b"]
    assert sum(r.startswith("FAIL") for r in by_columns.values()) == 1
    assert section.level == "fail"
