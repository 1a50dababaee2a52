"""Cross-column constraints declared in the schema, and how rows are held to them.

A schema's top-level ``constraints:`` list declares rules every row keeps (the families
users know from SDV). They are public metadata, like the rest of the schema: nothing here
reads the data to decide what a rule is.

- ``inequality``: ``{type: inequality, low: a, high: b, strict: false}``: a <= b (a < b).
- ``fixed_combinations``: ``{type: fixed_combinations, columns: [a, b], combinations:
  [[x, y], ...]}``: only the listed combinations occur. The list is declared, never read
  from the data (the combinations seen in private records are themselves private).
- ``determined_by``: ``{type: determined_by, column: education-num, by: education, mapping:
  {Bachelors: 13, ...}}``: the column's value follows from another's.
- ``conditional_range``: ``{type: conditional_range, if: {column: sex, equals: Male},
  then: {column: x, min: 0, max: 10}}``.
- ``formula``: ``{type: formula, column: c, expression: "a + b", tolerance: 0}``: a safe
  arithmetic expression (synthgen.tabular.formula; never ``eval``).

How each is kept:

- at sampling (post-processing, free; synthgen.tabular.constraint_redraw),
  ``determined_by`` and ``formula`` columns are computed from their inputs after decoding,
  in dependency order (a computed column may feed another; cycles are refused when the
  schema is read), so they hold by construction; rows that still break a rule (an inequality, a
  combination, a range, or a computed value outside its column's bounds or not whole in an
  integer column) are redrawn with the same class, in a bounded number of rounds, each from
  a generator derived from the seed (the same seed gives the same rows). Rows still broken
  after the cap raise ``ConstraintUnsatisfied``: a violation is never written. The share
  of rows redrawn is reported with the sample.
- at training, real rows that break a declared rule are dropped after ``conform`` and
  before anything is counted or learnt, so the model never learns a violation. A
  per-row filter by public rules maps neighbouring tables to neighbouring (or equal)
  tables, so the DP guarantee is unchanged; the DP record count is taken after the drop.
  How many rows were dropped is private (exact counts of the source) and is written only to
  the private run directory.

A row with an empty value in a column a rule reads is not held to that rule (nothing to
compare); declare the column without nulls to rule that out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from synthgen.errors import SchemaError
from synthgen.tabular.category_keys import Category, category_key
from synthgen.tabular.formula import (
    Expression,
    evaluate_formula,
    formula_columns,
    formula_text,
)

# how close a computed value must be to the column's value (relative to max(1, |value|))
DEFAULT_TOLERANCE = 1e-9


class ColumnSpec(Protocol):
    """What the rules read of a column (synthgen.tabular.schema.ColumnSpec, which imports
    this module to validate a schema's constraints)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def minimum(self) -> float | None: ...

    @property
    def maximum(self) -> float | None: ...

    @property
    def is_numeric(self) -> bool: ...

    @property
    def is_synthesized(self) -> bool: ...

    @property
    def has_bounds(self) -> bool: ...

    def declared_categories(self) -> tuple[Category, ...] | None: ...


# -- column values as the rules compare them ---------------------------------------------------
def _numbers(df: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _keys(df: pd.DataFrame, column: str) -> np.ndarray:
    """Canonical category keys of a column (None for null), computed once per distinct value."""
    raw = df[column]
    values = raw.to_numpy(dtype=object)
    null = raw.isna().to_numpy()
    out = np.empty(len(raw), dtype=object)
    out[:] = None
    if (~null).any():
        present = values[~null]
        lookup = {v: category_key(v) for v in pd.unique(present)}
        out[~null] = [lookup[v] for v in present]
    return out


def _close(a: np.ndarray, b: np.ndarray, tolerance: float) -> np.ndarray:
    return np.abs(a - b) <= tolerance * np.maximum(1.0, np.abs(b))


# -- the families --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inequality:
    low: str
    high: str
    strict: bool = False

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.low, self.high)

    def describe(self) -> str:
        return f"{self.low} {'<' if self.strict else '<='} {self.high}"

    def check(self, specs: Mapping[str, ColumnSpec]) -> None:
        for name in self.reads:
            if not _numeric(specs[name]):
                raise SchemaError(f"constraint {self.describe()}: {name!r} is not numeric")

    def broken(self, df: pd.DataFrame, specs: Mapping[str, ColumnSpec]) -> np.ndarray:
        a, b = _numbers(df, self.low), _numbers(df, self.high)
        with np.errstate(invalid="ignore"):
            return (a >= b) if self.strict else (a > b)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "inequality", "low": self.low, "high": self.high}
        if self.strict:
            d["strict"] = True
        return d


