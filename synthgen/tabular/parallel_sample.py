"""Sampling on several processes: the same rows as one process, in the same order.

Sampling is post-processing of the DP model, and each chunk of rows is drawn from its own
generator seeded by (seed, chunk index) (``TabularModel.draw_rows``), so chunks are
independent: worker processes draw them, each with the model loaded once from the model
directory (nothing else is read), and the parent writes them in chunk order. At most two
chunks per worker wait in memory, so memory stays bounded whatever the row count.
Workers run one torch thread each, as the one-process path does under
``compute_threads`` on a shared machine; a chunk's rows do not depend on the thread count
(checked by tests/tabular/test_parallel_sample.py).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from synthgen.progress import ProgressCallback, ProgressEvent
from synthgen.tabular.constraint_redraw import RedrawTally
from synthgen.tabular.model import SamplingPlan, TabularModel

CHUNKS_IN_FLIGHT_PER_PROCESS = 2
_model: TabularModel | None = None  # a worker's model, loaded by ``_load_model``


def _load_model(model_dir: str) -> None:
    import torch

    global _model
    torch.set_num_threads(1)
    _model = TabularModel.load(model_dir)


def _draw(
    chunk: int, labels: np.ndarray, seed: int, guidance_scale: float, steps: int
) -> tuple[pd.DataFrame, RedrawTally]:
    assert _model is not None, "the worker's initializer loads the model"
    tally = RedrawTally()  # the chunk's constraint redraws, added up by the parent
    frame = _model.draw_rows(
        chunk, labels, seed=seed, guidance_scale=guidance_scale, steps=steps, tally=tally
    )
    return frame, tally


def sample_chunks_in_processes(
    model_dir: Path, plan: SamplingPlan, *, processes: int, progress: ProgressCallback
) -> Iterator[pd.DataFrame]:
    """The chunks of ``plan`` in order, drawn by ``processes`` worker processes."""
    rows = len(plan.labels)
    tally = RedrawTally()
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_load_model, initargs=(str(model_dir),)
    ) as pool:

        def submit(chunk: int) -> Future[tuple[pd.DataFrame, RedrawTally]]:
            return pool.submit(
                _draw,
                chunk,
                plan.chunk_labels(chunk),
                plan.seed,
                plan.guidance_scale,
                plan.steps,
            )

        waiting = iter(range(plan.chunks))
        in_flight = deque(
            submit(c) for c in islice(waiting, CHUNKS_IN_FLIGHT_PER_PROCESS * processes)
        )
        progress(ProgressEvent("sample", 0, rows))
        chunk = 0
        while in_flight:
            frame, drawn = in_flight.popleft().result()
            tally.add(drawn)
            following = next(waiting, None)
            if following is not None:
                in_flight.append(submit(following))
            yield frame
            note = f"redrew {tally.redraw_rate:.1%} of rows for constraints" if tally.rows else ""
            progress(ProgressEvent("sample", plan.rows_done(chunk), rows, message=note))
            chunk += 1
