"""Privacy accounting: one RDP accountant for everything a training run releases.

Every mechanism synthgen runs on source data is a Gaussian mechanism:
- the DP preprocessing statistics (noisy histograms and counts; sampling rate 1), and
- each DP-SGD step (the subsampled Gaussian mechanism; sampling rate q).
Both are entries ``(noise_multiplier, sample_rate, steps)`` of the same history, so their
Renyi-DP curves add up exactly (RDP composes adaptively), and the epsilon reported on the
certificate is the accountant's epsilon of the whole history at the run's delta.

Opacus computes the RDP of each entry; we extend its default orders upwards because the
preprocessing share alone (a few tenths of an epsilon) is tightest at large orders.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from synthgen.errors import PrivacyParameterError

# Opacus' default orders plus large ones: small-epsilon Gaussian releases are tightest there.
RDP_ORDERS: tuple[float, ...] = (
    *(1 + x / 10.0 for x in range(1, 100)),
    *range(12, 64),
    *(64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024, 2048, 4096),
)

HistoryEntry = tuple[float, float, int]  # (noise_multiplier, sample_rate, steps)


@functools.lru_cache(maxsize=256)
def _rdp_one_step(noise_multiplier: float, sample_rate: float) -> tuple[float, ...]:
    from opacus.accountants.analysis import rdp as analysis

    curve = analysis.compute_rdp(
        q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(RDP_ORDERS)
    )
    return tuple(float(x) for x in curve)


def _rdp_curve(history: Iterable[HistoryEntry]) -> Any:
    """RDP of the composed history at every order (per-step curves are cached: the same
    (sigma, q) repeats for every step of a run)."""
    import numpy as np

    total = np.zeros(len(RDP_ORDERS))
    for noise_multiplier, sample_rate, steps in history:
        if steps <= 0 or sample_rate <= 0:
            continue
        total = total + steps * np.array(_rdp_one_step(float(noise_multiplier), float(sample_rate)))
    return total


def epsilon_for(history: Sequence[HistoryEntry], *, delta: float) -> float:
    """Epsilon of the composed history at ``delta`` (Balle et al. 2020 RDP conversion)."""
    from opacus.accountants.analysis import rdp as analysis

    if not any(steps > 0 and q > 0 for _, q, steps in history):
        return 0.0
    rdp = _rdp_curve(history)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # "optimal order is the largest alpha": we checked the range
        eps, _ = analysis.get_privacy_spent(orders=list(RDP_ORDERS), rdp=rdp, delta=delta)
    return float(eps)


def calibrate_noise_multiplier(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    prior_history: Sequence[HistoryEntry] = (),
    tolerance: float = 0.005,
) -> float:
    """Smallest noise multiplier whose ``steps`` subsampled-Gaussian steps, composed with
    ``prior_history``, stay within ``target_epsilon`` at ``delta``.

    Bisection on a monotone function; the result errs on the side of more noise. Memoised:
    the feasibility estimate and the trainer ask the same question, and each answer costs
    about 1.7 s of Opacus' RDP series on CPU.
    """
    return _calibrate(
        target_epsilon, delta, sample_rate, steps, tuple(map(tuple, prior_history)), tolerance
    )


@functools.lru_cache(maxsize=64)
def _calibrate(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    prior_history: tuple[HistoryEntry, ...],
    tolerance: float,
) -> float:
    check_privacy_parameters(epsilon=target_epsilon, delta=delta)
    if not 0 < sample_rate <= 1:
        raise PrivacyParameterError(f"sample rate must be in (0, 1], got {sample_rate}")
    if steps < 1:
        raise PrivacyParameterError(f"steps must be at least 1, got {steps}")
    prior_eps = epsilon_for(prior_history, delta=delta)
    if prior_eps >= target_epsilon:
        raise PrivacyParameterError(
            f"preprocessing alone spends epsilon {prior_eps:.3f}, nothing is left of "
            f"{target_epsilon:g} for training"
        )

    def eps(sigma: float) -> float:
        return epsilon_for([*prior_history, (sigma, sample_rate, steps)], delta=delta)

    low, high = 0.05, 1.0
    while eps(high) > target_epsilon:
        low, high = high, high * 2
        if high > 1e5:
            raise PrivacyParameterError(
                f"epsilon {target_epsilon:g} cannot be reached with {steps} steps at sample "
                f"rate {sample_rate:.4g}: use fewer steps or a larger epsilon"
            )
    while high - low > tolerance * low:
        mid = (low + high) / 2
        if eps(mid) > target_epsilon:
            low = mid
        else:
            high = mid
    return high


@functools.lru_cache(maxsize=256)  # pure, and asked again by each budget rule
def gaussian_noise_multiplier_for(*, epsilon: float, delta: float) -> float:
    """Noise multiplier (std / L2 sensitivity) of a single Gaussian release with the given
    standalone (epsilon, delta), measured with the same accountant."""
    check_privacy_parameters(epsilon=epsilon, delta=delta)
    low, high = 0.01, 1.0
    while epsilon_for([(high, 1.0, 1)], delta=delta) > epsilon:
        low, high = high, high * 2
    while high - low > 1e-4 * low:
        mid = (low + high) / 2
        if epsilon_for([(mid, 1.0, 1)], delta=delta) > epsilon:
            low = mid
        else:
            high = mid
    return high


def default_delta(n_records: float) -> float:
    """min(1e-5, 1/(10 N)): well below 1/N, the level at which delta stops meaning anything.

    N must be public (``synthgen.privacy.record_count``: a DP upper bound or a declared
    count): the delta is shipped on the certificate, and the exact N is private."""
    if n_records < 1:
        raise PrivacyParameterError("cannot choose delta for an empty dataset")
    return min(1e-5, 1.0 / (10 * n_records))


def check_privacy_parameters(*, epsilon: float, delta: float, n_records: int | None = None) -> None:
    """Reject parameters that would make the guarantee meaningless or the maths undefined."""
    if not isinstance(epsilon, int | float) or math.isnan(epsilon) or epsilon <= 0:
        raise PrivacyParameterError(f"epsilon must be a positive number, got {epsilon!r}")
    if not isinstance(delta, int | float) or math.isnan(delta) or not 0 < delta < 1:
        raise PrivacyParameterError(f"delta must be in (0, 1), got {delta!r}")
    if n_records is not None and delta >= 1.0 / n_records:
        raise PrivacyParameterError(
            f"delta {delta:g} must be smaller than 1/N = {1.0 / n_records:.3g} "
            f"(N = {n_records} training records); the default is min(1e-5, 1/(10 N))"
        )


class RunAccountant:
    """The accountant of one run: preprocessing releases and DP-SGD steps, composed.

    It implements the two methods Opacus' optimizer hook calls (``step`` and
    ``get_optimizer_hook_fn``), so DP-SGD steps are accounted by the same object as the
    preprocessing releases. Consecutive identical SGD steps are merged, as Opacus does.
    """

    mechanism = "rdp"

    def __init__(self) -> None:
        self.releases: list[dict[str, Any]] = []  # labelled Gaussian releases (sample rate 1)
        self.sgd_history: list[HistoryEntry] = []
        # other named subsampled-Gaussian runs on the same records (e.g. a DP classifier
        # trained beside the generator): composed like everything else
        self.other_runs: list[dict[str, Any]] = []
        # delta spent outside the RDP curve: the chance that partition selection releases a
        # value held by one record (see mechanisms.partition_threshold)
        self.threshold_delta = 0.0

    # -- recording -------------------------------------------------------------------------
    def add_gaussian_release(self, *, name: str, noise_multiplier: float, purpose: str) -> None:
        """Record one Gaussian release whose noise std is ``noise_multiplier`` times its L2
        sensitivity."""
        if not noise_multiplier > 0:
            raise PrivacyParameterError("a Gaussian release needs a positive noise multiplier")
        self.releases.append(
            {"name": name, "noise_multiplier": float(noise_multiplier), "purpose": purpose}
        )

    def add_subsampled_run(
        self, *, name: str, history: Sequence[HistoryEntry], purpose: str, max_grad_norm: float
    ) -> None:
        """Record a finished DP-SGD run other than the main one (``history`` as its own
        accountant recorded it)."""
        self.other_runs.append(
            {
                "name": name,
                "purpose": purpose,
                "max_grad_norm": max_grad_norm,
                "history": [[float(s), float(q), int(n)] for s, q, n in history],
            }
        )

    def step(self, *, noise_multiplier: float, sample_rate: float) -> None:
        if self.sgd_history and self.sgd_history[-1][:2] == (noise_multiplier, sample_rate):
            sigma, q, n = self.sgd_history[-1]
            self.sgd_history[-1] = (sigma, q, n + 1)
        else:
            self.sgd_history.append((float(noise_multiplier), float(sample_rate), 1))

    def get_optimizer_hook_fn(self, sample_rate: float) -> Callable[[Any], None]:
        def hook(optimizer: Any) -> None:
            self.step(
                noise_multiplier=optimizer.noise_multiplier,
                sample_rate=sample_rate * optimizer.accumulated_iterations,
            )

        return hook

    # -- reading ---------------------------------------------------------------------------
    @property
    def release_history(self) -> list[HistoryEntry]:
        return [(r["noise_multiplier"], 1.0, 1) for r in self.releases]

    @property
    def other_history(self) -> list[HistoryEntry]:
        return [(s, q, n) for run in self.other_runs for s, q, n in run["history"]]

    @property
    def history(self) -> list[HistoryEntry]:
        return [*self.release_history, *self.other_history, *self.sgd_history]

    @property
    def sgd_steps(self) -> int:
        """DP-SGD steps that ran: counted from the history, not from its length."""
        return sum(n for _, _, n in self.sgd_history)

    def rdp_delta(self, delta: float) -> float:
        """The part of the run's delta left for the RDP-to-(epsilon, delta) conversion."""
        left = delta - self.threshold_delta
        if left <= 0:
            raise PrivacyParameterError("partition selection used up the whole delta")
        return left

    def epsilon(self, delta: float) -> float:
        """Total epsilon of everything recorded so far, at the run's total ``delta``."""
        return epsilon_for(self.history, delta=self.rdp_delta(delta))

    def release_epsilon(self, delta: float) -> float:
        """Epsilon of the preprocessing releases alone (the certificate's preprocessing
        epsilon; composed in RDP, the total is less than this plus training alone)."""
        return epsilon_for(self.release_history, delta=self.rdp_delta(delta))

    def state_dict(self) -> dict[str, Any]:
        return {
            "mechanism": self.mechanism,
            "releases": [dict(r) for r in self.releases],
            "sgd_history": [list(h) for h in self.sgd_history],
            "other_runs": [dict(r) for r in self.other_runs],
            "threshold_delta": self.threshold_delta,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> RunAccountant:
        acc = cls()
        acc.releases = [dict(r) for r in state.get("releases", [])]
        acc.sgd_history = [(float(s), float(q), int(n)) for s, q, n in state["sgd_history"]]
        acc.threshold_delta = float(state.get("threshold_delta", 0.0))
        acc.other_runs = [dict(r) for r in state.get("other_runs", [])]
        return acc