@dataclass(frozen=True)
class FixedCombinations:
    columns: tuple[str, ...]
    combinations: tuple[tuple[Category, ...], ...]

    @property
    def reads(self) -> tuple[str, ...]:
        return self.columns

    def describe(self) -> str:
        return f"fixed combinations of {', '.join(self.columns)}"

    def check(self, specs: Mapping[str, ColumnSpec]) -> None:
        for i, name in enumerate(self.columns):
            spec = specs[name]
            if _numeric(spec):
                raise SchemaError(f"constraint {self.describe()}: {name!r} is not categorical")
            known = declared_keys(spec)
            if known is None:
                continue
            if any(category_key(combo[i]) not in known for combo in self.combinations):
                raise SchemaError(
                    f"constraint {self.describe()}: a combination names a value that is not "
                    f"one of the declared categories of {name!r}"
                )

    def broken(self, df: pd.DataFrame, specs: Mapping[str, ColumnSpec]) -> np.ndarray:
        keys = [_keys(df, c) for c in self.columns]
        allowed = {tuple(category_key(v) for v in combo) for combo in self.combinations}
        present = np.logical_and.reduce([k != None for k in keys])  # noqa: E711 (elementwise)
        rows = zip(*keys, strict=True)
        seen = np.fromiter((row in allowed for row in rows), dtype=bool, count=len(df))
        return present & ~seen

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "fixed_combinations",
            "columns": list(self.columns),
            "combinations": [list(c) for c in self.combinations],
        }


@dataclass(frozen=True)
class DeterminedBy:
    column: str
    by: str
    mapping: tuple[tuple[Category, Category], ...]  # (value of `by`, value of `column`)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.by,)

    @property
    def writes(self) -> str:
        return self.column

    def describe(self) -> str:
        return f"{self.column} determined by {self.by}"

    def check(self, specs: Mapping[str, ColumnSpec]) -> None:
        spec = specs[self.column]
        if spec.role == "label":
            raise SchemaError(f"constraint {self.describe()}: the label cannot be computed")
        if _numeric(spec):
            if not all(is_number(v) for _, v in self.mapping):
                raise SchemaError(
                    f"constraint {self.describe()}: {self.column!r} is numeric; map to numbers"
                )
            if spec.kind == "integer" and not all(float(v).is_integer() for _, v in self.mapping):
                raise SchemaError(
                    f"constraint {self.describe()}: {self.column!r} is an integer column; "
                    "map to whole numbers"
                )
        else:
            known = declared_keys(spec)
            if known is not None and any(category_key(v) not in known for _, v in self.mapping):
                raise SchemaError(
                    f"constraint {self.describe()}: a mapped value is not one of the "
                    f"declared categories of {self.column!r}"
                )
        keys = [category_key(k) for k, _ in self.mapping]
        if len(set(keys)) != len(keys):
            raise SchemaError(
                f"constraint {self.describe()}: a value of {self.by!r} is mapped twice"
            )

    def expected(self, df: pd.DataFrame, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
        """(mask of rows whose `by` value is mapped, the mapped values for those rows)."""
        lookup = {category_key(k): v for k, v in self.mapping}
        by = _keys(df, self.by)
        mapped = np.array([k is not None and k in lookup for k in by], dtype=bool)
        values = [lookup[k] for k in by[mapped]]
        if _numeric(spec):
            return mapped, np.asarray(values, dtype="float64")
        objects = np.empty(len(values), dtype=object)  # never a 2-D array of characters
        objects[:] = values
        return mapped, objects

    def broken(self, df: pd.DataFrame, specs: Mapping[str, ColumnSpec]) -> np.ndarray:
        spec = specs[self.column]
        mapped, values = self.expected(df, spec)
        out = np.zeros(len(df), dtype=bool)
        if _numeric(spec):
            actual = _numbers(df, self.column)[mapped]
            out[mapped] = ~_close(actual, values, DEFAULT_TOLERANCE)
        else:
            actual_keys = _keys(df, self.column)[mapped]
            out[mapped] = [a != category_key(v) for a, v in zip(actual_keys, values, strict=True)]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "determined_by",
            "column": self.column,
            "by": self.by,
            "mapping": {str(k): v for k, v in self.mapping},
        }


