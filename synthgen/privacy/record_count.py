"""The number of training records, as a public value: a DP estimate or a declared bound.

Under add/remove adjacency (the relation the certificate states) the record count N is
itself private: one record more changes it by one. So nothing that leaves the private area
may be computed from the exact N: not the certificate's record count, not the expected
batch size, the sample rate q = batch / N, the default delta, the histogram bins or a
default number of steps. Each of these is computed from ``RecordCount.value`` instead:

- a **DP estimate**: a Gaussian noisy count (sensitivity 1), released *first*, before any
  choice that depends on it, from a small fixed share of epsilon and recorded in the run's
  accountant (so the certificate's epsilon composes it); or
- a **declared** count or upper bound that the steward makes public (schema key
  ``public_record_count`` for tables, the ``public_record_count`` image option).

Poisson sampling each real record with q = expected_batch / N-hat is still exactly the
mechanism the accountant analyses: q is a public constant, whatever the true N. Only the
realised batch size (never shipped) depends on the true N.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from synthgen.errors import PrivacyParameterError
from synthgen.privacy.accountant import RunAccountant, default_delta, gaussian_noise_multiplier_for
from synthgen.privacy.mechanisms import noisy_histograms
from synthgen.privacy.secure_random import NoiseSource

# share of epsilon (measured alone at the run's delta, or 1e-5 when the delta is the
# default) for the noisy record count at a large budget: noise std 18 at epsilon 10, 54 at 3
RECORD_COUNT_SHARE = 0.02
# ...raised as epsilon falls until the noise std is at most this many records, so that a
# 150-row table still gets a usable N-hat (at 0.02 of epsilon 1 the std was 148 and heart's
# N-hat came out 1 or 3: batch 1-3, q = 1, the fewest bins). Gaussian releases compose by
# their precisions, so the share costs the rest of the run about its square: 0.15 of
# epsilon 1 raises DP-SGD's noise multiplier by 1.5% (0.02: 0.1%)
TARGET_COUNT_STD = 25.0
MAX_RECORD_COUNT_SHARE = 0.2  # the ceiling of that raise (epsilon below ~0.7 reaches it)
# the delta at which the count's share is measured when the run's delta is the default
# (the default, accountant.default_delta, is at most 1e-5, so the share measured there errs
# on the small side)
DEFAULT_DELTA_CEILING = 1e-5
# the default delta uses an upper confidence bound of the DP count (value + 3 std), so that
# a count the noise pushed down does not raise delta towards 1/N
DELTA_BOUND_STDS = 3.0

DP_ESTIMATE = "dp_estimate"
DECLARED = "declared_public"
EXACT_NOT_PRIVATE = "exact (NOT PRIVATE run)"


@dataclass(frozen=True)
class RecordCount:
    """The public stand-in for N that every N-derived choice of a run uses."""

    value: int  # the DP estimate (rounded, at least 1) or the declared count
    source: str  # DP_ESTIMATE, DECLARED or EXACT_NOT_PRIVATE
    noise_std: float = 0.0  # std of the Gaussian noise (DP estimate only)
    epsilon_share: float = 0.0  # share of epsilon the estimate was paid from

    @property
    def upper_bound(self) -> float:
        """A public upper confidence bound on N (the declared value is one already)."""
        return self.value + DELTA_BOUND_STDS * self.noise_std

    def default_delta(self) -> float:
        """min(1e-5, 1/(10 N)) with N the public upper bound, never the exact count."""
        return default_delta(max(self.upper_bound, 1.0))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RecordCount:
        return cls(
            value=int(d["value"]),
            source=str(d["source"]),
            noise_std=float(d.get("noise_std", 0.0)),
            epsilon_share=float(d.get("epsilon_share", 0.0)),
        )


def declared_record_count(count: Any, *, what: str = "public_record_count") -> RecordCount:
    """A count or upper bound the steward declares public (no budget is spent)."""
    if (
        isinstance(count, bool)
        or not isinstance(count, int | float)
        or not count >= 1
        or not float(count).is_integer()
    ):
        raise PrivacyParameterError(f"{what} must be a positive whole number, got {count!r}")
    return RecordCount(value=int(count), source=DECLARED)


def declared_training_count(
    declared: int, *, training_share: float, what: str = "public_record_count"
) -> RecordCount:
    """N-hat of the training part from a declared count of the whole source: its expected
    training share (1 - holdout), at least 1. Public in, public out: no budget is spent."""
    return declared_record_count(max(1, round(declared * training_share)), what=what)


def record_count_share(epsilon: float, delta: float | None) -> float:
    """The default share of ``epsilon`` for the DP count: ``RECORD_COUNT_SHARE``, or more
    (at most ``MAX_RECORD_COUNT_SHARE``) where that share's noise std would exceed
    ``TARGET_COUNT_STD``. Public inputs only (the budget), so choosing it spends nothing."""
    at_delta = DEFAULT_DELTA_CEILING if delta is None else delta

    def std(share: float) -> float:
        return gaussian_noise_multiplier_for(epsilon=share * epsilon, delta=at_delta)

    # the ceiling first: at a tiny epsilon the base share's noise is beyond the accountant
    if std(MAX_RECORD_COUNT_SHARE) > TARGET_COUNT_STD:
        return MAX_RECORD_COUNT_SHARE
    if std(RECORD_COUNT_SHARE) <= TARGET_COUNT_STD:
        return RECORD_COUNT_SHARE
    low, high = RECORD_COUNT_SHARE, MAX_RECORD_COUNT_SHARE
    while high - low > 1e-3:  # the std falls as the share grows
        mid = (low + high) / 2
        low, high = (mid, high) if std(mid) > TARGET_COUNT_STD else (low, mid)
    return math.ceil(high * 1000) / 1000  # a round share, its std still within the target


def estimate_record_count(
    n_records: int,
    *,
    epsilon: float,
    delta: float | None,
    accountant: RunAccountant,
    noise: NoiseSource,
    share: float | None = None,
    purpose: str = "number of training records",
) -> RecordCount:
    """Release N + Gaussian noise (sensitivity 1 under add/remove) and record it in
    ``accountant``. Call it before anything else that reads the data's size. ``share``
    None: ``record_count_share`` (grows as epsilon falls)."""
    if not math.isfinite(epsilon):
        return RecordCount(value=int(n_records), source=EXACT_NOT_PRIVATE)
    if share is None:
        share = record_count_share(epsilon, delta)
    if not 0 < share < 1:
        raise PrivacyParameterError(
            f"the record count's share of epsilon must be in (0, 1), got {share}"
        )
    at_delta = DEFAULT_DELTA_CEILING if delta is None else delta
    sigma = gaussian_noise_multiplier_for(epsilon=share * epsilon, delta=at_delta)
    noisy, std = noisy_histograms(
        [np.array([float(n_records)])], noise_multiplier=sigma, noise=noise
    )
    accountant.add_gaussian_release(name="record count", noise_multiplier=sigma, purpose=purpose)
    value = max(1, round(float(noisy[0][0])))
    return RecordCount(value=value, source=DP_ESTIMATE, noise_std=std, epsilon_share=share)


def certificate_note(count: RecordCount) -> str:
    """One line for the certificate's notes: where ``n_training_records`` comes from."""
    if count.source == DP_ESTIMATE:
        return (
            f"n_training_records is a DP estimate (Gaussian noise, std {count.noise_std:.3g}, "
            f"{count.epsilon_share:g} of epsilon, composed in the accountant); batch size, "
            "sample rate, default delta and bins were chosen from it, never from the exact count"
        )
    if count.source == DECLARED:
        return (
            "n_training_records is the record count the steward declared public "
            "(public_record_count); batch size, sample rate, default delta and bins were "
            "chosen from it, never from the exact count"
        )
    return "n_training_records is the exact count: this run is NOT PRIVATE"
