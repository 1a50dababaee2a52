"""One expectation in plain terms, independent of Great Expectations' classes.

``synthgen.tabular.expectations`` builds a suite of them from the schema and
``synthgen.tabular.gx_adapter`` runs it with GE; the adapter needs nothing else from
``expectations``, which calls it.

Declared cross-column constraints (``synthgen.tabular.constraint_expectations``) add pair
kinds GE has, and ``custom_`` kinds GE has no expectation for, which synthgen checks itself
(``custom`` is True for them: the adapter never sees them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal[
    "columns_match",
    "columns_in_order",
    "row_count",
    "of_type",
    "between",
    "in_set",
    "not_null",
    "pair_a_at_least_b",
    "pair_in_set",
    "custom_formula",
    "custom_combinations",
]


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite (``gx_adapter`` names GE's class for each kind)."""

    kind: Kind
    column: str | None
    params: dict[str, Any]
    description: str  # what is expected, in words, without data values
    structural: bool = False  # failing it means the table cannot be evaluated at all
    columns: tuple[str, ...] = ()  # the columns a multi-column expectation reads
    # only rows whose column (first) holds one of the values (second) are checked
    only_where: tuple[str, tuple[Any, ...]] | None = None
    rule: str | None = None  # the declared constraint this expectation checks, in words

    @property
    def custom(self) -> bool:
        """Checked by synthgen, not GE (GE has no expectation for it)."""
        return self.kind.startswith("custom_")

    @property
    def where(self) -> str:
        """The column(s) it reads, for a report."""
        return self.column or ", ".join(self.columns) or "(table)"
