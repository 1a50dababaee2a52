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

How much: ``histogram_share(epsilon)``, a public function of epsilon (half of it up to
epsilon 3, falling to 0.3 at epsilon 10), because on Adult budget moved from DP-SGD to the
statistics paid at every epsilon measured.

How it is split: with one fixed split, 0.1 of epsilon 1 on Adult without a schema (24,421
rows, 8 category columns and the label to discover) put noise of std ~350 on every
discovered count and a threshold of ~1,800 records: 13 of 16 education values, Masters
(5.3%) among them, went into "(other)". So category discovery gets the precision a rule
asks for:

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
s ~65 records. Discovery takes that precision out of the share (at most half of it), the
bounds get ``BOUNDS_SHARE`` of the rest when some are not declared, and the per-class
histograms (with the point-mass release's ``POINT_MASS_SHARE``) the remainder. Where the
share cannot buy the rule (a small table at a small epsilon), only larger categories are
kept: ``kept_share`` says which. Every input is public: N-hat, the number of columns to
discover, epsilon and delta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from synthgen.privacy.accountant import gaussian_noise_multiplier_for
from synthgen.tabular.schema import Schema

# The share of epsilon the statistics get, by epsilon alone (``histogram_share``): LOW_SHARE
# up to LOW_EPSILON, HIGH_SHARE from HIGH_EPSILON, log-linear between. On Adult (24k rows,
# public schema) DP-SGD added little that the histograms did not already give at small
# epsilon (epsilon 1: TSTR 0.875 for the histograms alone, 0.874 trained; 16 and 6 runs),
# so budget moved to the statistics paid. Shares 0.1 / 0.3 / 0.5 read TSTR 0.874 / 0.884 /
# 0.890 at epsilon 1 (2-way TV 0.103 / 0.080 / 0.070), 0.881 / 0.893 / 0.899 at epsilon 3,
# and 0.1 / 0.3 read 0.897 / 0.903 at epsilon 10 (docs/research/2026-12-06-adult-epsilon1-tstr.md).
# The share was 0.1 at every epsilon before.
LOW_EPSILON, LOW_SHARE = 3.0, 0.5
HIGH_EPSILON, HIGH_SHARE = 10.0, 0.3
BOUNDS_SHARE = 0.3  # of the precision left after category discovery, for discovered bounds
KEEP_SHARE = 0.02  # a category holding this share of N-hat is kept...
KEEP_PROBABILITY = 0.99  # ...with this probability: in >= 9 of 10 runs with probability 99.6%
THRESHOLD_DELTA_SHARE = 0.25  # share of delta for partition selection, when it runs
# of the histograms' precision, for the point-mass release (heaps and decimals of numeric
# columns, synthgen.tabular.heaps) when the table has a numeric feature
POINT_MASS_SHARE = 0.15


@dataclass(frozen=True)
class PreprocessingBudget:
    """The noise multipliers of the preprocessing releases (0: the release does not run)."""

    share: float  # epsilon of all releases together, measured alone, over the run's epsilon
    categories_noise_multiplier: float
    bounds_noise_multiplier: float
    histograms_noise_multiplier: float
    partitions: int  # discovered columns (the label included) a record adds a value to
    threshold_delta: float  # delta spent on partition selection
    point_masses_noise_multiplier: float = 0.0

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
        point_mass_columns=sum(1 for c in features if c.is_numeric),
    )


def plan_preprocessing(
    *,
    epsilon: float,
    delta: float,
    record_count: int,
    partitions: int,
    bound_columns: int,
    share: float | None = None,
    point_mass_columns: int = 0,
) -> PreprocessingBudget:
    """The releases' noise for a private run (``epsilon`` finite).

    The total is ``share`` (``--preprocessing-share``), else ``histogram_share(epsilon)``.
    Category discovery gets what the rule asks for, at most the precision a given share
    adds above ``histogram_share`` or half the total, whichever is more; the bounds and
    histograms get the rest.
    """
    threshold_delta = THRESHOLD_DELTA_SHARE * delta if partitions else 0.0
    rdp_delta = delta - threshold_delta
    default_share = histogram_share(epsilon)
    base = _precision(default_share * epsilon, rdp_delta)
    wanted = _category_precision(record_count, partitions, threshold_delta)
    if share is None:
        share = default_share
    total = _precision(share * epsilon, rdp_delta)
    # discovery takes what the rule asks for, at most the precision above the statistics'
    # own share (a larger --preprocessing-share) or half the total, whichever is more
    categories = min(wanted, max(total - base, total / 2)) if partitions else 0.0
    rest = total - categories
    bounds = BOUNDS_SHARE * rest if bound_columns else 0.0
    point_masses = POINT_MASS_SHARE * (rest - bounds) if point_mass_columns else 0.0
    return PreprocessingBudget(
        share=share,
        categories_noise_multiplier=_multiplier(categories),
        bounds_noise_multiplier=_multiplier(bounds),
        histograms_noise_multiplier=_multiplier(rest - bounds - point_masses),
        partitions=partitions,
        threshold_delta=threshold_delta,
        point_masses_noise_multiplier=_multiplier(point_masses),
    )


def histogram_share(epsilon: float) -> float:
    """The share of ``epsilon`` the statistics get by default: ``LOW_SHARE`` up to
    ``LOW_EPSILON``, ``HIGH_SHARE`` from ``HIGH_EPSILON``, log-linear in epsilon between
    (public: epsilon alone)."""
    if epsilon <= LOW_EPSILON:
        return LOW_SHARE
    if epsilon >= HIGH_EPSILON:
        return HIGH_SHARE
    position = math.log(epsilon / LOW_EPSILON) / math.log(HIGH_EPSILON / LOW_EPSILON)
    return LOW_SHARE + position * (HIGH_SHARE - LOW_SHARE)


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
