"""Canonical cell keys (contract and evaluation): "1", "1.0", 1 are one category."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthgen.tabular.schema import ColumnSpec, category_key

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
