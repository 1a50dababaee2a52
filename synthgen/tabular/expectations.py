"""Great Expectations suites built from the schema: a data contract for synthetic releases
and an input check for source tables.

The suite comes from public metadata only (the schema): the columns and their order, each
column's type, declared bounds, declared category sets and label classes, and null rules.
Two entry points:

- ``check_source_table(df, schema)`` runs on a source table right after it is read, before
  any privacy budget is spent, and raises ``SchemaMismatch`` listing every failed
  expectation, one readable line each;
- ``check_synthetic_table(df, schema)`` runs on a synthetic table and returns the results
  (the release gate fails a release that does not pass). It adds one expectation per
  declared cross-column constraint (synthgen.tabular.constraint_expectations).

What GE validates. CSV tables are read as text (``synthgen.tabular.io.read_table``) and
Parquet tables come typed, so GE does not see raw cells but a *validation frame* built
here with the same rules as ``synthgen.tabular.conform``: the schema's ``na_values``
become nulls; numeric columns are parsed to float64 (integer columns to the nullable
Int64 type when every value is whole) and keep their text form only when some cell is not
a number, so that GE's type expectation fails and names the column; categorical, boolean
and label columns become the canonical text key of each value (``"1"``, ``"1.0"`` and 1
are the same category, "yes" is the boolean true), so that set membership is checked on
the same keys conform uses. Checking parsed values, not text, is what lets GE express
bounds; building the frame ourselves avoids GE's pandas-3 ``str`` dtype pitfalls (see
docs/validation.md). Identifier and entity columns are only checked for presence.

Messages name columns and give counts and shares, never a value from the table: they end
up in logs and job events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthgen.errors import SchemaMismatch
from synthgen.extras import installed
from synthgen.tabular.conform import conform
from synthgen.tabular.constraint_expectations import constraint_expectations, run_custom
from synthgen.tabular.expectation_spec import ExpectationSpec
from synthgen.tabular.gx_adapter import ge_expectation_type, run_expectations
from synthgen.tabular.schema import ColumnSpec, Schema, category_key

# -- canonical cell keys (shared with the evaluation layer, synthgen.evaluate.tables) --
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def is_categorical(spec: ColumnSpec) -> bool:
    """Categorical and boolean columns, and the label whatever its kind: synthgen conditions
    on classes, so an integer label is a set of classes, not a quantity."""
    return not spec.is_numeric or spec.role == "label"


def column_key(value: object, spec: ColumnSpec) -> str:
    """Canonical text key of one non-null categorical or boolean value."""
    key = category_key(value)
    if spec.kind == "boolean":
        low = key.lower()
        if low in _TRUE:
            return "true"
        if low in _FALSE:
            return "false"
    return key


def numeric_values(raw: pd.Series) -> np.ndarray:
    """float64 values of a column; cells that are not numbers become NaN."""
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    text = raw.astype("string").str.strip()
    return pd.to_numeric(text, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def category_keys(raw: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Object array of canonical keys, None for null (computed once per distinct value)."""
    is_null = raw.isna().to_numpy()
    out = np.empty(len(raw), dtype=object)
    out[:] = None
    if (~is_null).any():
        present = raw[~is_null]
        uniques = pd.unique(present.to_numpy(dtype=object))
        lookup = {u: column_key(u, spec) for u in uniques}
        out[~is_null] = [lookup[v] for v in present.to_numpy(dtype=object)]
    return out


@dataclass
class ExpectationOutcome:
    spec: ExpectationSpec
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    observed: Any = None
    raised: bool = False
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    type_detail: str = ""  # e.g. "3 values are not numbers" (counted here, not by GE)

    def problem(self) -> str:
        """One readable line saying what failed, with counts and column names only."""
        spec = self.spec
        where = f"column {spec.column!r}: " if spec.column else ""
        if self.raised:
            return f"{where}the expectation '{spec.description}' could not be evaluated"
        if spec.kind == "row_count":
            return "the table has no rows"
        if spec.kind == "columns_match":
            parts = []
            if self.missing:
                parts.append(f"missing column(s) declared in the schema: {', '.join(self.missing)}")
            if self.unexpected:
                parts.append(f"column(s) not in the schema: {', '.join(self.unexpected)}")
            return "; ".join(parts) or "the columns do not match the schema"
        if spec.kind == "columns_in_order":
            return "the columns are not in the schema's order"
        if spec.kind == "of_type":
            return f"{where}{self.type_detail or f'expected {spec.description}, found {self.observed}'}"
        share = ""
        if self.element_count and self.unexpected_count is not None:
            share = f" ({100.0 * self.unexpected_count / self.element_count:.1f}%)"
        if spec.rule is not None:
            rows = f"{self.unexpected_count} of {self.element_count} rows{share}"
            return f"{rows} break the declared constraint {spec.rule}"
        count = f"{self.unexpected_count} of {self.element_count} values{share}"
        if spec.kind == "between":
            return f"{where}{count} lie outside {spec.description.removeprefix('values lie in ')}"
        if spec.kind == "in_set":
            return f"{where}{count} are not {spec.description.removeprefix('values are ')}"
        if spec.kind == "not_null":
            return f"{where}{count} are empty, but the column is declared without nulls"
        return f"{where}{spec.description}: failed"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "expectation": ge_expectation_type(self.spec.kind),
            "column": self.spec.column,
            "columns": list(self.spec.columns),
            "constraint": self.spec.rule,
            "description": self.spec.description,
            "structural": self.spec.structural,
            "success": self.success,
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "problem": None if self.success else self.problem(),
        }


