"""``synthgen demo``: the whole path on bundled data, in one command.

The CLI is the composition root: like ``validate``, it may import ``reports`` (lazily,
inside the command) to finish either demo, tables or images, with the auditor's report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from synthgen.cli.app import app, reports_errors
from synthgen.cli.validate import echo_bottom_line

if TYPE_CHECKING:
    from synthgen.evaluate.result import ValidationResult


@app.command("demo")
@reports_errors
def demo(
    out_dir: Path = typer.Option(
        Path("synthgen-demo"), "--out-dir", help="Where the demo writes its files."
    ),
    images: bool = typer.Option(
        False, "--images", help="Run the image path on BreastMNIST instead of the table."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="With --images: a breastmnist.npz to use instead of the cache or a download.",
    ),
    minutes: float | None = typer.Option(
        None,
        "--minutes",
        min=0.5,
        help="With --images: minutes of training (default 12; shorter gives weaker images).",
    ),
) -> None:
    """Train on bundled data, sample, then validate and write the report with its verdict.

    Tables (default): scikit-learn's Breast Cancer Wisconsin table at epsilon 3.
    Images (--images): BreastMNIST at epsilon 10.
    """
    from synthgen.extras import require_extra

    # the demo ends with the report: fail before training, not after, without its extra
    require_extra("report", feature="synthgen demo")
    from reports.validation import validate_release
    from synthgen.cli.progress_bar import ProgressBar

    with ProgressBar() as bar:
        if images:
            from synthgen.images.demo import run_image_demo

            timing = {} if minutes is None else {"train_minutes": minutes}
            outcome = run_image_demo(data, out_dir, progress=bar, echo=bar.echo, **timing)
        else:
            from synthgen.demo import run_tabular_demo

            outcome = run_tabular_demo(out_dir, echo=bar.echo, progress=bar)
        result = validate_release(
            outcome["model_dir"],
            outcome["synthetic"],
            report_dir=out_dir / "report",
            progress=bar,
            private_dir=outcome["private_dir"],
            warn=lambda message: typer.echo(f"warning: {message}", err=True),
        )
    typer.echo(
        "fidelity/utility (measured on real data; for the steward only): "
        + (_image_summary(result) if images else _table_summary(result))
    )
    typer.echo(f"report: {out_dir / 'report' / 'report.html'} (verdict: {result.verdict})")
    echo_bottom_line(result)


def _table_summary(result: ValidationResult) -> str:
    shapes = result.metric("column_shape_similarity").value
    tstr = result.metric("tstr_auc_ratio").value
    return (
        f"column shape similarity {shapes:.3f} (1 = identical), "
        f"train-on-synthetic / train-on-real ROC AUC {tstr:.3f}"
    )


def _image_summary(result: ValidationResult) -> str:
    tstr = result.metric("image_tstr_auc_ratio")
    auc = {row["trained_on"]: row["roc_auc"] for row in tstr.details.get("rows", [])}
    utility = (
        f"a CNN trained on synthetic images: ROC AUC {auc['synthetic']:.3f} on the real "
        f"{tstr.details['tested_on']} split, the same CNN on real images {auc['real']:.3f}"
        if auc
        else f"utility not measured ({tstr.note})"
    )
    ratio = result.metric("image_nn_distance_ratio").value
    nearest = "n/a" if ratio is None else f"{ratio:.3f}"
    return f"{utility}; nearest-training-image distance, synthetic / holdout {nearest} (about 1 without memorisation)"
