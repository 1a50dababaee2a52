"""``synthgen validate``: check a synthetic table (or, for an image model, an .npz of
synthetic images) against its model's real splits and write the auditor's report (HTML,
PDF, JSON).

It prints the verdict, one line per check that warned or failed, and what to do. Without
Chromium the PDF is skipped with a ``warning:`` line on stderr (HTML and JSON are written).
Exit codes: 0 when the verdict is pass or warn, 1 when it is fail (the report is written
either way), 2 on bad input (one ``error:`` line on stderr, nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from synthgen.cli.app import app, fail, reports_errors

if TYPE_CHECKING:
    from synthgen.evaluate.result import ValidationResult

EXIT_VERDICT_FAIL = 1


def echo_bottom_line(result: ValidationResult) -> None:
    """The checks that failed or warned, one line each, and what to do (``demo`` too)."""
    from synthgen.evaluate.bottom_line import action_sentence, attention_lines

    if not result.private:
        typer.echo("NOT PRIVATE: the model was trained without differential privacy")
    for line in attention_lines(result):
        typer.echo(f"  {line}")
    typer.echo(f"what to do: {action_sentence(result)}")


@app.command("validate")
@reports_errors
def validate(
    model_dir: Path = typer.Argument(..., help="A model directory written by `synthgen train`."),
    synthetic: Path = typer.Option(
        ...,
        "--synthetic",
        help="The synthetic data to validate: a table (.csv or .parquet), or the .npz of an image model.",
    ),
    report_dir: Path = typer.Option(
        ..., "--report-dir", help="Where to write report.html, report.pdf and report.json."
    ),
    policy: Path | None = typer.Option(
        None, "--policy", help="Release policy (YAML) over the default thresholds."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the validation's own sampling and models."),
    private_dir: Path | None = typer.Option(
        None,
        "--private-dir",
        help="The run's private directory, if training was given one (default MODEL_DIR.private).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a REPORT_DIR that already holds files (without it, a non-empty one is refused).",
    ),
) -> None:
    """Validate SYNTHETIC against MODEL_DIR's real train/holdout split and write a report.

    Tables and images alike: the model's config.json says which it is.

    The report contains statistics computed on real data: it is for the data steward and
    auditors only. The real split is read from the run's private directory (MODEL_DIR.private,
    or --private-dir); validation stops with an error if it is gone or belongs to another run.
    """
    from synthgen.extras import require_extra

    require_extra("report", feature="synthgen validate")
    if report_dir.is_dir() and any(report_dir.iterdir()) and not force:
        raise fail(
            f"{report_dir} holds files already; choose another --report-dir, or pass --force to overwrite"
        )
    from reports.validation import validate_release

    result = validate_release(
        model_dir,
        synthetic,
        report_dir=report_dir,
        policy_path=policy,
        seed=seed,
        private_dir=private_dir,
        warn=lambda message: typer.echo(f"warning: {message}", err=True),
    )
    counts = {s: sum(c.status == s for c in result.checks) for s in ("pass", "warn", "fail")}
    typer.echo(
        f"verdict: {result.verdict.upper()} ({counts['pass']} pass, {counts['warn']} warn, "
        f"{counts['fail']} fail)"
    )
    echo_bottom_line(result)
    pdf = ", report.pdf" if (report_dir / "report.pdf").exists() else ""
    typer.echo(f"wrote {report_dir / 'report.html'}{pdf} and report.json")
    typer.echo("the report holds statistics on real data: for the steward and auditors only")
    if result.verdict == "fail":
        raise typer.Exit(EXIT_VERDICT_FAIL)
