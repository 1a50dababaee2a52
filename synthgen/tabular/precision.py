"""The precision of a continuous column: how many decimals its values are written with.

A laboratory value recorded to two decimals should come out with two, not fourteen: a
reader (and a classifier telling synthetic rows from real ones) sees the extra digits at
once. The precision is declared in the schema (``decimals``) or estimated with DP: each
record falls in one cell of a histogram over "needs d decimals" (d = 0..MAX_ESTIMATED, and
one cell for more), so a column's histogram has sensitivity 1 and rides in the point-mass
release (``synthgen.tabular.heaps``). Choosing d from the noisy counts is post-processing,
and errs towards more decimals: rounding away a real digit is worse than keeping a digit
too many.
"""

from __future__ import annotations

import numpy as np

MAX_ESTIMATED = 6  # decimals the DP histogram can tell apart; more: left unrounded
NOISE_MARGIN = 4.0  # noise standard deviations a count must clear to show a precision


def decimals_needed(values: np.ndarray, *, limit: int = MAX_ESTIMATED + 1) -> np.ndarray:
    """Fewest decimals (0..limit) that write each finite value exactly, as its shortest
    decimal text does; ``limit`` stands for "more than limit - 1"."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    out = np.full(v.shape, limit, dtype=np.int64)
    for d in range(limit - 1, -1, -1):
        scaled = v * 10.0**d
        exact = np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))
        out[exact] = d
    return out


def decimals_histogram(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Counts of records (weighted) by decimals needed: cells 0..MAX_ESTIMATED and "more"."""
    finite = np.isfinite(np.asarray(values, dtype=np.float64))
    return np.bincount(
        decimals_needed(values), weights=weights[finite], minlength=MAX_ESTIMATED + 2
    ).astype(np.float64)


def precision_from_counts(counts: np.ndarray, *, std: float = 0.0) -> int | None:
    """The most decimals that the noisy counts show some records need: the last cell whose
    count clears ``NOISE_MARGIN`` noise standard deviations. None (no rounding) when that
    is the "more than MAX_ESTIMATED" cell or no cell clears the margin: when the noise
    hides the precision, values keep their digits rather than lose real ones.
    Post-processing of the noisy counts."""
    c = np.asarray(counts, dtype=np.float64)
    confirmed = np.flatnonzero(c > max(NOISE_MARGIN * std, 0.0))
    if confirmed.size == 0 or confirmed[-1] > MAX_ESTIMATED:
        return None
    return int(confirmed[-1])


def round_to(values: np.ndarray, decimals: int | None) -> np.ndarray:
    """Values rounded to ``decimals`` (None: as they are); nulls stay null."""
    return values if decimals is None else np.round(values, decimals)
