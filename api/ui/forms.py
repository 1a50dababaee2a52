"""Reading the console's form fields into the values the pipelines take."""

from __future__ import annotations

import math
from typing import Any

import yaml

from pipelines.errors import InvalidRequest

# the added-constraints box holds a few rules; the cap bounds the YAML parse
MAX_ADDED_RULES_CHARS = 20_000
MAX_DECIMALS = 12  # synthgen.tabular.schema.MAX_DECIMALS, which checks it again


def parse_rows(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) <= 10**9:
        raise InvalidRequest("rows must be a whole number from 1 to 1,000,000,000")
    return int(text)


def parse_class_counts(text: str) -> dict[str, int] | None:
    """``0=150, 1=150`` (a label and its record count, separated by commas)."""
    text = text.strip()
    if not text:
        return None
    counts: dict[str, int] = {}
    for part in text.split(","):
        label, sep, count = part.partition("=")
        if not sep or not label.strip() or not count.strip().isdigit():
            raise InvalidRequest("class counts are written LABEL=COUNT, separated by commas")
        counts[label.strip()] = int(count.strip())
    return counts


def _number(text: str, what: str) -> float | int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"{what} must be a number") from None
    if not math.isfinite(value):
        raise InvalidRequest(f"{what} must be a finite number")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _category(text: str, numeric: bool) -> str | int | float:
    if numeric:
        number = _number(text, "a category")
        if number is not None:
            return number
    return text


def columns_from_form(form: Any, count: int, drafted: list[Any]) -> list[dict[str, Any]]:
    columns = []
    for i in range(count):
        name = drafted[i].fields["name"]
        role = str(form.get(f"col-{i}-role", "feature"))
        column: dict[str, Any] = {"name": name}
        if role in ("identifier", "entity"):
            column["role"] = role
            columns.append(column)
            continue
        column["kind"] = str(form.get(f"col-{i}-kind", "categorical"))
        if role != "feature":
            column["role"] = role
        for field in ("min", "max"):
            value = _number(str(form.get(f"col-{i}-{field}", "")), f"{name} {field}")
            if value is not None:
                column[field] = value
        decimals = _decimals(str(form.get(f"col-{i}-decimals", "")), name)
        if decimals is not None:
            column["decimals"] = decimals
        categories = str(form.get(f"col-{i}-categories", "")).strip()
        if categories:
            numeric = all(
                isinstance(v, int | float) for v in drafted[i].fields.get("categories") or ["x"]
            )
            column["categories"] = [
                _category(c.strip(), numeric) for c in categories.split(",") if c.strip()
            ]
        column["nullable"] = form.get(f"col-{i}-nullable") == "on"
        columns.append(column)
    return columns


def _decimals(text: str, name: str) -> int | None:
    """Empty: estimated with DP (or none for a non-continuous column)."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_DECIMALS:
        raise InvalidRequest(f"{name} decimals must be a whole number from 0 to {MAX_DECIMALS}")
    return int(text)


def constraints_from_form(form: Any, drafted: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the constraints to declare, the drawn rules accepted with them).

    A listed rule is kept when its box is ticked; keeping one the draft found in the records
    accepts it (it becomes public). Added rules are a YAML list in the schema file's
    syntax (docs/tabular.md); their shape is checked by the schema, which names a bad one.
    """
    rules: list[dict[str, Any]] = []
    accepted: list[str] = []
    for j, rule in enumerate(drafted):
        if form.get(f"rule-{j}-keep") == "on":
            rules.append(dict(rule.fields))
            if rule.drawn:
                accepted.append(rule.drawn)
    text = str(form.get("rules-added", "")).strip()
    if not text:
        return rules, accepted
    if len(text) > MAX_ADDED_RULES_CHARS:
        raise InvalidRequest(f"the added constraints exceed {MAX_ADDED_RULES_CHARS} characters")
    try:
        added = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InvalidRequest(
            "the added constraints are not YAML: write one rule a line, such as "
            "- {type: inequality, low: a, high: b}"
        ) from None
    if isinstance(added, dict):
        added = [added]
    if not isinstance(added, list) or not all(isinstance(r, dict) for r in added):
        raise InvalidRequest("the added constraints must be a list of rules (mappings)")
    return rules + added, accepted
