"""``sample_tabular``: stream synthetic rows from a model directory to CSV or Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.progress import ProgressCallback, ignore_progress
from synthgen.tabular.io import TableWriter, table_format
from synthgen.tabular.model import TabularModel


def sample_tabular(
    model_dir: str | Path,
    *,
    rows: int,
    out: str | Path,
    seed: int = 0,
    class_counts: dict[Any, int] | None = None,
    guidance_scale: float | None = None,
    steps: int | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write ``rows`` synthetic rows to ``out`` (.csv or .parquet) in bounded memory.

    The file appears only when complete. No privacy budget is spent.
    """
    out = Path(out)
    table_format(out)  # reject unsupported outputs before loading anything
    model = TabularModel.load(model_dir)
    chunks = model.sample_chunks(
        rows, seed=seed, class_counts=class_counts, guidance_scale=guidance_scale, steps=steps,
        progress=progress or ignore_progress,
    )
    with TableWriter(out) as writer:
        for chunk in chunks:
            writer.write(chunk)
    return out