@dataclass(frozen=True)
class ConditionalRange:
    if_column: str
    equals: Category
    column: str
    minimum: float | None
    maximum: float | None

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.if_column, self.column)

    def describe(self) -> str:
        low = "-inf" if self.minimum is None else f"{self.minimum:g}"
        high = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"{self.column} in [{low}, {high}] if {self.if_column} = {self.equals}"

    def check(self, specs: Mapping[str, ColumnSpec]) -> None:
        if not _numeric(specs[self.column]):
            raise SchemaError(f"constraint {self.describe()}: {self.column!r} is not numeric")
        condition = specs[self.if_column]
        known = declared_keys(condition)
        if known is not None and category_key(self.equals) not in known:
            raise SchemaError(
                f"constraint {self.describe()}: the value is not one of the declared "
                f"categories of {self.if_column!r}"
            )

    def broken(self, df: pd.DataFrame, specs: Mapping[str, ColumnSpec]) -> np.ndarray:
        applies = _keys(df, self.if_column) == category_key(self.equals)
        x = _numbers(df, self.column)
        out = np.zeros(len(df), dtype=bool)
        with np.errstate(invalid="ignore"):
            if self.minimum is not None:
                out |= x < self.minimum
            if self.maximum is not None:
                out |= x > self.maximum
        return applies & out

    def to_dict(self) -> dict[str, Any]:
        then: dict[str, Any] = {"column": self.column}
        if self.minimum is not None:
            then["min"] = self.minimum
        if self.maximum is not None:
            then["max"] = self.maximum
        return {
            "type": "conditional_range",
            "if": {"column": self.if_column, "equals": self.equals},
            "then": then,
        }


@dataclass(frozen=True)
class Formula:
    column: str
    expression: Expression
    tolerance: float = DEFAULT_TOLERANCE  # relative to max(1, |computed value|)

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(sorted(formula_columns(self.expression)))

    @property
    def writes(self) -> str:
        return self.column

    def describe(self) -> str:
        return f"{self.column} = {formula_text(self.expression)}"

    def check(self, specs: Mapping[str, ColumnSpec]) -> None:
        if specs[self.column].role == "label" or not _numeric(specs[self.column]):
            raise SchemaError(f"constraint {self.describe()}: {self.column!r} must be numeric")
        for name in self.reads:
            if not _numeric(specs[name]):
                raise SchemaError(f"constraint {self.describe()}: {name!r} is not numeric")
        if self.column in self.reads:
            raise SchemaError(f"constraint {self.describe()}: the column reads itself")

    def expected(self, df: pd.DataFrame, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
        values = evaluate_formula(self.expression, df)
        inputs_present = np.logical_and.reduce(
            [df[name].notna().to_numpy() for name in self.reads] or [np.ones(len(df), bool)]
        )
        return inputs_present, values[inputs_present]

    def broken(self, df: pd.DataFrame, specs: Mapping[str, ColumnSpec]) -> np.ndarray:
        present, values = self.expected(df, specs[self.column])
        actual = _numbers(df, self.column)[present]
        out = np.zeros(len(df), dtype=bool)
        with np.errstate(invalid="ignore"):
            out[present] = ~np.isfinite(values) | ~_close(actual, values, self.tolerance)
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": "formula",
            "column": self.column,
            "expression": formula_text(self.expression),
        }
        if self.tolerance != DEFAULT_TOLERANCE:
            d["tolerance"] = self.tolerance
        return d


Constraint = Inequality | FixedCombinations | DeterminedBy | ConditionalRange | Formula
Computed = DeterminedBy | Formula


# synthgen.tabular.preprocess.OTHER: a category list holding it is a domain discovered with
# DP (a model's schema), where a value the rules name may have been merged, not mistyped
MERGED_CATEGORY = "(other)"


def declared_keys(spec: ColumnSpec) -> set[str] | None:
    """Keys of the categories a value named by a rule must be one of; None when any value
    may occur (categories not declared, or discovered with DP)."""
    declared = spec.declared_categories()
    if declared is None:
        return None
    keys = {category_key(v) for v in declared}
    return None if category_key(MERGED_CATEGORY) in keys else keys


def _numeric(spec: ColumnSpec) -> bool:
    return spec.is_numeric and spec.role != "label"


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_constraints(constraints: Iterable[Constraint], columns: Iterable[ColumnSpec]) -> None:
    """Every column a rule names is a synthesised column of the right kind; no column is
    computed twice, and computed columns do not depend on each other in a cycle (a
    computed column may feed another rule's computation: ``computation_order``)."""
    specs = {c.name: c for c in columns}
    computed: dict[str, str] = {}
    constraints = list(constraints)
    for c in constraints:
        names = [*c.reads, *([c.writes] if isinstance(c, Computed) else [])]
        for name in names:
            if name not in specs:
                raise SchemaError(f"constraint {c.describe()}: no column {name!r} in the schema")
            if not specs[name].is_synthesized:
                raise SchemaError(
                    f"constraint {c.describe()}: {name!r} is an {specs[name].role} column"
                )
        c.check(specs)
        if isinstance(c, Computed):
            if c.writes in computed:
                raise SchemaError(f"constraints compute column {c.writes!r} twice")
            computed[c.writes] = c.describe()
    computation_order(constraints)


