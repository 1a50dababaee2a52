"""``sample_tabular``: stream synthetic rows from a model directory to CSV or Parquet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from synthgen.progress import ProgressCallback, ignore_progress
from synthgen.requests import SampleOptions
from synthgen.tabular.io import TableWriter, table_format
from synthgen.tabular.model import TabularModel
from synthgen.tabular.parallel_sample import sample_chunks_in_processes


def sample_tabular(
    model_dir: str | Path,
    options: SampleOptions,
    *,
    out: str | Path,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write ``options.rows`` synthetic rows to ``out`` (.csv or .parquet) in bounded memory.

    The file appears only when complete. No privacy budget is spent. In a CSV file, text a
    spreadsheet would run as a formula ("=cmd|...") gets a leading single quote unless
    ``options.spreadsheet_safe`` is False (``synthgen.tabular.io.neutralise_formula``);
    numbers and Parquet files keep their values.
    """
    out = Path(out)
    table_format(out)  # reject unsupported outputs before loading anything
    model = TabularModel.load(model_dir)
    assert options.rows is not None  # the options fill it in from class_counts
    progress = progress or ignore_progress
    plan = model.plan(
        options.rows,
        seed=options.seed,
        class_counts=options.class_counts,
        guidance_scale=options.guidance_scale,
        steps=options.steps,
    )
    chunks: Iterator[pd.DataFrame]
    if (options.processes or 1) > 1:  # the same rows, drawn by worker processes
        chunks = sample_chunks_in_processes(
            Path(model_dir), plan, processes=options.processes or 1, progress=progress
        )
    else:
        chunks = model.sample_chunks(plan, progress=progress)
    with TableWriter(out, spreadsheet_safe=options.spreadsheet_safe) as writer:
        for chunk in chunks:
            writer.write(chunk)
    return out
