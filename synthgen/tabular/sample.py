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
    spreadsheet_safe: bool = True,
) -> Path:
    """Write ``rows`` synthetic rows to ``out`` (.csv or .parquet) in bounded memory.

    The file appears only when complete. No privacy budget is spent. In a CSV file, text a
    spreadsheet would run as a formula ("=cmd|...") gets a leading single quote unless
    ``spreadsheet_safe`` is False (``synthgen.tabular.io.neutralise_formula``); numbers
    and Parquet files keep their values.
    """
    out = Path(out)
    table_format(out)  # reject unsupported outputs before loading anything
    model = TabularModel.load(model_dir)
    chunks = model.sample_chunks(
        rows, seed=seed, class_counts=class_counts, guidance_scale=guidance_scale, steps=steps,
        progress=progress or ignore_progress,
    )
    with TableWriter(out, spreadsheet_safe=spreadsheet_safe) as writer:
        for chunk in chunks:
            writer.write(chunk)
    return out
