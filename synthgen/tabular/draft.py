"""Draft a schema from a table, for a steward to review.

Everything here is computed from the real records (observed bounds, category lists), so
the result is marked ``draft: true`` and training refuses it until a person has reviewed
it: bounds and categories used unreviewed would leak (the observed maximum is a record).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from synthgen.tabular.draft_constraints import Proposal
from synthgen.tabular.schema import ColumnKind, ColumnSpec, Schema, category_key

MAX_CATEGORIES = 100  # more distinct values than this: continuous/integer or identifier
SMALL_INTEGER_CODES = 10  # whole numbers with at most this many values read as codes
_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|mrn|identifier|record)([_\s-]|$)|^id$", re.I)

DRAFT_HEADER = """\
# DRAFT schema computed from the data in {source} on {day}.
# Every bound and category list below was read from the real records. Review each one
# before use: widen bounds to public ranges (clinical limits, instrument ranges), drop
# categories that are rare or identifying, check kinds and roles. Delete a bound or a
# category list to have synthgen estimate it with differential privacy instead.
# Then set `draft: false`: synthgen refuses to train on a schema that is still a draft.
"""
CONSTRAINTS_HEADER = """\
#
# The `constraints:` at the end were found in the records: keep only rules that are true
# of the population. A kept rule is enforced: every synthetic row keeps it, and real rows
# that break it are dropped before training. Rows that break each one here:
"""


def draft_schema(df: pd.DataFrame, *, target: str | None = None, name: str = "") -> Schema:
    """Columns only: a run without a schema trains on this unreviewed draft, so nothing
    that carries values from the records (constraint proposals) may be added here."""
    columns = [_draft_column(str(col), df[col]) for col in df.columns]
    schema = Schema(columns=tuple(columns), name=name, draft=True)
    return schema.with_target(target) if target else schema


def draft_yaml(schema: Schema, *, source: str, proposals: Sequence[Proposal] = ()) -> str:
    """The draft as YAML for the steward, with the proposed constraints (found in the same
    records, ``propose_constraints``) under ``constraints:`` and how many rows break each
    in the header."""
    header = DRAFT_HEADER.format(source=source, day=date.today().isoformat())
    if proposals:
        header += CONSTRAINTS_HEADER + "".join(
            f"#   {p.constraint.describe()}: {p.rows_breaking} of {p.rows_compared}\n"
            for p in proposals
        )
        schema = replace(schema, constraints=tuple(p.constraint for p in proposals))
    return header + schema.to_yaml()


def _draft_column(name: str, raw: pd.Series) -> ColumnSpec:
    non_null = raw.dropna()
    nullable = bool(raw.isna().any())
    if len(non_null) == 0:
        return ColumnSpec(name=name, kind="categorical", categories=("",), nullable=True)
    if pd.api.types.is_bool_dtype(raw.dtype):
        return ColumnSpec(name=name, kind="boolean", nullable=nullable)
    numbers = pd.to_numeric(non_null.astype("string").str.strip(), errors="coerce")
    all_numeric = bool(numbers.notna().all())
    distinct = non_null.astype("string").str.strip().nunique()
    looks_unique = distinct == len(non_null) and len(non_null) > MAX_CATEGORIES
    if looks_unique and (_ID_NAME.search(name) or not all_numeric):
        return ColumnSpec(name=name, role="identifier")
    if all_numeric:
        values = numbers.to_numpy(dtype=float)
        integral = bool(np.all(np.abs(values - np.round(values)) < 1e-9))
        n_values = len(np.unique(values))
        if integral and n_values <= SMALL_INTEGER_CODES:
            cats = sorted({_as_number(v) for v in values})
            return ColumnSpec(
                name=name, kind="categorical", categories=tuple(cats), nullable=nullable
            )
        kind: ColumnKind = "integer" if integral else "continuous"
        lo, hi = float(values.min()), float(values.max())
        if lo == hi:
            hi = lo + 1
        return ColumnSpec(name=name, kind=kind, minimum=lo, maximum=hi, nullable=nullable)
    lowered = {category_key(v).lower() for v in non_null}
    if lowered <= {"true", "false"}:
        return ColumnSpec(name=name, kind="boolean", nullable=nullable)
    if distinct > MAX_CATEGORIES:
        return ColumnSpec(name=name, role="identifier")
    labels = sorted({str(v).strip() for v in non_null})
    return ColumnSpec(name=name, kind="categorical", categories=tuple(labels), nullable=nullable)


def _as_number(v: float) -> int | float:
    return int(v) if math.isfinite(v) and float(v).is_integer() else float(v)
