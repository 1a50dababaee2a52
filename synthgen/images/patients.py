"""DP-SGD over patients for images: a patient is one example of up to k images.

Poisson sampling selects patients (``PatientImageDataset`` has one item per patient), and
each sampled patient is one example laid out as ``[k, C, H, W]``, padded with copies of
their first image and a ``record_mask`` ([k]: 1 real, 0 padding). ``training_draws`` turns
a batch of b patients into ``b*k*K`` rows (image j of patient i, draw c at row
``(i*k + j)*K + c``) and a row weight that is 0 on padding and normalised so that the mean
of a patient's k*K row weights is 1. The per-example gradient (``per_example.py``, or the
hooks path with ``fold_per_example_gradients``) of the weighted rows is then the gradient
of the patient's loss averaged over their real images' draws, one row per patient, which
the optimizer clips once: a patient with 1 image and one with k images each move the
summed gradient by at most C, and the accountant's sample rate is the patients' rate.
The same argument as the tables' ``synthgen.tabular.entity_table``; the contribution
bounding and the DP statistics' weights come from ``synthgen.privacy.contribution``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from synthgen.images.data import ImageSet, to_model_range
from synthgen.images.edm import EDMConfig, TrainingDraws, draw_training_inputs


class PatientImageDataset(torch.utils.data.Dataset):
    """Images grouped by patient: ``len`` is the number of patients; a batch of b
    patients is ``(x [b, k, C, H, W], labels [b, k], record_mask [b, k])``."""

    def __init__(self, images: ImageSet, groups: list[list[int]]):
        if not groups or any(not rows for rows in groups):
            raise ValueError("every patient needs at least one image")
        self.x = to_model_range(images.images)
        self.y = torch.from_numpy(images.labels.astype(np.int64))
        # the cap actually reached (<= max_records_per_entity): less padding to compute
        self.records_per_example = max(len(rows) for rows in groups)
        k = self.records_per_example
        self.index = torch.tensor([rows + [rows[0]] * (k - len(rows)) for rows in groups])
        self.mask = torch.tensor([[1.0] * len(rows) + [0.0] * (k - len(rows)) for rows in groups])

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y, mask = self.__getitems__([i])
        return x[0], y[0], mask[0]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        rows = self.index[idx]  # [b, k]
        return self.x[rows], self.y[rows], self.mask[idx]


def training_draws(
    batch: tuple[torch.Tensor, ...],
    *,
    multiplicity: int,
    edm: EDMConfig,
    null_label: int,
    generator: torch.Generator,
    augment: str,
    device: Any,
) -> tuple[TrainingDraws, int, torch.Tensor | None]:
    """The rows of one physical batch, the number of rows per example, and the row weights
    (None for a batch of single images: every row weighs 1). ``batch`` is ``(x, y)`` from
    ``ImageTensorDataset`` or ``(x, y, record_mask)`` from ``PatientImageDataset``."""
    x, y = batch[0], batch[1]
    record_mask = batch[2] if len(batch) == 3 else None
    flat_x, flat_y = (x, y) if record_mask is None else (x.flatten(0, 1), y.flatten(0, 1))
    draws = draw_training_inputs(
        flat_x.to(device),
        flat_y.to(device),
        multiplicity=multiplicity,
        cfg=edm,
        null_label=null_label,
        generator=generator,
        augment=augment,
    )
    if record_mask is None:
        return draws, multiplicity, None
    k = record_mask.shape[1]
    # mask * k / (real images): the mean over a patient's k*K rows is 1, so averaging the
    # weighted rows averages the patient's real images' draws and ignores the padding
    per_image = record_mask * k / record_mask.sum(1, keepdim=True)
    weight = per_image.reshape(-1).repeat_interleave(multiplicity).to(device)
    return draws, k * multiplicity, weight
