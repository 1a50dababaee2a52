"""One expectation in plain terms, independent of Great Expectations' classes.

``synthgen.tabular.expectations`` builds a suite of them from the schema and
``synthgen.tabular.gx_adapter`` runs it with GE; the adapter needs nothing else from
``expectations``, which calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal[
    "columns_match", "columns_in_order", "row_count", "of_type", "between", "in_set", "not_null"
]


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite (``gx_adapter`` names GE's class for each kind)."""

    kind: Kind
    column: str | None
    params: dict[str, Any]
    description: str  # what is expected, in words, without data values
    structural: bool = False  # failing it means the table cannot be evaluated at all
