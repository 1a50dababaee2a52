"""Reading the console's form fields into the values the pipelines take."""

from __future__ import annotations

import math
from typing import Any

from pipelines.errors import InvalidRequest


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
