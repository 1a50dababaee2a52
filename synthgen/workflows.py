"""Train a model, sample from one: the CLI's and the workers' entry points. The request's
modality, or the model's recorded one, picks the adapter in ``synthgen.modalities``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.modalities import modality, model_modality
from synthgen.progress import ProgressCallback, StopCheck, ignore_progress
from synthgen.requests import SampleOptions, TrainRequest
from synthgen.runtime import compute_threads


def train(
    request: TrainRequest,
    *,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> Any:
    """Train a DP model as ``request`` says; returns the ``TrainingResult``."""
    with compute_threads():  # before the trainer imports torch (synthgen.runtime)
        return modality(request.kind).train(
            request, progress=progress or ignore_progress, should_stop=should_stop
        )


def sample(
    model_dir: str | Path,
    options: SampleOptions,
    *,
    out: str | Path,
    progress: ProgressCallback | None = None,
) -> Path:
    """Sample from a trained model (post-processing: no privacy budget is spent)."""
    name = model_modality(model_dir)
    options.check_modality(name)
    with compute_threads():
        return modality(name).sample(
            Path(model_dir), options, out=Path(out), progress=progress or ignore_progress
        )
