"""The typer application and how every command reports errors.

Library errors (``SynthgenError``) become one readable line on stderr and exit code 2;
anything else is a bug and keeps its traceback. Command modules register themselves on
import; heavy libraries are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
import typer.core

from synthgen.runtime import configure_threads

F = TypeVar("F", bound=Callable[..., Any])

# OMP_WAIT_POLICY=PASSIVE before torch loads (synthgen.runtime): the library applies it too
configure_threads()


def _blank_flag_types(params: list[Any]) -> list[Any]:
    """Flags (``--resume``) take no value: show no ``<bool>`` type for them in ``--help``."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _blank_flag_types(super().get_params(ctx))


class Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _blank_flag_types(super().get_params(ctx))


class Typer(typer.Typer):
    """``typer.Typer`` whose commands and groups are the classes above."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


def _print_version(value: bool) -> None:
    if value:
        from synthgen import __version__

        typer.echo(f"synthgen {__version__}")
        raise typer.Exit()


app = Typer(
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


@app.callback()
def main_options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Print the version with --version; the commands do the work."""


def fail(message: str, code: int = 2) -> typer.Exit:
    first_line = " ".join(str(message).split("\n")[0].split())
    typer.echo(f"error: {first_line}", err=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr."""
    from synthgen.cli.progress_bar import echo

    first_line = " ".join(str(message).split("\n")[0].split())
    echo(f"warning: {first_line}", err=True)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Python warnings (the library's and its dependencies') as ``warning:`` lines, without
    the category and the source line."""
    warn(str(message))


def reports_errors(func: F) -> F:
    """Turn library errors into one line on stderr and a non-zero exit; print Python
    warnings as ``warning:`` lines; a package of a missing extra says which to install."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from synthgen.errors import SchemaMismatch, SynthgenError
        from synthgen.extras import missing_extra

        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return func(*args, **kwargs)
        except SchemaMismatch as exc:
            head = str(exc).split("\n")[0].rstrip(":")
            detail = "; ".join(exc.problems) if exc.problems else ""
            raise fail(f"{head}: {detail}" if detail else head) from None
        except SynthgenError as exc:
            raise fail(str(exc)) from None
        except ModuleNotFoundError as exc:
            error = missing_extra(f"synthgen {func.__name__.replace('_', ' ')}", exc)
            if error is None:
                raise
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
