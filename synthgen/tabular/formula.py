"""A safe arithmetic expression over column names, for the schema's `formula` constraint.

A schema may come from someone the process should not trust, so a formula is never handed
to ``eval`` or ``pandas.eval``: this module tokenises and parses it itself and accepts only
numbers, column names, ``+ - * /``, unary minus and parentheses. Anything else (a function
call, an attribute, a comparison, ``**``) is a ``SchemaError``. The length and the nesting
depth are capped, so parsing is bounded in time and stack.

Column names are plain identifiers (``bmi``, ``total_cost``) or, for names with other
characters, quoted in backticks (```education-num` + 1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthgen.errors import SchemaError

MAX_FORMULA_CHARS = 500
MAX_FORMULA_DEPTH = 32

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|`(?P<quoted>[^`]+)`"
    r"|(?P<op>[-+*/()]))"
)


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Negate:
    operand: Expression


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expression
    right: Expression


Expression = Number | Column | Negate | Binary


def parse_formula(text: str) -> Expression:
    """Parse ``text``; raises SchemaError with a one-line reason."""
    if not isinstance(text, str) or not text.strip():
        raise SchemaError("a formula must be a non-empty string")
    if len(text) > MAX_FORMULA_CHARS:
        raise SchemaError(f"a formula is longer than {MAX_FORMULA_CHARS} characters")
    tokens = _tokenise(text)
    parser = _Parser(tokens)
    expression = parser.expression(0)
    if parser.position != len(tokens):
        raise SchemaError(f"formula {text!r}: unexpected {tokens[parser.position][1]!r}")
    return expression


def formula_columns(expression: Expression) -> set[str]:
    """The column names an expression reads."""
    if isinstance(expression, Column):
        return {expression.name}
    if isinstance(expression, Negate):
        return formula_columns(expression.operand)
    if isinstance(expression, Binary):
        return formula_columns(expression.left) | formula_columns(expression.right)
    return set()


def evaluate_formula(expression: Expression, df: pd.DataFrame) -> np.ndarray:
    """float64 values of the expression on each row of ``df`` (NaN where an input is null;
    a division by zero gives inf or NaN, which callers treat as a broken row)."""
    if isinstance(expression, Number):
        return np.full(len(df), expression.value)
    if isinstance(expression, Column):
        return pd.to_numeric(df[expression.name], errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
    if isinstance(expression, Negate):
        return -evaluate_formula(expression.operand, df)
    left = evaluate_formula(expression.left, df)
    right = evaluate_formula(expression.right, df)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if expression.op == "+":
            return left + right
        if expression.op == "-":
            return left - right
        if expression.op == "*":
            return left * right
        return left / right


def formula_text(expression: Expression) -> str:
    """The expression written back (fully parenthesised, names in backticks when needed)."""
    if isinstance(expression, Number):
        v = expression.value
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
    if isinstance(expression, Column):
        name = expression.name
        return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"`{name}`"
    if isinstance(expression, Negate):
        return f"-{formula_text(expression.operand)}"
    return f"({formula_text(expression.left)} {expression.op} {formula_text(expression.right)})"


def _tokenise(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            bad = text[position:].lstrip()[:1]
            raise SchemaError(
                f"formula {text!r}: {bad!r} is not allowed (only numbers, column names, "
                "+ - * / and parentheses)"
            )
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: expression = term {(+|-) term}; term = factor {(*|/) factor};
    factor = (+|-) factor | number | name | ( expression )."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise SchemaError("a formula ends too early")
        self.position += 1
        return token

    def expression(self, depth: int) -> Expression:
        node = self.term(depth)
        while (token := self._peek()) is not None and token[1] in ("+", "-"):
            self.position += 1
            node = Binary(token[1], node, self.term(depth))
        return node

    def term(self, depth: int) -> Expression:
        node = self.factor(depth)
        while (token := self._peek()) is not None and token[1] in ("*", "/"):
            self.position += 1
            node = Binary(token[1], node, self.factor(depth))
        return node

    def factor(self, depth: int) -> Expression:
        if depth > MAX_FORMULA_DEPTH:
            raise SchemaError(f"a formula is nested more than {MAX_FORMULA_DEPTH} levels")
        kind, value = self._take()
        if kind == "number":
            return Number(float(value))
        if kind in ("name", "quoted"):
            return Column(value)
        if value in ("+", "-"):
            operand = self.factor(depth + 1)
            return Negate(operand) if value == "-" else operand
        if value == "(":
            inner = self.expression(depth + 1)
            if self._take()[1] != ")":
                raise SchemaError("a formula has an unclosed parenthesis")
            return inner
        raise SchemaError(f"a formula has {value!r} where a number or a column was expected")
