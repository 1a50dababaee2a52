"""``synthgen demo``: the whole path on bundled data, in one command."""

from __future__ import annotations

from pathlib import Path

import typer

from synthgen.cli.app import app, reports_errors


@app.command("demo")
@reports_errors
def demo(
    out_dir: Path = typer.Option(Path("synthgen-demo"), "--out-dir", help="Where the demo writes its files."),
) -> None:
    """Train on scikit-learn's bundled breast-cancer table at epsilon 3, sample, and print the
    certificate and a fidelity/utility summary."""
    from synthgen.cli.progress_bar import ProgressBar
    from synthgen.demo import run_tabular_demo

    with ProgressBar() as bar:
        run_tabular_demo(out_dir, echo=typer.echo, progress=bar)