@dataclass
class ExpectationResults:
    table: str  # "synthetic" or "source"
    outcomes: list[ExpectationOutcome]
    rows: int

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def problems(self) -> list[str]:
        return [o.problem() for o in self.failed]

    def structural_problems(self) -> list[str]:
        return [o.problem() for o in self.failed if o.spec.structural]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "success": self.success,
            "evaluated": len(self.outcomes),
            "failed": len(self.failed),
            "results": [o.to_json_dict() for o in self.outcomes],
        }


# -- the validation frame ------------------------------------------------------------------
@dataclass
class _Column:
    values: pd.Series
    type_name: str  # what GE should observe
    type_words: str
    bad: int = 0  # cells that are not numbers / not whole numbers
    bad_words: str = ""


def _numeric_column(raw: pd.Series, spec: ColumnSpec) -> _Column:
    values = numeric_values(raw)
    is_null = raw.isna().to_numpy()
    not_number = ~np.isfinite(values) & ~is_null
    if not_number.any():
        text = pd.Series(raw.astype("string").to_numpy(dtype=object), dtype="str", index=raw.index)
        return _Column(text, "float64", "numbers", int(not_number.sum()), "are not numbers")
    if spec.kind == "integer":
        finite = ~np.isnan(values)
        fractional = finite & (np.abs(values - np.round(values)) > 1e-9)
        if fractional.any():
            column = pd.Series(values, index=raw.index, dtype="float64")
            return _Column(
                column, "int64", "whole numbers", int(fractional.sum()), "are not whole numbers"
            )
        ints = pd.array(np.where(finite, np.round(values), 0).astype(np.int64), dtype="Int64")
        ints[~finite] = pd.NA
        return _Column(pd.Series(ints, index=raw.index), "int64", "whole numbers")
    return _Column(pd.Series(values, index=raw.index, dtype="float64"), "float64", "numbers")


def validation_frame(df: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, dict[str, _Column]]:
    """The frame GE validates (see the module docstring), columns in ``df``'s order."""
    na = set(schema.na_values)
    known = {c.name: c for c in schema.synthesized}
    out: dict[str, Any] = {}
    columns: dict[str, _Column] = {}
    for name in df.columns:
        raw = df[name]
        if (
            na
            and not pd.api.types.is_numeric_dtype(raw.dtype)
            and not pd.api.types.is_bool_dtype(raw.dtype)
        ):
            raw = raw.mask(raw.astype("string").str.strip().isin(na))
        spec = known.get(str(name))
        if spec is None:
            out[str(name)] = raw  # dropped or unknown columns: presence only
            continue
        if is_categorical(spec) and not (spec.is_numeric and spec.role == "label"):
            keys = category_keys(raw, spec)
            col = _Column(pd.Series(keys, index=raw.index, dtype="str"), "str", "text")
        else:
            col = _numeric_column(raw, spec)
        columns[spec.name] = col
        out[spec.name] = col.values
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    return frame, columns


# -- the suite -----------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:g}"


def expectation_suite(
    schema: Schema, present: list[str], *, table: str, untyped: frozenset[str] = frozenset()
) -> list[ExpectationSpec]:
    """The expectations for a table with columns ``present``.

    Columns in ``untyped`` hold cells that are not numbers: they get the type expectation
    (which fails) and the null rule, but no bounds or set checks, which GE cannot run on text.

    ``table="synthetic"``: exactly the synthesized columns, in schema order.
    ``table="source"``: every synthesized column; identifier/entity columns may be absent
    (they are dropped before training); no column the schema does not know.
    """
    synthesized = [c.name for c in schema.synthesized]
    specs: list[ExpectationSpec] = [
        ExpectationSpec("row_count", None, {"min_value": 1}, "at least one row", structural=True)
    ]
    if table == "synthetic":
        expected = synthesized
    else:
        dropped_present = [c.name for c in schema.dropped if c.name in present]
        expected = [n for n in schema.names if n in synthesized or n in dropped_present]
    specs.append(
        ExpectationSpec(
            "columns_match",
            None,
            {"column_set": expected, "exact_match": True},
            "the columns are those of the schema",
            structural=True,
        )
    )
    if table == "synthetic":
        specs.append(
            ExpectationSpec(
                "columns_in_order",
                None,
                {"column_list": synthesized},
                "the columns are in schema order",
            )
        )
    for spec in schema.synthesized:
        if spec.name not in present:
            continue
        specs.extend(_column_expectations(spec, typed=spec.name not in untyped))
    return specs


