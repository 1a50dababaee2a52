"""The training side of the whole-patient canary audit (``synthgen.tabular.audit``).

The canary patients of ``synthgen.privacy.audit.PatientCanaries`` are training data: their
records join the table's, each carrying its canary id in a ``canary`` field, and the
production loader, clipping and noise see them like any other example. Two small wrappers
put the canaries' layer inside the module that Opacus clips and add its term to the
production per-example loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from synthgen.privacy.audit import PatientCanaries
from synthgen.tabular.encoder import EncodedTable
from synthgen.tabular.entity_table import EntityTable


@dataclass
class CanaryRecords(EncodedTable):
    """The training records plus the included canaries' records, each with its canary id."""

    canary: torch.Tensor  # [N] long: the canary patient of each record, -1 for the table's

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        batch = super().__getitems__(indices)
        batch["canary"] = self.canary[torch.as_tensor(indices, dtype=torch.long)]
        return batch


def training_data(
    table: EncodedTable, canaries: PatientCanaries, *, unit: str, seed: int
) -> CanaryRecords | EntityTable:
    """The training data with each included canary patient's k records: k copies of a
    table row picked by the auditor's seed (near-duplicates, the worst case). Patient-level:
    an ``EntityTable`` where each table row is a patient of one record; record-level: the
    records themselves, each its own example."""
    n, k = len(table), canaries.records_per_patient
    included = np.flatnonzero(canaries.included)
    source_rows = np.random.default_rng(np.random.SeedSequence([seed, 0xD0C])).integers(
        0, n, size=canaries.count
    )
    rows = torch.as_tensor(
        np.concatenate([np.arange(n), np.repeat(source_rows[included], k)]), dtype=torch.long
    )
    ids = np.concatenate([np.full(n, -1), np.repeat(included, k)])
    records = CanaryRecords(
        labels=table.labels[rows],
        numeric_cells=table.numeric_cells[rows],
        numeric_low=table.numeric_low[rows],
        numeric_high=table.numeric_high[rows],
        categories=table.categories[rows],
        canary=torch.as_tensor(ids, dtype=torch.long),
    )
    if unit == "record":
        return records
    groups = [[i] for i in range(n)] + [
        list(range(n + t * k, n + (t + 1) * k)) for t in range(len(included))
    ]
    return EntityTable(records, groups)


class WithCanaryLayer(nn.Module):
    """The denoiser plus the canaries' layer, so that Opacus clips both together: a canary
    example's gradient is clipped with (and dominates) its denoiser gradient."""

    def __init__(self, denoiser: nn.Module, layer: nn.Module):
        super().__init__()
        self.denoiser = denoiser
        self.canary = layer

    @property
    def null_label(self) -> int:
        return int(cast(Any, self.denoiser).null_label)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.denoiser(*inputs))


class LossWithCanaries:
    """The production per-example loss plus each example's canary term."""

    def __init__(self, diffusion: Any, canaries: PatientCanaries):
        self.diffusion = diffusion
        self.canaries = canaries

    def per_example_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], **options: Any
    ) -> torch.Tensor:
        losses = self.diffusion.per_example_loss(model, batch, **options)
        return cast(torch.Tensor, losses + self.canaries.loss(batch))
