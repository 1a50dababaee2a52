"""``synthgen sample``: draw synthetic records from a trained model (no privacy cost)."""

from __future__ import annotations

from pathlib import Path

import typer

from synthgen.cli.app import app, fail, reports_errors


def parse_class_counts(text: str | None) -> dict[str, int] | None:
    """``LABEL=N,LABEL=N`` -> {"LABEL": N}. Labels are matched to the model's classes later."""
    if text is None:
        return None
    counts: dict[str, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        label, sep, n = part.rpartition("=")
        if not sep or not label.strip():
            raise fail(f"--class-counts: expected LABEL=N, got {part.strip()!r}")
        try:
            counts[label.strip()] = int(n)
        except ValueError:
            raise fail(f"--class-counts: {n.strip()!r} is not a whole number") from None
    return counts


@app.command("sample")
@reports_errors
def sample(
    model_dir: Path = typer.Argument(..., help="A model directory written by `synthgen train`."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Output file: .csv or .parquet (tables), .npz (images). In a CSV file, text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading single quote; Parquet keeps every value.",
    ),
    rows: int | None = typer.Option(
        None, "--rows", help="How many records; default: the sum of --class-counts."
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same records."),
    class_counts: str | None = typer.Option(
        None,
        "--class-counts",
        help="Records per class, e.g. `>50K=5000` or `0=300,1=300`; default: the model's DP class counts shrunk toward uniform by their noise, every class floored (docs/tabular.md).",
    ),
    guidance_scale: float | None = typer.Option(
        None, "--guidance-scale", help="Classifier-free guidance (1 = plain conditional sampling)."
    ),
    steps: int | None = typer.Option(
        None, "--steps", help="Reverse diffusion steps (default: the model's)."
    ),
    sampler: str | None = typer.Option(
        None,
        "--sampler",
        help="Image models: euler, heun, dpmpp2m (deterministic), ancestral, churn (stochastic); default: the model's.",
    ),
    candidates: int | None = typer.Option(
        None,
        "--candidates",
        help="Image models with a class critic: images drawn per image kept (the critic keeps those that show their class most clearly); 1 turns selection off; default: the model's (1).",
    ),
    critic_guidance: float | None = typer.Option(
        None,
        "--critic-guidance",
        help="Image models with a class critic: how far each denoising step moves up the critic's class gradient; 0 turns it off; default: the model's (1).",
    ),
    processes: int | None = typer.Option(
        None,
        "--processes",
        help="Tables: draw the rows on this many worker processes; the file is the same for any number.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace OUT if it exists (without it, an existing OUT is refused)."
    ),
) -> None:
    """Write synthetic records sampled from MODEL_DIR to OUT."""
    if (out.exists() or out.is_symlink()) and not force:
        raise fail(f"{out} exists already; choose another --out, or pass --force to replace it")
    if out.is_dir():
        raise fail(f"{out} is a directory; --out takes a file (.csv, .parquet or .npz)")
    from synthgen import workflows
    from synthgen.cli.progress_bar import ProgressBar
    from synthgen.requests import SampleOptions, build

    options = build(
        SampleOptions,
        rows=rows,
        seed=seed,
        class_counts=parse_class_counts(class_counts),
        guidance_scale=guidance_scale,
        steps=steps,
        sampler=sampler,
        candidates=candidates,
        critic_guidance=critic_guidance,
        processes=processes,
    )
    with ProgressBar(show_epsilon=False) as bar:
        path = workflows.sample(model_dir, options, out=out, progress=bar)
    typer.echo(f"wrote {options.rows} synthetic records to {path}")
