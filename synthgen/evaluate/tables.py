"""Bring real and synthetic tables to one canonical form and one numeric encoding.

Real splits come from Parquet (categoricals may come back as strings, numbers or booleans),
synthetic tables from CSV or Parquet. ``normalise`` maps both to the same representation:
numeric columns as float64 (NaN for null) and categorical/boolean columns as the canonical
text key of each category (``synthgen.tabular.schema.category_key``: "1", "1.0" and 1 are
the same category) with None for null. ``TableEncoding`` then turns normalised tables into
the matrices metrics need (category codes, binned codes, distance features), with scales
fixed once from the schema (public) or, when the schema declares none, from the real
training split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthgen.tabular.expectations import category_keys, column_key, is_categorical, numeric_values
from synthgen.tabular.schema import Schema

MAX_BINS = 10  # numeric columns are cut into at most this many quantile bins for associations


def normalise(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The schema's synthesized columns of ``df`` in schema order, in canonical form.

    Callers check the columns first (``expectations``); a missing column is a KeyError here.
    """
    out: dict[str, pd.Series] = {}
    index = pd.RangeIndex(len(df))
    for spec in schema.synthesized:
        raw = df[spec.name]
        if is_categorical(spec):
            # explicit object dtype: pandas 3 would infer "str" and turn None into NaN
            out[spec.name] = pd.Series(category_keys(raw, spec), index=index, dtype=object)
        else:
            out[spec.name] = pd.Series(numeric_values(raw), index=index, dtype="float64")
    return pd.DataFrame(out, index=index)


@dataclass
class TableEncoding:
    """Column roles, scales and vocabularies shared by all tables of one validation run."""

    schema: Schema
    numeric: list[str]
    categorical: list[str]
    scale: dict[str, tuple[float, float]]  # numeric column -> (low, high) for [0, 1] scaling
    vocabulary: dict[str, list[str]]  # categorical column -> keys; code len(vocab) = missing
    bin_edges: dict[str, np.ndarray]  # numeric column -> inner quantile edges of the reference

    @classmethod
    def fit(
        cls, schema: Schema, reference: pd.DataFrame, others: Sequence[pd.DataFrame] = ()
    ) -> TableEncoding:
        """Scales and bins come from the schema or the ``reference`` (real training) table;
        vocabularies cover every key seen in any table, declared categories first."""
        numeric = [c.name for c in schema.synthesized if not is_categorical(c)]
        categorical = [c.name for c in schema.synthesized if is_categorical(c)]
        scale: dict[str, tuple[float, float]] = {}
        edges: dict[str, np.ndarray] = {}
        for name in numeric:
            spec = schema.column(name)
            values = reference[name].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            if spec.has_bounds:
                lo, hi = float(spec.minimum), float(spec.maximum)  # type: ignore[arg-type]
            elif finite.size:
                lo, hi = float(finite.min()), float(finite.max())
            else:
                lo, hi = 0.0, 1.0
            scale[name] = (lo, hi if hi > lo else lo + 1.0)
            if finite.size:
                qs = np.quantile(finite, np.linspace(0, 1, MAX_BINS + 1)[1:-1])
                edges[name] = np.unique(qs)
            else:
                edges[name] = np.array([], dtype=float)
        vocabulary: dict[str, list[str]] = {}
        for name in categorical:
            spec = schema.column(name)
            declared = spec.declared_categories()
            keys = [column_key(c, spec) for c in declared] if declared is not None else []
            seen: set[str] = set()
            for table in (reference, *others):
                seen.update(
                    str(k) for k in pd.unique(table[name].to_numpy(dtype=object)) if not pd.isna(k)
                )
            keys += sorted(seen - set(keys))
            vocabulary[name] = keys
        return cls(schema, numeric, categorical, scale, vocabulary, edges)

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.schema.synthesized]

    def n_levels(self, name: str) -> int:
        """Number of codes of a column in ``codes``: categories (+1 for missing) or bins."""
        if name in self.vocabulary:
            return len(self.vocabulary[name]) + 1
        return len(self.bin_edges[name]) + 2  # bins plus one for missing

    def category_codes(self, df: pd.DataFrame, name: str) -> np.ndarray:
        vocab = self.vocabulary[name]
        lookup = {k: i for i, k in enumerate(vocab)}
        missing = len(vocab)
        series = pd.Series(df[name].to_numpy(dtype=object))
        return series.map(lookup).fillna(missing).to_numpy(dtype=np.int64)

    def codes(self, df: pd.DataFrame, name: str) -> np.ndarray:
        """Integer codes of any column: categories for categoricals, quantile bins of the
        reference for numerics (the last code is missing)."""
        if name in self.vocabulary:
            return self.category_codes(df, name)
        values = df[name].to_numpy(dtype=float)
        edges = self.bin_edges[name]
        codes = np.searchsorted(edges, values, side="right").astype(np.int64)
        codes[np.isnan(values)] = len(edges) + 1
        return codes

    def distance_features(
        self, df: pd.DataFrame, columns: Sequence[str] | None = None
    ) -> np.ndarray:
        """Rows as vectors whose Euclidean distance is a mixed-type distance.

        Numerics are scaled to [0, 1] by the public bounds (or the training range); a null
        numeric is 0 with an indicator, so null vs value adds 1 to the squared distance.
        Categoricals are one-hot vectors times 1/sqrt(2), so a mismatch adds exactly 1.
        Every column thus contributes at most about 1 to the squared distance.
        """
        columns = list(columns) if columns is not None else self.columns
        blocks: list[np.ndarray] = []
        n = len(df)
        for name in columns:
            if name in self.scale:
                lo, hi = self.scale[name]
                x = (df[name].to_numpy(dtype=float) - lo) / (hi - lo)
                null = np.isnan(x)
                blocks.append(np.where(null, 0.0, x)[:, None])
                blocks.append(null.astype(float)[:, None])
            else:
                codes = self.category_codes(df, name)
                onehot = np.zeros((n, len(self.vocabulary[name]) + 1))
                onehot[np.arange(n), codes] = np.sqrt(0.5)
                blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((n, 0))
