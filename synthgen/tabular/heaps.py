"""Heaps: single values that hold far more records than their neighbours.

Adult's ``hours-per-week`` is exactly 40 in 47% of rows; doses come in round numbers;
counts are mostly 0. A binned layout spreads such a value over its bin, so the synthetic
column loses it. Here a DP release finds them: for each binned numeric column, a noisy
count of the records equal to each value of a public candidate set (every integer of the
column's range when there are few enough, else the multiples of a power of ten, always
zero). A candidate is a heap when its noisy count, less a noise margin, is more than
``HEAP_FACTOR`` times the mean of its neighbouring candidates' counts; heaps become atom
cells of the layout and so come out at their (DP) share.

Privacy: a record equals at most one candidate of a column, so each column's candidate
histogram has L2 sensitivity 1, like the other preprocessing histograms; the precision
histograms (``synthgen.tabular.precision``) ride in the same Gaussian release, named
"point masses" in the accountant. The candidates depend only on the (declared or DP)
bounds, and which candidates become atoms only on the noisy counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.mechanisms import noisy_histograms
from synthgen.privacy.secure_random import NoiseSource
from synthgen.tabular.layout import NumericLayout
from synthgen.tabular.precision import decimals_histogram, precision_from_counts
from synthgen.tabular.schema import ColumnSpec

MAX_CANDIDATES = 1024  # per column: every integer of a range up to this many values
HEAP_FACTOR = 2.0  # a heap holds more than this many times its neighbours' mean count
NEIGHBOURS = 2  # candidates on each side that a heap is compared with
MAX_HEAPS = 16  # per column: the largest noisy counts among the heaps found
FALSE_HEAP_RATE = 1e-3  # chance that noise alone makes a heap anywhere in the table


def candidates(minimum: float, maximum: float) -> np.ndarray:
    """The public values checked for heaps in ``(minimum, maximum)``: every integer when
    there are at most ``MAX_CANDIDATES``, else the multiples of the smallest power of ten
    that gives at most that many, and zero. The bounds themselves are atoms already."""
    step = 1.0
    while (maximum - minimum) / step + 1 > MAX_CANDIDATES:
        step *= 10.0
    grid = np.arange(math.ceil(minimum / step), math.floor(maximum / step) + 1) * step
    if minimum < 0 < maximum:
        grid = np.union1d(grid, [0.0])
    return grid[(grid > minimum) & (grid < maximum)]


def candidate_counts(values: np.ndarray, grid: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Records (weighted) exactly equal to each candidate; a record matches at most one."""
    v = np.asarray(values, dtype=np.float64)
    counts = np.zeros(grid.size)
    if grid.size == 0:
        return counts
    position = np.clip(np.searchsorted(grid, v), 0, grid.size - 1)
    hit = grid[position] == v
    np.add.at(counts, position[hit], weights[hit])
    return counts


def noise_margin(std: float, n_candidates: int) -> float:
    """Noisy count that pure noise exceeds, in any of ``n_candidates`` cells, with
    probability at most ``FALSE_HEAP_RATE`` (Bonferroni)."""
    from scipy.stats import norm

    if std == 0:
        return 0.0
    return std * float(norm.isf(FALSE_HEAP_RATE / max(n_candidates, 1)))


def find_heaps(noisy: np.ndarray, grid: np.ndarray, *, margin: float) -> tuple[float, ...]:
    """The candidates whose noisy count less ``margin`` exceeds ``HEAP_FACTOR`` times the
    mean (negative counts read as 0) of up to ``NEIGHBOURS`` candidates on each side;
    at most ``MAX_HEAPS``, the largest. Post-processing of the noisy counts."""
    counts = np.maximum(np.asarray(noisy, dtype=np.float64), 0.0)
    found: list[tuple[float, float]] = []
    for i in range(counts.size):
        around = np.r_[counts[max(i - NEIGHBOURS, 0) : i], counts[i + 1 : i + 1 + NEIGHBOURS]]
        neighbour_mean = float(around.mean()) if around.size else 0.0
        lower = noisy[i] - margin
        if lower > 0 and lower > HEAP_FACTOR * neighbour_mean:
            found.append((float(noisy[i]), float(grid[i])))
    largest = sorted(found, reverse=True)[:MAX_HEAPS]
    return tuple(sorted(value for _, value in largest))


@dataclass(frozen=True)
class PointMasses:
    """What the release decided for one numeric column (public: post-processing)."""

    heaps: tuple[float, ...] = ()
    decimals: int | None = None


def release_point_masses(
    columns: list[tuple[ColumnSpec, NumericLayout, np.ndarray]],
    *,
    weights: np.ndarray,
    sigma: float,
    private: bool,
    noise: NoiseSource,
    accountant: RunAccountant,
) -> dict[str, PointMasses]:
    """Heaps of the binned columns and the precision of the continuous columns without
    declared ``decimals``, from one Gaussian release (``sigma`` per unit of L2 sensitivity;
    one histogram per column and question, each holding a record at most once).
    ``columns``: each column's spec, its layout without heaps and its values."""
    histograms: list[np.ndarray] = []
    asked: list[tuple[str, str, np.ndarray]] = []  # (column, "heaps" or "decimals", grid)
    for spec, layout, values in columns:
        if "bin" in layout.cell_types:
            grid = candidates(layout.minimum, layout.maximum)
            if grid.size:
                histograms.append(candidate_counts(values, grid, weights))
                asked.append((spec.name, "heaps", grid))
        if spec.kind == "continuous" and spec.decimals is None:
            histograms.append(decimals_histogram(values, weights))
            asked.append((spec.name, "decimals", np.zeros(0)))
    if not histograms:
        return {}
    std = 0.0
    if private:
        histograms, std = noisy_histograms(histograms, noise_multiplier=sigma, noise=noise)
        accountant.add_gaussian_release(
            name="point masses",
            noise_multiplier=sigma,
            purpose="; ".join(
                f"{title} of " + ", ".join(sorted({c for c, q, _ in asked if q == question}))
                for question, title in (
                    ("heaps", "heaps (single values holding many records)"),
                    ("decimals", "decimals"),
                )
                if any(q == question for _, q, _ in asked)
            ),
        )
    margin = noise_margin(std, sum(grid.size for _, q, grid in asked if q == "heaps"))
    found: dict[str, dict[str, object]] = {}
    for (column, question, grid), counts in zip(asked, histograms, strict=True):
        answer = (
            find_heaps(counts, grid, margin=margin)
            if question == "heaps"
            else (precision_from_counts(counts, std=std))
        )
        found.setdefault(column, {})[question] = answer
    return {column: PointMasses(**answers) for column, answers in found.items()}  # type: ignore[arg-type]