def _column_expectations(spec: ColumnSpec, *, typed: bool = True) -> list[ExpectationSpec]:
    name = spec.name
    out: list[ExpectationSpec] = []
    numeric_label = spec.is_numeric and spec.role == "label"
    if spec.is_numeric:
        type_name = "int64" if spec.kind == "integer" else "float64"
        words = "whole numbers" if spec.kind == "integer" else "numbers"
        out.append(
            ExpectationSpec(
                "of_type", name, {"type_": type_name}, f"values are {words}", structural=True
            )
        )
        if spec.has_bounds and typed:
            lo, hi = spec.minimum, spec.maximum
            assert lo is not None and hi is not None
            out.append(
                ExpectationSpec(
                    "between",
                    name,
                    {"min_value": lo, "max_value": hi},
                    f"values lie in the declared bounds [{_fmt(lo)}, {_fmt(hi)}]",
                )
            )
    declared = spec.categories if numeric_label else spec.declared_categories()
    if declared is not None and typed:
        if numeric_label:
            value_set: list[Any] = [int(float(v)) for v in declared]
        else:
            value_set = [column_key(v, spec) for v in declared]
        what = (
            "among the declared classes"
            if spec.role == "label"
            else "among the declared categories"
        )
        if spec.kind == "boolean":
            what = "true/false"
        out.append(ExpectationSpec("in_set", name, {"value_set": value_set}, f"values are {what}"))
    if not spec.nullable:
        out.append(ExpectationSpec("not_null", name, {}, "no empty values"))
    return out


def run_suite(df: pd.DataFrame, schema: Schema, *, table: str) -> ExpectationResults:
    frame, columns = validation_frame(df, schema)
    untyped = frozenset(n for n, c in columns.items() if c.bad and c.bad_words == "are not numbers")
    specs = expectation_suite(schema, [str(c) for c in df.columns], table=table, untyped=untyped)
    if table == "synthetic":  # a source's broken rows are dropped at training, not refused
        specs += constraint_expectations(schema, frame, key=column_key, untyped=untyped)
    ge_results = iter(run_expectations(frame, [s for s in specs if not s.custom]))
    raw_results = [run_custom(s, frame, schema) if s.custom else next(ge_results) for s in specs]
    outcomes = []
    for spec, r in zip(specs, raw_results, strict=True):
        outcome = ExpectationOutcome(
            spec=spec,
            success=bool(r.get("success", False)),
            element_count=r.get("element_count"),
            unexpected_count=r.get("unexpected_count"),
            observed=r.get("observed"),
            raised=bool(r.get("raised", False)),
            missing=list(r.get("missing", [])),
            unexpected=list(r.get("unexpected", [])),
        )
        if spec.kind == "of_type" and spec.column in columns:
            col = columns[spec.column]
            if col.bad:
                outcome.type_detail = f"{col.bad} of {len(df)} values {col.bad_words}"
        outcomes.append(outcome)
    return ExpectationResults(table=table, outcomes=outcomes, rows=len(df))


def check_source_table(df: pd.DataFrame, schema: Schema) -> None:
    """Refuse a source table that does not meet its schema, before any budget is spent.

    ``df`` is the table as ``read_table(path, na_values=schema.na_values)`` returns it
    (text cells for CSV, typed columns for Parquet). Raises ``SchemaMismatch`` whose
    ``problems`` hold one line per failed expectation (column names and counts only).
    """
    if not installed("great_expectations"):
        # The core install (no report extra): conform() applies the same rules (columns,
        # types, bounds, categories, nulls) and also lists every problem before any budget
        # is spent; the suite adds GE's own report of it.
        conform(df, schema)
        return
    results = run_suite(df, schema, table="source")
    if not results.success:
        problems = results.problems()
        raise SchemaMismatch(
            f"the source table does not meet its schema: {len(problems)} of "
            f"{len(results.outcomes)} expectations failed:\n  - " + "\n  - ".join(problems),
            problems,
        )


def check_synthetic_table(df: pd.DataFrame, schema: Schema) -> ExpectationResults:
    """Run the release contract on a synthetic table (as read from CSV or Parquet)."""
    return run_suite(df, schema, table="synthetic")
