"""Patient-level privacy for tables: contribution bounding and per-patient weights.

When a steward declares an entity column (a patient id), the unit of privacy becomes the
patient: neighbouring datasets differ by adding or removing one patient *with all their
records*. Every mechanism of the run must then bound what one patient changes:

- **Contribution bounding**: at most ``max_records`` records per patient are kept. Which
  ones is chosen by a keyed hash of (seed, patient, the record's position among that
  patient's records): independent of the values, of the other patients and of their
  number, so adding or removing one patient never changes which records of another are
  kept (the neighbouring test relies on it). The number of dropped records is never
  shipped (it stays in the private provenance).
- **DP-SGD** samples patients (``synthgen.tabular.entity_table``): one patient is one
  example, its records are the sequence axis of the ``[B, k*K, ...]`` layout, and its
  gradient is clipped once.
- **DP statistics** weight each record by ``1 / n_i`` (``n_i``: the patient's kept
  records), so one patient adds a vector of L1 norm exactly 1 to each histogram, and so an
  L2 norm of at most 1: the same sensitivity as one record of a record-level run, whatever
  ``max_records`` is. A patient whose records carry different labels splits that weight
  between the classes.

So the cap does not enter the guarantee; it bounds the compute per patient (each patient is
padded to ``max_records * K`` diffusion draws) and how far one patient's records can pull
their averaged gradient away from a single record's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from synthgen.errors import PrivacyParameterError

# Why 8: compute per DP-SGD step grows linearly with the cap (each sampled patient is padded
# to cap * K draws), while a patient's clipped gradient is an average over their records,
# so records beyond a handful add little signal. 8 keeps every record of typical visit
# tables (parkinsons_voice: 6-7 recordings per person) at 8x the record-level compute.
DEFAULT_MAX_RECORDS_PER_ENTITY = 8


def _key(seed: int, purpose: str) -> bytes:
    return hashlib.sha256(f"synthgen-{purpose}-{int(seed)}".encode()).digest()[:32]


def group_records(entity_keys: Sequence[bytes]) -> list[list[int]]:
    """Row indices of each patient, patients in order of first appearance."""
    groups: dict[bytes, list[int]] = {}
    for i, key in enumerate(entity_keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def bound_contributions(entity_keys: Sequence[bytes], *, max_records: int, seed: int) -> np.ndarray:
    """A keep mask with at most ``max_records`` True per patient, chosen at random: each
    record's rank is a keyed hash of (seed, patient, its position among the patient's
    records), never of its values."""
    if max_records < 1:
        raise PrivacyParameterError(f"max_records_per_entity must be at least 1, got {max_records}")
    key = _key(seed, "contribution")
    keep = np.zeros(len(entity_keys), dtype=bool)
    for rows in group_records(entity_keys):
        if len(rows) <= max_records:
            keep[rows] = True
            continue
        entity = entity_keys[rows[0]]
        ranks = [
            hashlib.blake2b(entity + b"\x1f" + str(j).encode(), digest_size=8, key=key).digest()
            for j in range(len(rows))
        ]
        chosen = sorted(range(len(rows)), key=ranks.__getitem__)[:max_records]
        keep[[rows[j] for j in chosen]] = True
    return keep


def record_weights(entity_keys: Sequence[bytes]) -> np.ndarray:
    """1 / (the patient's number of records) for each record: one patient's records add
    up to weight 1 in every histogram (sensitivity 1 per histogram, as one record)."""
    weights = np.zeros(len(entity_keys), dtype=np.float64)
    for rows in group_records(entity_keys):
        weights[rows] = 1.0 / len(rows)
    return weights
