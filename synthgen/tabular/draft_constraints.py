"""Constraints a schema draft proposes, found in the records, for the steward to review.

Like the rest of a draft this reads the real records without noise: the proposals are for
the steward's eyes (``synthgen schema draft``), and a model only ever sees what the
steward keeps and declares public by setting ``draft: false``.

Two kinds are looked for, the ones a generator gets visibly wrong:

- a categorical column that maps one-to-one onto a numeric column (``education`` and
  ``education-num``): proposed as ``determined_by`` with the mapping seen;
- two related numeric columns (rank correlation at least ``MIN_RANK_CORRELATION``) with
  overlapping ranges where one is at most the other in (nearly) every row
  (``Direct_Bilirubin <= Total_Bilirubin``): proposed as an ``inequality``. Pairs with
  disjoint ranges are left out (the bounds imply them already), and so are unrelated
  columns that happen to be ordered (``Total_Bilirubin <= Age`` on liver).

The search is bounded: at most ``MAX_COLUMNS`` columns of each kind are compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthgen.tabular.constraints import Constraint, DeterminedBy, Inequality
from synthgen.tabular.schema import ColumnSpec, Schema, category_key

MAX_COLUMNS = 200  # of each kind: at most 200 x 200 pairs are compared
# an inequality is proposed when at most this share of the rows with both values break it
# (a few recording errors should not hide a rule: liver has 3 of 583)
MAX_BREAKING_SHARE = 0.01
MIN_ROWS = 20  # fewer rows with both values present: too little to propose anything
# a part and its whole move together (liver: direct and total bilirubin 0.87, albumin and
# total protein 0.78); unrelated ordered pairs do not (total bilirubin and age: 0.0)
MIN_RANK_CORRELATION = 0.5


@dataclass(frozen=True)
class Proposal:
    constraint: Constraint
    rows_breaking: int  # private, like everything in a draft: for the steward's review
    rows_compared: int


def propose_constraints(df: pd.DataFrame, schema: Schema) -> list[Proposal]:
    """Rules that hold (nearly) everywhere in ``df``, whose columns are typed by ``schema``."""
    synthesized = [c for c in schema.synthesized if c.name in df.columns]
    numeric = [c for c in synthesized if c.is_numeric and c.role != "label"][:MAX_COLUMNS]
    categorical = [c for c in synthesized if c.kind == "categorical"][:MAX_COLUMNS]
    values = {c.name: _numbers(df[c.name]) for c in numeric}
    proposals = [p for c in categorical for p in _mappings(df[c.name], c, numeric, values)]
    proposals += _inequalities(numeric, values)
    return proposals


def _numbers(raw: pd.Series) -> np.ndarray:
    text = raw if pd.api.types.is_numeric_dtype(raw.dtype) else raw.astype("string").str.strip()
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _mappings(
    raw: pd.Series, spec: ColumnSpec, numeric: list[ColumnSpec], values: dict[str, np.ndarray]
) -> list[Proposal]:
    keys = raw.map(lambda v: None if pd.isna(v) else category_key(v)).to_numpy(dtype=object)
    present = np.array([k is not None for k in keys], dtype=bool)
    out = []
    for target in numeric:
        x = values[target.name]
        rows = present & np.isfinite(x)
        if rows.sum() < MIN_ROWS:
            continue
        pairs = pd.DataFrame({"key": keys[rows], "value": x[rows]})
        per_key = pairs.groupby("key", sort=True)["value"].agg(["nunique", "first", "size"])
        one_value_each = bool((per_key["nunique"] == 1).all())
        distinct = per_key["first"].nunique() == len(per_key)
        # every category seen at least twice: a column of near-unique labels maps onto
        # anything one-to-one by chance
        repeated = bool((per_key["size"] >= 2).all())
        if len(per_key) >= 2 and one_value_each and distinct and repeated:
            mapping = tuple(
                (_category(spec, key), _plain(value)) for key, value in per_key["first"].items()
            )
            out.append(Proposal(DeterminedBy(target.name, spec.name, mapping), 0, int(rows.sum())))
    return out


def _inequalities(numeric: list[ColumnSpec], values: dict[str, np.ndarray]) -> list[Proposal]:
    out = []
    for i, a in enumerate(numeric):
        for b in numeric[i + 1 :]:
            x, y = values[a.name], values[b.name]
            rows = np.isfinite(x) & np.isfinite(y)
            n = int(rows.sum())
            if n < MIN_ROWS:
                continue
            x, y = x[rows], y[rows]
            for low, high, lo_name, hi_name in ((x, y, a.name, b.name), (y, x, b.name, a.name)):
                overlapping = low.max() > high.min()  # else the ranges imply the rule
                breaking = int((low > high).sum())
                if (
                    overlapping
                    and breaking <= MAX_BREAKING_SHARE * n
                    and (low < high).any()
                    and _rank_correlation(x, y) >= MIN_RANK_CORRELATION
                ):
                    out.append(Proposal(Inequality(lo_name, hi_name), breaking, n))
    return out


def _rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's correlation (Pearson's on average ranks); 0 for a constant column."""
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def _category(spec: ColumnSpec, key: str) -> str | int | float | bool:
    """The declared category value with this key (the drafted column lists every one)."""
    for value in spec.categories or ():
        if category_key(value) == key:
            return value
    return key


def _plain(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)
