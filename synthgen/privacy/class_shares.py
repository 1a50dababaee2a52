"""Class shares for sampling: every class the model knows gets rows.

The class counts a model stores are DP counts: the true count plus Gaussian noise of
standard deviation ``cell_noise_std``, clipped at zero. On a small table at a small budget
the noise is as large as the classes themselves (heart disease, 152 training rows,
epsilon 1: about 150 per count), so a real class of a few dozen records is often clipped to
zero, and sampling "as the proportions" would never draw it: a release without one of its
declared classes, useless to every model trained on it.

``sampling_shares`` post-processes the DP counts (free: it reads nothing but them and the
public noise level):

1. *Shrinkage toward uniform*, weighted by how much of the counts is noise:
   ``w = m / (m + total)`` with ``m = cell_noise_std * sqrt(K)`` the expected noise mass
   over the K counts (the same noise share that shrinks small classes' histograms toward
   the pooled one in ``preprocess``). A noise-dominated histogram says little about the
   class balance, so its shares move toward 1/K; exact or nearly exact counts of a large
   table (``w`` near 0) are kept as they are.
2. *A floor*: every class gets at least ``min(FLOOR_SHARE, 1 / (2K))`` of the rows, so that
   even exact counts (epsilon infinity, or a class of zero records under a tiny noise)
   never drop a class the schema declares or DP selection kept.

``rows_per_class`` turns shares into whole rows by largest remainder and then gives each
class at least one row (taken from the largest) whenever there are at least K rows.
``--class-counts`` bypasses both: the caller's counts are used as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLOOR_SHARE = 0.01  # smallest share of any class (at most 1/(2K) with K classes)


@dataclass(frozen=True)
class ClassShares:
    """The shares sampling uses and how they were obtained (for reports and docs)."""

    shares: np.ndarray  # sums to 1, every entry >= floor
    dp_proportions: np.ndarray  # the DP counts over their total (uniform when all are zero)
    noise_weight: float  # w: weight of the uniform distribution in the shrinkage
    floor: float  # the smallest share any class gets

    def describe(self) -> str:
        return (
            f"DP class counts shrunk toward uniform with weight {self.noise_weight:.2f} (their noise "
            f"share), every class floored at {self.floor:.3g} of the rows"
        )


def noise_weight(total: float, n_classes: int, cell_noise_std: float) -> float:
    """Weight of the uniform distribution: expected noise mass over itself plus the total
    count, in [0, 1]; 0 without noise, 1 when no count is positive."""
    mass = cell_noise_std * math.sqrt(n_classes)
    if mass == 0:
        return 0.0 if total > 0 else 1.0
    return mass / (mass + total) if total > 0 else 1.0


def sampling_shares(counts: np.ndarray, *, cell_noise_std: float) -> ClassShares:
    """Shares of each class for sampling, from DP ``counts`` and their noise std."""
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 0.0)
    k = counts.size
    if k == 0:
        raise ValueError("no classes")
    if not cell_noise_std >= 0:
        raise ValueError("cell_noise_std must be non-negative")
    total = float(counts.sum())
    uniform = np.full(k, 1.0 / k)
    dp = counts / total if total > 0 else uniform
    w = noise_weight(total, k, cell_noise_std)
    shrunk = (1.0 - w) * dp + w * uniform
    floor = min(FLOOR_SHARE, 0.5 / k)
    return ClassShares(
        shares=apply_floor(shrunk, floor), dp_proportions=dp, noise_weight=w, floor=floor
    )


def apply_floor(shares: np.ndarray, floor: float) -> np.ndarray:
    """Raise every share to at least ``floor`` and take the difference proportionally from
    the shares above it, so the result still sums to 1 (needs ``floor * K <= 1``)."""
    p0 = np.asarray(shares, dtype=np.float64) / np.sum(shares)
    low = np.zeros(p0.size, dtype=bool)
    p = p0
    for _ in range(p0.size):  # each round fixes at least one more class at the floor
        now_low = low | (p < floor)
        if (now_low == low).all():
            break
        low = now_low
        rest = p0[~low]
        p = np.full(p0.size, float(floor))
        if rest.size:
            p[~low] = rest / rest.sum() * (1.0 - floor * low.sum())
    return p


def rows_per_class(shares: np.ndarray, rows: int) -> np.ndarray:
    """Whole rows per class: largest remainder, then at least one row for every class
    whenever ``rows`` is at least the number of classes (taken from the largest)."""
    share = np.asarray(shares, dtype=np.float64) * rows
    counts = np.floor(share).astype(np.int64)
    remainder = rows - int(counts.sum())
    counts[np.argsort(-(share - counts), kind="stable")[:remainder]] += 1
    if rows >= counts.size:
        for i in np.flatnonzero(counts == 0):
            counts[int(np.argmax(counts))] -= 1
            counts[i] = 1
    return counts
