"""Training examples that are patients: each patient's records, padded and masked.

DP-SGD over patients (``synthgen.privacy.contribution``): Poisson sampling selects
patients, and each patient is ONE example of the ``[B, K, ...]`` layout that Opacus' ghost
clipping sees (``synthgen/privacy/dp_sgd.py``). A patient's up to k records become the
record axis ``[B, k, ...]``; ``MixedDiffusion.per_example_loss`` repeats each record K times
into ``[B, k*K, ...]`` and averages the loss over the real records' draws only, so the
gradient is computed from all of the patient's records and clipped once: one patient moves
the summed gradient by at most C. Padding slots hold a copy of the patient's first record
(finite values) with ``record_mask`` 0: their loss weight is zero, and so is their
gradient.

The fields of a patient are whatever the record dataset yields for each of its records,
reshaped to ``[B, k, ...]``: a record dataset with an extra per-record field (the canary
audit's patient ids, ``synthgen.tabular.audit``) keeps it through the patient layout.
"""

from __future__ import annotations

import torch

from synthgen.tabular.encoder import EncodedTable


class EntityTable:
    """``EncodedTable`` rows grouped by patient: ``len`` is the number of patients."""

    def __init__(self, records: EncodedTable, groups: list[list[int]]):
        if not groups or any(not rows for rows in groups):
            raise ValueError("every patient needs at least one record")
        self.records = records
        self.max_records = max(len(rows) for rows in groups)
        index = torch.tensor([rows + [rows[0]] * (self.max_records - len(rows)) for rows in groups])
        self.index = index  # [patients, k] record rows, padded with the first record
        self.mask = torch.tensor(
            [[1.0] * len(rows) + [0.0] * (self.max_records - len(rows)) for rows in groups]
        )

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        rows = self.index[idx]  # [B, k]
        flat = self.records.__getitems__(rows.reshape(-1).tolist())
        batch = {name: value.view(*rows.shape, *value.shape[1:]) for name, value in flat.items()}
        batch["record_mask"] = self.mask[idx]
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])
