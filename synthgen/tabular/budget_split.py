"""How the preprocessing budget is sized and split: bought by what it must buy.

The DP statistics are up to three Gaussian releases (``preprocess``): *category discovery*
(noisy counts of every value seen in the columns whose categories, and the label whose
classes, the schema leaves out; Gaussian partition selection keeps the values above a
threshold), *bounds discovery* (noisy magnitude histograms of the numeric columns without
declared bounds) and the *per-class histograms*. A Gaussian release of noise multiplier
sigma has the Renyi curve alpha / (2 sigma^2) at every order, so releases compose by adding
their *precisions* 1 / sigma^2: any split of a precision budget P into parts spends
exactly what one release of noise multiplier P^(-1/2) spends. ``share`` is that release's
epsilon, measured alone at the run's delta, over the run's epsilon; the accountant records
each part as its own release, so the certificate's total stays exact by construction.

Why not a fixed share: with one fixed split, 0.1 of epsilon 1 on Adult without a schema
(24,421 rows, 8 category columns and the label to discover) put noise of std ~350 on every
discovered count and a threshold of ~1,800 records: 13 of 16 education values, Masters
(5.3%) among them, went into "(other)".

The rule (a category holding ``KEEP_SHARE`` of the rows passes with probability
``KEEP_PROBABILITY``): one record adds a value to each of the P discovered columns at
most, so partition selection keeps a value whose noisy count clears
``T = 1 + s * z_T`` with ``z_T = Phi^-1(1 - delta_T / P)`` and ``s`` the std per count
(``synthgen.privacy.mechanisms.partition_threshold``). A value with c records passes with
probability ``Phi((c - T) / s)`` >= p exactly when::

    s <= (c - 1) / (z_T + z_p),    z_p = Phi^-1(p).

With c = 0.02 N-hat (N-hat: the public record count), p = 0.99 and the std of a release
of P histograms being ``sigma_c * sqrt(P)``, category discovery needs precision
``P / s^2``. At epsilon 1 on Adult (N-hat ~24,400, P = 9, delta_T ~1e-6: z_T ~5.2) that is
s ~65 records. The bounds and per-class histograms keep the precision of ``BASE_SHARE``
(all of it for the histograms when every bound is declared, else ``BOUNDS_SHARE`` of it for
the bounds: the split used before for all discovery), and the share is the epsilon of the sum of both precisions, capped at ``MAX_SHARE`` so
that DP-SGD is never starved (a small table at a small epsilon then keeps only larger
categories: ``kept_share`` says which). Every input is public: N-hat, the number of columns
to discover, epsilon and delta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from synthgen.privacy.accountant import epsilon_for, gaussian_noise_multiplier_for
from synthgen.tabular.schema import Schema

BASE_SHARE = 0.1  # share of epsilon for bounds + per-class histograms (a declared schema's)
MAX_SHARE = 0.3  # ceiling of the whole preprocessing share; DP-SGD keeps the rest
BOUNDS_SHARE = 0.3  # of the precision left after category discovery, for discovered bounds
KEEP_SHARE = 0.02  # a category holding this share of N-hat is kept...
KEEP_PROBABILITY = 0.99  # ...with this probability: in >= 9 of 10 runs with probability 99.6%
THRESHOLD_DELTA_SHARE = 0.25  # share of delta for partition selection, when it runs


@dataclass(frozen=True)
class PreprocessingBudget:
    """The noise multipliers of the preprocessing releases (0: the release does not run)."""

    share: float  # epsilon of all releases together, measured alone, over the run's epsilon
    categories_noise_multiplier: float
    bounds_noise_multiplier: float
    histograms_noise_multiplier: float
    partitions: int  # discovered columns (the label included) a record adds a value to
    threshold_delta: float  # delta spent on partition selection

    @property
    def category_std(self) -> float:
        """Noise std on each discovered count."""
        return self.categories_noise_multiplier * math.sqrt(self.partitions)

    def kept_share(self, record_count: int) -> float:
        """The share of ``record_count`` a category needs to pass partition selection with
        probability ``KEEP_PROBABILITY`` (public: noise level and N-hat only)."""
        if not self.partitions:
            return 0.0
        return (1 + self.category_std * _z_sum(self.threshold_delta, self.partitions)) / max(
            record_count, 1
        )


def plan_for_schema(
    schema: Schema, *, epsilon: float, delta: float, record_count: int, share: float | None
) -> PreprocessingBudget:
    """``plan_preprocessing`` for what ``schema`` leaves to discover."""
    target = schema.target
    assert target is not None, "the schema must name a label column"
    features = schema.features
    categories = [c for c in features if not c.is_numeric and c.declared_categories() is None]
    return plan_preprocessing(
        epsilon=epsilon,
        delta=delta,
        record_count=record_count,
        partitions=len(categories) + int(target.declared_categories() is None),
        bound_columns=sum(1 for c in features if c.is_numeric and not c.has_bounds),
        share=share,
    )


def plan_preprocessing(
    *,
    epsilon: float,
    delta: float,
    record_count: int,
    partitions: int,
    bound_columns: int,
    share: float | None = None,
) -> PreprocessingBudget:
    """The releases' noise for a private run (``epsilon`` finite).

    ``share`` given (``--preprocessing-share``): the total is that share, and category
    discovery gets what the rule asks for, but at most what leaves the other releases
    the larger of their base precision and half the total. ``share`` None: the share is
    chosen so that the rule is met, between ``BASE_SHARE`` and ``MAX_SHARE``.
    """
    threshold_delta = THRESHOLD_DELTA_SHARE * delta if partitions else 0.0
    rdp_delta = delta - threshold_delta
    base = _precision(BASE_SHARE * epsilon, rdp_delta)
    wanted = _category_precision(record_count, partitions, threshold_delta)
    if share is None:
        share = BASE_SHARE
        if partitions and math.isinf(wanted):
            share = MAX_SHARE
        elif partitions:
            needed = epsilon_for([((base + wanted) ** -0.5, 1.0, 1)], delta=rdp_delta) / epsilon
            share = min(MAX_SHARE, max(BASE_SHARE, needed))
    total = _precision(share * epsilon, rdp_delta)
    categories = min(wanted, max(total - base, total / 2)) if partitions else 0.0
    rest = total - categories
    bounds = BOUNDS_SHARE * rest if bound_columns else 0.0
    return PreprocessingBudget(
        share=share,
        categories_noise_multiplier=_multiplier(categories),
        bounds_noise_multiplier=_multiplier(bounds),
        histograms_noise_multiplier=_multiplier(rest - bounds),
        partitions=partitions,
        threshold_delta=threshold_delta,
    )


def _category_precision(record_count: int, partitions: int, threshold_delta: float) -> float:
    """Precision (1 / sigma^2) category discovery needs for the rule (module docstring)."""
    if not partitions:
        return 0.0
    records = KEEP_SHARE * record_count - 1
    if records <= 0:
        return math.inf
    std = records / _z_sum(threshold_delta, partitions)
    return partitions / std**2


def _z_sum(threshold_delta: float, partitions: int) -> float:
    return float(norm.isf(threshold_delta / partitions)) + float(norm.ppf(KEEP_PROBABILITY))


def _precision(epsilon: float, delta: float) -> float:
    return float(gaussian_noise_multiplier_for(epsilon=epsilon, delta=delta)) ** -2


def _multiplier(precision: float) -> float:
    return precision**-0.5 if precision > 0 else 0.0