def computation_order(constraints: Iterable[Constraint]) -> list[Computed]:
    """The computed rules (``determined_by``, ``formula``), each after every rule that
    computes a column it reads, otherwise in declared order; a chain such as
    ``edu -> edu_num -> x`` is filled in one pass at sampling. Raises ``SchemaError``
    naming a cycle (no order can fill it). Iterative, so a long chain cannot exhaust the
    stack; at most ``MAX_CONSTRAINTS`` rules, so the quadratic passes are cheap."""
    rules = {c.writes: c for c in constraints if isinstance(c, Computed)}
    needs = {name: {r for r in rule.reads if r in rules} for name, rule in rules.items()}
    order: list[Computed] = []
    done: set[str] = set()
    while len(done) < len(rules):
        ready = [n for n in rules if n not in done and needs[n] <= done]
        if not ready:
            raise SchemaError(
                "constraints compute columns in a cycle, so no order can fill them: "
                + _cycle_text({n: needs[n] - done for n in rules if n not in done})
            )
        for name in ready:
            done.add(name)
            order.append(rules[name])
    return order


def _cycle_text(needs: Mapping[str, set[str]]) -> str:
    """One cycle among columns that all wait on another, as 'a from b, b from a'."""
    path = [next(iter(needs))]
    while path[-1] not in path[:-1]:
        path.append(sorted(needs[path[-1]])[0])
    cycle = path[path.index(path[-1]) :]
    return ", ".join(f"{a!r} from {b!r}" for a, b in itertools.pairwise(cycle))


# -- holding rows to the rules ---------------------------------------------------------------------
@dataclass(frozen=True)
class ConstraintSet:
    """The constraints of one schema with the specs of their columns (bounds: the model's)."""

    constraints: tuple[Constraint, ...]
    specs: dict[str, ColumnSpec] = field(default_factory=dict)

    @classmethod
    def of(cls, constraints: Iterable[Constraint], columns: Iterable[ColumnSpec]) -> ConstraintSet:
        return cls(tuple(constraints), {c.name: c for c in columns})

    def __bool__(self) -> bool:
        return bool(self.constraints)

    def broken_by_each(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """One mask of rows breaking each rule, by its description."""
        out: dict[str, np.ndarray] = {}
        for c in self.constraints:
            mask = c.broken(df, self.specs)
            key = c.describe()
            out[key] = out[key] | mask if key in out else mask
        return out

    def broken_rows(self, df: pd.DataFrame) -> np.ndarray:
        masks = list(self.broken_by_each(df).values())
        return np.logical_or.reduce(masks) if masks else np.zeros(len(df), dtype=bool)

    def construct(self, df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """``df`` with computed columns filled from their inputs, and a mask of rows whose
        computed value cannot be written (not finite, outside the column's bounds, or not
        whole in an integer column): those rows must be drawn again."""
        df = df.copy()
        unwritable = np.zeros(len(df), dtype=bool)
        for c in computation_order(self.constraints):  # inputs computed before their users
            spec = self.specs[c.writes]
            rows, values = c.expected(df, spec)
            if not _numeric(spec):
                column = df[c.writes].to_numpy(dtype=object).copy()
                column[rows] = values
                df[c.writes] = column
                continue
            bad = ~np.isfinite(values)
            if spec.kind == "integer":
                with np.errstate(invalid="ignore"):
                    bad |= np.abs(values - np.round(values)) > DEFAULT_TOLERANCE
            if spec.has_bounds and isinstance(c, Formula):  # mapped values are declared
                with np.errstate(invalid="ignore"):
                    bad |= (values < spec.minimum) | (values > spec.maximum)
            unwritable[np.flatnonzero(rows)[bad]] = True
            df[c.writes] = _write_numbers(df[c.writes], rows, np.where(bad, np.nan, values), spec)
        return df, unwritable


def _write_numbers(
    column: pd.Series, rows: np.ndarray, values: np.ndarray, spec: ColumnSpec
) -> Any:
    current = (
        pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan).copy()
    )
    current[rows] = values
    if spec.kind != "integer":
        return current
    whole = np.round(current)
    if not np.isnan(whole).any() and pd.api.types.is_integer_dtype(column.dtype):
        return whole.astype(np.int64) if column.dtype == np.int64 else pd.array(whole, "Int64")
    result = pd.array(np.where(np.isnan(whole), 0, whole).astype(np.int64), dtype="Int64")
    result[np.isnan(whole)] = pd.NA
    return result


def drop_broken_rows(
    df: pd.DataFrame, constraints: ConstraintSet
) -> tuple[np.ndarray, dict[str, int]]:
    """(mask of the rows that keep every rule, rows breaking each rule). For the training
    table after ``conform``: the counts are exact and private (private directory only)."""
    by_each = constraints.broken_by_each(df)
    broken = np.logical_or.reduce(list(by_each.values())) if by_each else np.zeros(len(df), bool)
    return ~broken, {k: int(v.sum()) for k, v in by_each.items()}
