"""``synthgen demo``: the whole path on bundled data, in one command.

The CLI is the composition root: like ``validate``, it may import ``reports`` (lazily,
inside the command) to finish the demo with the auditor's report.
"""

from __future__ import annotations

from pathlib import Path

import typer

from synthgen.cli.app import app, reports_errors


@app.command("demo")
@reports_errors
def demo(
    out_dir: Path = typer.Option(Path("synthgen-demo"), "--out-dir", help="Where the demo writes its files."),
    images: bool = typer.Option(False, "--images", help="Run the image path on BreastMNIST instead of the table."),
    data: Path | None = typer.Option(None, "--data", help="With --images: a breastmnist.npz to use instead of the cache or a download."),
) -> None:
    """Train on bundled data, sample, print the certificate, then validate and write the report.

    Tables (default): scikit-learn's Breast Cancer Wisconsin table at epsilon 3.
    Images (--images): BreastMNIST at epsilon 10.
    """
    from synthgen.cli.progress_bar import ProgressBar

    if images:
        from synthgen.images.demo import run_image_demo

        with ProgressBar() as bar:
            run_image_demo(data, out_dir, progress=bar, echo=typer.echo)
        return

    from reports.validation import validate_release
    from synthgen.demo import run_tabular_demo

    with ProgressBar() as bar:
        outcome = run_tabular_demo(out_dir, echo=typer.echo, progress=bar)
        result = validate_release(outcome["model_dir"], outcome["synthetic"], report_dir=out_dir / "report", progress=bar,
                                 private_dir=outcome["private_dir"])
    shapes = result.metric("column_shape_similarity").value
    tstr = result.metric("tstr_auc_ratio").value
    typer.echo(
        "fidelity/utility (measured on real data; for the steward only): "
        f"column shape similarity {shapes:.3f} (1 = identical), "
        f"train-on-synthetic / train-on-real ROC AUC {tstr:.3f}"
    )
    typer.echo(f"report: {out_dir / 'report' / 'report.html'} (verdict: {result.verdict})")
