"""Check a table against its schema and bring it to canonical types.

Problems are collected for every column and reported together, each with the column name,
how many rows are affected and the first row number, never with the offending value
(error text reaches logs and job events).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synthgen.errors import SchemaMismatch
from synthgen.tabular.schema import ColumnSpec, Schema, category_key

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _describe(mask: np.ndarray, what: str, column: str) -> str:
    """``what`` is phrased for several values ("are not numbers"); one value gets the
    singular form."""
    n = int(mask.sum())
    if n == 1:
        what = what.replace("are not numbers", "is not a number").replace(
            "are not whole numbers", "is not a whole number"
        )
        what = what.replace("are ", "is ", 1)
    noun = "value" if n == 1 else "values"
    return f"column {column!r}: {n} {noun} {what} (first at row {_first_row(mask)})"


def conform(
    df: pd.DataFrame,
    schema: Schema,
    *,
    check_bounds: bool = True,
    allow_missing_dropped: bool = True,
) -> pd.DataFrame:
    """Return ``df`` restricted to the schema's synthesized columns, in schema order, with
    canonical types: numerics as float64 (NaN for null), categoricals and booleans as
    object columns holding the declared category values (None for null).

    Raises SchemaMismatch listing every problem found.
    """
    problems: list[str] = []
    present = set(df.columns)
    expected = set(schema.names)
    required = {c.name for c in schema.synthesized}
    if not allow_missing_dropped:
        required = expected
    missing = [n for n in schema.names if n in required and n not in present]
    extra = [str(c) for c in df.columns if c not in expected]
    if missing:
        problems.append(f"missing column(s) declared in the schema: {', '.join(missing)}")
    if extra:
        problems.append(f"column(s) not in the schema: {', '.join(extra)}")
    out: dict[str, Any] = {}
    for spec in schema.synthesized:
        if spec.name not in present:
            continue
        values, column_problems = conform_column(df[spec.name], spec, check_bounds=check_bounds)
        problems.extend(column_problems)
        out[spec.name] = values
    if problems:
        raise SchemaMismatch(
            f"the table does not match its schema ({len(problems)} problem(s)):\n  - "
            + "\n  - ".join(problems),
            problems,
        )
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def conform_column(
    raw: pd.Series, spec: ColumnSpec, *, check_bounds: bool = True
) -> tuple[pd.Series | np.ndarray, list[str]]:
    problems: list[str] = []
    is_null = raw.isna().to_numpy()
    if spec.is_numeric:
        values = _to_float(raw)
        bad = np.isnan(values) & ~is_null
        if bad.any():
            problems.append(_describe(bad, "are not numbers", spec.name))
        ok = ~np.isnan(values)
        if spec.kind == "integer":
            frac = ok & (np.abs(values - np.round(values)) > 1e-9)
            if frac.any():
                problems.append(_describe(frac, "are not whole numbers", spec.name))
        inf = ok & ~np.isfinite(values)
        if inf.any():
            problems.append(_describe(inf, "are infinite", spec.name))
        if check_bounds and spec.has_bounds:
            lo, hi = spec.minimum, spec.maximum
            out_of = ok & np.isfinite(values) & ((values < lo) | (values > hi))
            if out_of.any():
                problems.append(
                    _describe(
                        out_of, f"are outside the declared bounds [{lo:g}, {hi:g}]", spec.name
                    )
                )
        result: pd.Series | np.ndarray = values
        null_mask = np.isnan(values) & is_null
    else:
        result, null_mask, unknown = _to_categories(raw, spec)
        if unknown.any():
            what = (
                "are not true/false"
                if spec.kind == "boolean"
                else "are not in the declared categories"
            )
            problems.append(_describe(unknown, what, spec.name))
    if null_mask.any() and not spec.nullable:
        who = "the label" if spec.role == "label" else "a column declared without nulls"
        problems.append(_describe(null_mask, f"are empty in {who}", spec.name))
    return result, problems


def _to_float(raw: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    return (
        pd.to_numeric(raw.astype("string").str.strip(), errors="coerce")
        .astype("float64")
        .to_numpy(na_value=np.nan)
    )


def _to_categories(raw: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map raw values to declared category objects. Returns (values, null mask, unknown mask)."""
    is_null = raw.isna().to_numpy()
    keys = np.array(
        [None if n else _key(v, spec) for v, n in zip(raw.tolist(), is_null, strict=True)],
        dtype=object,
    )
    declared = spec.declared_categories()
    values = np.empty(len(raw), dtype=object)
    unknown = np.zeros(len(raw), dtype=bool)
    if declared is None:
        values[:] = keys
    else:
        lookup = {category_key(c): c for c in declared}
        for i, k in enumerate(keys):
            if k is None:
                values[i] = None
            elif k in lookup:
                values[i] = lookup[k]
            else:
                unknown[i] = True
    return values, is_null, unknown


def _key(value: Any, spec: ColumnSpec) -> str:
    if spec.kind == "boolean":
        text = category_key(value).lower()
        if text in _TRUE:
            return "true"
        if text in _FALSE:
            return "false"
        return "<not boolean>"
    return category_key(value)
