"""``synthgen schema ...``: draft and check table schemas."""

from __future__ import annotations

from pathlib import Path

import typer

from synthgen.cli.app import Typer, app, reports_errors

schema_app = Typer(help="Draft and check table schemas (public metadata).", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("draft")
@reports_errors
def draft(
    data: Path = typer.Argument(..., help="The source table (CSV or Parquet)."),
    target: str | None = typer.Option(None, "--target", help="Mark this column as the label."),
) -> None:
    """Print a DRAFT schema computed from DATA, for a steward to review.

    Every bound and category list in the draft is read from the real records: the file is
    marked `draft: true` and training refuses it until you have reviewed it and set
    `draft: false`. Redirect to a file: `synthgen schema draft data.csv > schema.yaml`.
    """
    from synthgen.tabular.draft import draft_schema, draft_yaml
    from synthgen.tabular.draft_constraints import propose_constraints
    from synthgen.tabular.io import read_table
    from synthgen.tabular.schema import DEFAULT_NA_VALUES

    df = read_table(data, na_values=DEFAULT_NA_VALUES)
    schema = draft_schema(df, target=target, name=data.stem)
    proposals = propose_constraints(df, schema)
    typer.echo(draft_yaml(schema, source=data.name, proposals=proposals), nl=False)


@schema_app.command("check")
@reports_errors
def check(
    data: Path = typer.Argument(..., help="The table to check."),
    schema_path: Path = typer.Option(..., "--schema", help="The schema (YAML or JSON)."),
) -> None:
    """Check DATA against a schema; list every problem (no values are printed)."""
    from synthgen.tabular.conform import conform
    from synthgen.tabular.constraints import ConstraintSet
    from synthgen.tabular.io import read_table
    from synthgen.tabular.schema import Schema

    schema = Schema.load(schema_path)
    df = read_table(data, na_values=schema.na_values)
    conformed = conform(df, schema)
    typer.echo(f"{data}: {len(df)} rows match {schema_path}")
    constraints = ConstraintSet.of(schema.constraints, schema.columns)
    for rule, broken in constraints.broken_by_each(conformed).items():
        if broken.any():  # the steward's own terminal: counts of their data are fine here
            typer.echo(f"{int(broken.sum())} rows break {rule} (dropped before training)")
