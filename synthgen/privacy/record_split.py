"""The train/holdout split, one record at a time.

The guarantee is stated for add/remove of one record of the *source*. A split that
shuffles all records with the seed (a permutation per class, then the first k) lets one
added record move many others between train and holdout, so the training sets of two
neighbouring sources can differ in many records and DP on the training set would not carry
over to the source. Here each record's side depends only on that record's content and the
seed (a keyed hash, compared with the holdout fraction): adding or removing a record never
moves another one. The split is still reproducible from the seed; class shares are kept in
expectation rather than by per-class rounding (which would again couple the records).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from synthgen.errors import PrivacyParameterError


def holdout_mask(record_keys: Iterable[bytes], *, fraction: float, seed: int) -> np.ndarray:
    """True for the records that go to the holdout: hash(seed, record) < ``fraction``."""
    if not 0 <= fraction < 1:
        raise PrivacyParameterError(f"holdout fraction must be in [0, 1), got {fraction}")
    key = hashlib.sha256(f"synthgen-split-{int(seed)}".encode()).digest()[:32]
    draws = [
        int.from_bytes(hashlib.blake2b(record, digest_size=8, key=key).digest(), "big") / 2.0**64
        for record in record_keys
    ]
    return np.asarray(draws, dtype=np.float64) < fraction
