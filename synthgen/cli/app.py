"""The typer application and how every command reports errors.

Library errors (``SynthgenError``) become one readable line on stderr and exit code 2;
anything else is a bug and keeps its traceback. Command modules register themselves on
import; heavy libraries are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from synthgen.runtime import configure_threads

# OMP_WAIT_POLICY=PASSIVE before torch loads (synthgen.runtime): the library applies it too
configure_threads()

app = typer.Typer(
    name="synthgen",
    help=(
        "Differentially private synthetic data for medical tables and images.\n\n"
        "Typical use: `synthgen schema draft data.csv > schema.yaml` (then review it), "
        "`synthgen train data.csv --target outcome --schema schema.yaml --epsilon 3 --out model`, "
        "`synthgen sample model --rows 10000 --out synthetic.csv`. "
        "`synthgen demo` runs the whole path on bundled data."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    first_line = " ".join(str(message).split("\n")[0].split())
    typer.echo(f"error: {first_line}", err=True)
    return typer.Exit(code)


def reports_errors(func: F) -> F:
    """Turn library errors into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from synthgen.errors import SchemaMismatch, SynthgenError

        try:
            return func(*args, **kwargs)
        except SchemaMismatch as exc:
            head = str(exc).split("\n")[0].rstrip(":")
            detail = "; ".join(exc.problems) if exc.problems else ""
            raise fail(f"{head}: {detail}" if detail else head) from None
        except SynthgenError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
