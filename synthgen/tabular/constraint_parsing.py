"""Reading the ``constraints:`` list of a schema file into constraint objects.

Each entry is checked for shape here (its keys, names, numbers, the formula's syntax) and
refused with a ``SchemaError`` naming the entry; whether the columns exist and have the
right kinds is ``synthgen.tabular.constraints.check_constraints``'s job, once the columns
are known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from synthgen.errors import SchemaError
from synthgen.tabular.category_keys import Category
from synthgen.tabular.constraints import (
    DEFAULT_TOLERANCE,
    ConditionalRange,
    Constraint,
    DeterminedBy,
    FixedCombinations,
    Formula,
    Inequality,
    is_number,
)
from synthgen.tabular.formula import parse_formula

MAX_CONSTRAINTS = 1000
TYPES = ("inequality", "fixed_combinations", "determined_by", "conditional_range", "formula")


def parse_constraints(raw: Any, source: str = "schema") -> tuple[Constraint, ...]:
    """The ``constraints:`` list of a schema file, each entry checked for shape; raises
    SchemaError naming the entry. Column checks need the columns: ``check_constraints``."""
    if not isinstance(raw, list):
        raise SchemaError(f"{source}: 'constraints' must be a list")
    if len(raw) > MAX_CONSTRAINTS:
        raise SchemaError(f"{source}: more than {MAX_CONSTRAINTS} constraints")
    out = []
    for i, entry in enumerate(raw, start=1):
        where = f"{source}: constraint {i}"
        if not isinstance(entry, dict) or entry.get("type") not in TYPES:
            raise SchemaError(f"{where}: needs a 'type', one of {', '.join(TYPES)}")
        try:
            out.append(_PARSERS[entry["type"]](entry))
        except SchemaError as exc:
            raise SchemaError(f"{where} ({entry['type']}): {exc}") from None
    return tuple(out)


def _keys_of(entry: dict[str, Any], required: set[str], optional: Iterable[str] = ()) -> None:
    missing = sorted(required - set(entry))
    if missing:
        raise SchemaError(f"missing key(s) {', '.join(missing)}")
    unknown = sorted(set(entry) - required - set(optional) - {"type"})
    if unknown:
        raise SchemaError(f"unknown key(s) {', '.join(unknown)}")


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise SchemaError(f"'{what}' must be a column name")
    return value


def _category(value: Any, what: str) -> Category:
    if not isinstance(value, str | int | float | bool):
        raise SchemaError(f"'{what}' must be a string or a number")
    return value


def _bound(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if not is_number(value):
        raise SchemaError(f"'{what}' must be a finite number")
    return float(value)


def _inequality(e: dict[str, Any]) -> Inequality:
    _keys_of(e, {"low", "high"}, {"strict"})
    if not isinstance(e.get("strict", False), bool):
        raise SchemaError("'strict' must be true or false")
    low, high = _name(e["low"], "low"), _name(e["high"], "high")
    if low == high:
        raise SchemaError("'low' and 'high' must be different columns")
    return Inequality(low, high, bool(e.get("strict", False)))


def _fixed_combinations(e: dict[str, Any]) -> FixedCombinations:
    _keys_of(e, {"columns", "combinations"})
    columns = e["columns"]
    if not isinstance(columns, list) or len(columns) < 2:
        raise SchemaError("'columns' must list at least two columns")
    names = tuple(_name(c, "columns") for c in columns)
    if len(set(names)) != len(names):
        raise SchemaError("'columns' lists a column twice")
    combos = e["combinations"]
    if not isinstance(combos, list) or not combos:
        raise SchemaError("'combinations' must be a non-empty list of lists")
    parsed = []
    for combo in combos:
        if not isinstance(combo, list) or len(combo) != len(names):
            raise SchemaError(f"each combination must list {len(names)} values, one per column")
        parsed.append(tuple(_category(v, "combinations") for v in combo))
    return FixedCombinations(names, tuple(parsed))


def _determined_by(e: dict[str, Any]) -> DeterminedBy:
    _keys_of(e, {"column", "by", "mapping"})
    column, by = _name(e["column"], "column"), _name(e["by"], "by")
    if column == by:
        raise SchemaError("'column' and 'by' must be different columns")
    mapping = e["mapping"]
    if not isinstance(mapping, dict) or not mapping:
        raise SchemaError("'mapping' must be a non-empty mapping {value of by: value}")
    pairs = tuple((_category(k, "mapping"), _category(v, "mapping")) for k, v in mapping.items())
    return DeterminedBy(column, by, pairs)


def _conditional_range(e: dict[str, Any]) -> ConditionalRange:
    _keys_of(e, {"if", "then"})
    condition, then = e["if"], e["then"]
    if not isinstance(condition, dict) or set(condition) != {"column", "equals"}:
        raise SchemaError("'if' must be {column: NAME, equals: VALUE}")
    if not isinstance(then, dict) or "column" not in then or set(then) - {"column", "min", "max"}:
        raise SchemaError("'then' must be {column: NAME, min: NUMBER, max: NUMBER}")
    low, high = _bound(then.get("min"), "min"), _bound(then.get("max"), "max")
    if low is None and high is None:
        raise SchemaError("'then' needs a 'min', a 'max' or both")
    if low is not None and high is not None and low > high:
        raise SchemaError("'min' must not be larger than 'max'")
    return ConditionalRange(
        _name(condition["column"], "if.column"),
        _category(condition["equals"], "if.equals"),
        _name(then["column"], "then.column"),
        low,
        high,
    )


def _formula(e: dict[str, Any]) -> Formula:
    _keys_of(e, {"column", "expression"}, {"tolerance"})
    tolerance = e.get("tolerance", DEFAULT_TOLERANCE)
    if not is_number(tolerance) or tolerance < 0:
        raise SchemaError("'tolerance' must be a non-negative number")
    return Formula(_name(e["column"], "column"), parse_formula(e["expression"]), float(tolerance))


_PARSERS: dict[str, Callable[[dict[str, Any]], Constraint]] = {
    "inequality": _inequality,
    "fixed_combinations": _fixed_combinations,
    "determined_by": _determined_by,
    "conditional_range": _conditional_range,
    "formula": _formula,
}
