"""One expectation per declared cross-column constraint, for the synthetic table's contract.

Each rule of the schema's ``constraints:`` (synthgen.tabular.constraints) becomes one
expectation, shown with pass/fail in the validation report, so a synthetic table that
breaks a rule fails the contract and names the rule:

- ``inequality`` (a <= b): GE's ``ExpectColumnPairValuesAToBeGreaterThanB`` with b as A,
  ``or_equal`` unless strict;
- ``determined_by`` (c follows from b): ``ExpectColumnPairValuesToBeInSet`` on (b, c) with
  the mapping's pairs, restricted to rows whose b is mapped (an unmapped value is not held
  to the rule, as at sampling);
- ``fixed_combinations`` of two columns: ``ExpectColumnPairValuesToBeInSet``;
- ``conditional_range``: ``ExpectColumnValuesToBeBetween`` with a row condition (GE 1.x
  ``row_conditions.Column``, an object, so no query string is built from column names);
- ``formula``, and ``fixed_combinations`` of three or more columns: checked by synthgen
  itself, because GE has no expectation for them (its only multi-column arithmetic check,
  ``ExpectMulticolumnSumToEqual``, compares a plain sum with one constant, and it has no
  multi-column set check). They run the same ``broken`` test the sampler uses, on the same
  validation frame, and report counts like GE's.

Only the synthetic table gets them. A source table is not refused for rows that break a
rule: training drops those rows (synthgen.tabular.constraints), and refusing the table
would refuse real data with a few broken rows (3 of 583 liver rows).

Rows with an empty value in a column the rule reads are not held to it, as at sampling.
A rule reading a numeric column whose cells are not all numbers is left out: that column's
type expectation already fails, and nothing can be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from synthgen.tabular.category_keys import Category, category_key
from synthgen.tabular.constraints import (
    ConditionalRange,
    Constraint,
    DeterminedBy,
    FixedCombinations,
    Formula,
    Inequality,
)
from synthgen.tabular.expectation_spec import ExpectationSpec, Kind
from synthgen.tabular.schema import ColumnSpec, Schema

# the canonical key of a category value in a column (synthgen.tabular.expectations.column_key,
# passed in: that module calls this one)
KeyOf = Callable[[Category, ColumnSpec], str]


def constraint_expectations(
    schema: Schema, frame: pd.DataFrame, *, key: KeyOf, untyped: frozenset[str] = frozenset()
) -> list[ExpectationSpec]:
    """One expectation per declared constraint whose columns are all in ``frame`` (the
    validation frame of synthgen.tabular.expectations, whose categorical cells are
    ``key(value, column)``) and typed."""
    specs = {c.name: c for c in schema.columns}

    def value(column: str, v: Category) -> Any:
        """A rule's value as the frame holds it: a number in a numeric column, the
        canonical key in a categorical one."""
        if pd.api.types.is_numeric_dtype(frame[column].dtype):
            try:
                return float(v)
            except ValueError:
                return category_key(v)  # matches nothing in a numeric column, as it should
        return key(v, specs[column])

    out: list[ExpectationSpec] = []
    for rule in schema.constraints:
        reads = _columns_of(rule)
        if any(name not in frame.columns or name in untyped for name in reads):
            continue
        out.append(_expectation(rule, value))
    return out


def _columns_of(rule: Constraint) -> tuple[str, ...]:
    if isinstance(rule, DeterminedBy | Formula):
        return (*rule.reads, rule.writes)
    return rule.reads


def _expectation(rule: Constraint, value: Callable[[str, Category], Any]) -> ExpectationSpec:
    rule_text = rule.describe()
    if isinstance(rule, Inequality):
        return ExpectationSpec(
            "pair_a_at_least_b",
            None,
            {
                "column_A": rule.high,
                "column_B": rule.low,
                "or_equal": not rule.strict,
                "ignore_row_if": "either_value_is_missing",
            },
            f"{rule_text} in every row",
            columns=(rule.low, rule.high),
            rule=rule_text,
        )
    if isinstance(rule, DeterminedBy):
        pairs = [(value(rule.by, k), value(rule.column, v)) for k, v in rule.mapping]
        return ExpectationSpec(
            "pair_in_set",
            None,
            {
                "column_A": rule.by,
                "column_B": rule.column,
                "value_pairs_set": pairs,
                "ignore_row_if": "both_values_are_missing",
            },
            f"{rule.column} follows from {rule.by} by the declared mapping",
            columns=(rule.by, rule.column),
            only_where=(rule.by, tuple(a for a, _ in pairs)),
            rule=rule_text,
        )
    if isinstance(rule, FixedCombinations) and len(rule.columns) == 2:
        a, b = rule.columns
        pairs = [(value(a, x), value(b, y)) for x, y in rule.combinations]
        return ExpectationSpec(
            "pair_in_set",
            None,
            {
                "column_A": a,
                "column_B": b,
                "value_pairs_set": pairs,
                "ignore_row_if": "either_value_is_missing",
            },
            f"({a}, {b}) is one of the {len(pairs)} declared combinations",
            columns=(a, b),
            rule=rule_text,
        )
    if isinstance(rule, ConditionalRange):
        condition = value(rule.if_column, rule.equals)
        low = "-inf" if rule.minimum is None else f"{rule.minimum:g}"
        high = "inf" if rule.maximum is None else f"{rule.maximum:g}"
        return ExpectationSpec(
            "between",
            rule.column,
            {"min_value": rule.minimum, "max_value": rule.maximum},
            f"values lie in [{low}, {high}] where {rule.if_column} = {rule.equals}",
            columns=(rule.if_column, rule.column),
            only_where=(rule.if_column, (condition,)),
            rule=rule_text,
        )
    kind: Kind = "custom_formula" if isinstance(rule, Formula) else "custom_combinations"
    what = (
        f"{rule_text} in every row"
        if isinstance(rule, Formula)
        else f"({', '.join(rule.columns)}) is one of the {len(rule.combinations)} declared "
        "combinations"
    )
    # the rule object rides in params: custom specs never reach GE
    return ExpectationSpec(
        kind, None, {"constraint": rule}, what, columns=_columns_of(rule), rule=rule_text
    )


def run_custom(spec: ExpectationSpec, frame: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    """A custom expectation's result, shaped like ``gx_adapter.run_expectations``'s: the
    rows checked (every column the rule reads present; an empty computed column counts as
    broken, as at sampling) and the rows breaking it."""
    rule: Constraint = spec.params["constraint"]
    specs = {c.name: c for c in schema.columns}
    present = np.logical_and.reduce([frame[c].notna().to_numpy() for c in rule.reads])
    broken = rule.broken(frame, specs)
    return {
        "success": not bool(broken.any()),
        "raised": False,
        "element_count": int(present.sum()),
        "unexpected_count": int(broken.sum()),
    }
