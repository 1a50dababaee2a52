"""``synthgen audit``: one-run canary audit of DP-SGD, a bug detector (docs/privacy.md#empirical-audit).

Exit codes: 0 when the empirical lower bound sits at or below the claimed epsilon, 1 on a
violation (a bug to find; with ``--unit record --records-per-patient K`` for K > 1, the
expected finding that record-level DP does not protect a patient of K records), 2 on bad
input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from synthgen.cli.app import app, fail, reports_errors


@app.command("audit")
@reports_errors
def audit(
    epsilon: float = typer.Option(
        1.0,
        "--epsilon",
        help="Claimed epsilon: the noise multiplier is calibrated to it as `synthgen train` does.",
    ),
    canaries: int = typer.Option(
        1000,
        "--canaries",
        help="Gradient canaries, each included with probability 1/2 (1,000 or more: fewer cannot flag much).",
    ),
    steps: int | None = typer.Option(
        None,
        "--steps",
        help="DP-SGD steps (default: what `synthgen train` would run at this epsilon).",
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        help="Seed for the canaries' inclusion and the model (never for the privacy noise).",
    ),
    delta: float | None = typer.Option(None, "--delta", help="Delta; default min(1e-5, 1/(10 N))."),
    no_noise: bool = typer.Option(
        False,
        "--no-noise",
        help="AUDIT ONLY: switch the DP noise off to see the audit flag it. Never produces a model.",
    ),
    unit: str = typer.Option(
        "record",
        "--unit",
        help="Unit of privacy of the training under audit: record, or patient (one clipped gradient per patient).",
    ),
    records_per_patient: int = typer.Option(
        1,
        "--records-per-patient",
        help="Make each canary a patient of K near-duplicate records trained through the production sampling and clipping (1: single-record canaries; try 4 or 8 with both units).",
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="A PUBLIC table (CSV/Parquet) to audit on, with --schema; default: scikit-learn's bundled breast cancer table.",
    ),
    schema: Path | None = typer.Option(
        None, "--schema", help="Schema of --data (its bounds and categories are used as given)."
    ),
    target: str | None = typer.Option(
        None, "--target", help="Label column of --data, if the schema does not mark one."
    ),
) -> None:
    """Audit DP-SGD empirically: print a lower bound on epsilon next to the claimed one."""
    from synthgen.cli.progress_bar import ProgressBar
    from synthgen.tabular.audit import audit_tabular

    table, schema_obj, source = _public_table(data, schema, target)
    with ProgressBar(show_epsilon=False) as bar:
        report = audit_tabular(
            table,
            schema_obj,
            epsilon=epsilon,
            delta=delta,
            canaries=canaries,
            steps=steps,
            seed=seed,
            noise_scale=0.0 if no_noise else 1.0,
            unit=unit,
            records_per_patient=records_per_patient,
            progress=bar,
        )
    typer.echo(
        "one-run canary audit (Steinke, Nasr and Jagielski 2023), white-box gradient canaries"
        + (f", unit of privacy: {unit}" if report.patient_canaries else "")
    )
    typer.echo(f"data                       {source}")
    for line in report.summary():
        typer.echo(line)
    if report.violation:
        raise typer.Exit(1)


def _public_table(
    data: Path | None, schema: Path | None, target: str | None
) -> tuple[Any, Any, str]:
    from synthgen.demo import breast_cancer_schema_path, breast_cancer_table
    from synthgen.errors import SchemaError
    from synthgen.tabular.io import read_table
    from synthgen.tabular.schema import Schema

    if data is None:
        if schema is not None or target is not None:
            raise fail("--schema and --target describe --data; give --data too")
        return (
            breast_cancer_table(),
            Schema.load(breast_cancer_schema_path()),
            "breast cancer (scikit-learn, bundled)",
        )
    if schema is None:
        raise fail(
            "--data needs --schema: the audit uses the declared bounds and categories of a public table"
        )
    schema_obj = Schema.load(schema)
    if target is not None:
        schema_obj = schema_obj.with_target(target)
    if schema_obj.target is None:
        raise SchemaError(
            "no target: pass --target COLUMN or mark a column `role: label` in the schema"
        )
    return read_table(data, na_values=schema_obj.na_values), schema_obj, str(data)
