"""Which categories a model gives probability to, and what it says about the rest.

Two rules, both post-processing of released DP counts (free):

1. *Rare cells*. After the per-class histograms are projected onto the simplex, a category
   with no records still holds about |noise| of mass, and the probability floor and the
   shrinkage toward the pooled distribution keep it there: stroke's gender "Other" (1 of
   5,110 real rows) came out in 1.35% of synthetic rows, 70 times its share. A category
   cell whose all-classes noisy count stays below ``RARE_CATEGORY_THRESHOLD`` noise
   standard deviations is taken out of the projection, as a point mass is
   (``preprocess._noise_point_masses``): it keeps only the probability floor. An empty cell
   passes with probability 6.7%; a category holding 2.8 noise standard deviations of
   records passes with 90%. The threshold trades the two errors, measured on the
   statistics over 5-10 noise seeds (docs/research/2026-12-05-categories-without-schema.md):
   on Adult with its public schema at epsilon 1 the mean categorical TV is 0.028 without
   the rule, 0.032 at 1.5 and 0.036 at 2 (education's real 1-2% values fall below it);
   stroke's "Other" (1 record) stays at 0.5% at 1.0 and goes to the floor from 1.5. A soft
   rule (scaling cells between 1.5 and 3 stds) cost more: 0.036.
2. *What "(other)" holds* (columns whose categories were discovered). Values below the
   partition-selection threshold are merged into "(other)". The model directory states
   the threshold in records, the values kept (they passed selection: public) and the DP
   share of "(other)". Never the names of the merged values, nor how many there were: both
   were read from the data without noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RARE_CATEGORY_THRESHOLD = 1.5  # in noise standard deviations of a cell's all-classes count
KEPT_AT_LEAST = 2  # value cells every categorical column keeps, whatever their counts


def rare_category_cells(
    table: np.ndarray, categories: tuple[Any, ...], cell_std: float
) -> np.ndarray:
    """Mask of the category cells of a noisy [classes, cells] table whose all-classes count
    is below the threshold. The missing cell (a None category) is left to the point-mass
    rule. The ``KEPT_AT_LEAST`` cells with the largest counts are never masked: a column
    that lost all but one value would be a constant, and its relation to the others lost
    (stroke's heart_disease, 5.4% "1", is near the threshold at epsilon 1)."""
    rare = np.zeros(table.shape[1], dtype=bool)
    if cell_std == 0:
        return rare
    threshold = RARE_CATEGORY_THRESHOLD * cell_std * math.sqrt(table.shape[0])
    values = np.flatnonzero([c is not None for c in categories])
    totals = table[:, values].sum(0)
    largest = values[np.argsort(-totals, kind="stable")[:KEPT_AT_LEAST]]
    rare[values] = totals < threshold
    rare[largest] = False
    return rare


def selection_summary(
    categories: tuple[Any, ...],
    probs: np.ndarray,
    class_counts: np.ndarray,
    *,
    other: Any,
    threshold: float | None,
) -> dict[str, Any]:
    """What a discovered column kept and the DP share of "(other)" (a column whose
    categories were declared has no "(other)": ``threshold`` None, share 0)."""
    weights = np.maximum(np.asarray(class_counts, dtype=np.float64), 0.0)
    weights = (
        weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1 / len(weights))
    )
    marginal = weights @ np.asarray(probs, dtype=np.float64)
    kept = [c for c in categories if c is not None and c != other]
    share = float(marginal[list(categories).index(other)]) if other in categories else 0.0
    return {
        "kept": kept,
        "other_share": round(share, 4),
        "threshold_records": None if threshold is None else round(threshold, 1),
    }
