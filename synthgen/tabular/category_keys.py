"""Canonical keys of category values: how a data value is matched to a declared category
(the schema, conform, the constraints and the validation all compare these keys)."""

from __future__ import annotations

import math
from typing import Any

Category = str | int | float | bool


def category_key(value: Any) -> str:
    """Canonical text form used to match data values to declared categories: numbers
    compare as numbers ("1", "1.0" and 1 are the same category), text as stripped text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    text = str(value).strip()
    try:
        f = float(text)
    except ValueError:
        return text
    if math.isfinite(f):
        return str(int(f)) if f.is_integer() else repr(f)
    return text
