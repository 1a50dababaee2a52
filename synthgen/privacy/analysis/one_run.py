"""Epsilon lower bounds from one training run (Steinke, Nasr and Jagielski, NeurIPS 2023).

The game. m canaries are each included in the training data independently with
probability 1/2 (S_i = +1 included, -1 excluded). After one run, the auditor looks only at
what the mechanism released and guesses T_i in {+1, -1, 0} (0 = abstain), making r
non-abstaining guesses of which W are correct.

The theorem (their Theorem 3.1 with the delta term of their Section 5). If the mechanism
is (epsilon, delta)-DP with respect to adding or removing one canary, then for every v

    P[W >= v] <= P[Binomial(r, p) >= v] + 2 m delta alpha(v),   p = e^eps / (1 + e^eps),
    alpha(v) = max_{1 <= i <= v} P[v - i <= Binomial(r, p) < v] / i.

In words: a DP mechanism cannot let any guesser beat independent coin flips of accuracy
p (randomized response at epsilon), whatever the guessing rule, even though all m
canaries were decided in the same run. That is what makes one run enough: the canaries
play the role of the many runs of a classical audit.

The lower bound. Observing v correct guesses, the right-hand side is a p-value for the
hypothesis "the mechanism is (epsilon, delta)-DP". The largest epsilon whose p-value is
at most 1 - confidence is rejected, and so is every smaller epsilon (an (eps', delta)-DP
mechanism with eps' < eps is also (eps, delta)-DP): the mechanism is not
(epsilon, delta)-DP for any epsilon up to the bound, at that confidence. Even when every
guess is right the bound is finite, log(p / (1 - p)) with p = (1 - confidence)^(1 / r) for
delta = 0: about 5.8 for r = 1,000 guesses at 95%, and 10 needs about 70,000.

Choosing how many guesses to make after seeing the scores is itself a test per choice, so
``bound_from_scores`` tests a fixed list of guess counts with the confidence split
between them (Bonferroni): the reported bound keeps its confidence whatever count wins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# shares of the m canaries guessed, half as included (top scores) and half as excluded
# (bottom scores); a fixed list so that the Bonferroni split below is honest
GUESS_FRACTIONS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0)


def p_value(*, epsilon: float, delta: float, canaries: int, guesses: int, correct: int) -> float:
    """Upper bound on P[W >= correct] for an (epsilon, delta)-DP mechanism (the theorem
    above): small values reject "the mechanism is (epsilon, delta)-DP"."""
    from scipy import stats

    _check_counts(canaries=canaries, guesses=guesses, correct=correct)
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError("epsilon must be >= 0 and delta in [0, 1]")
    if correct == 0:
        return 1.0
    p = 1.0 / (1.0 + math.exp(-epsilon))  # accuracy of randomized response at epsilon
    tail = float(stats.binom.sf(correct - 1, guesses, p))
    if delta > 0:
        i = np.arange(1, correct + 1)
        window = np.cumsum(stats.binom.pmf(correct - i, guesses, p))  # P[v-i <= W' < v]
        tail += 2.0 * canaries * delta * float(np.max(window / i))
    return min(1.0, tail)


def epsilon_lower_bound(
    *, canaries: int, guesses: int, correct: int, delta: float, confidence: float = 0.95
) -> float:
    """Largest epsilon (to 1e-6) that ``correct`` of ``guesses`` rejects at ``confidence``;
    0 when even epsilon = 0 is not rejected."""
    beta = 1.0 - confidence
    if not 0 < beta < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")

    def rejected(eps: float) -> bool:
        return (
            p_value(epsilon=eps, delta=delta, canaries=canaries, guesses=guesses, correct=correct)
            <= beta
        )

    if not rejected(0.0):
        return 0.0
    low, high = 0.0, 1.0
    while rejected(high):  # terminates: p -> 1 as epsilon grows, so the tail -> 1
        low, high = high, 2.0 * high
    while high - low > 1e-6:
        mid = (low + high) / 2
        if rejected(mid):
            low = mid
        else:
            high = mid
    return low  # rejected(low) holds: the reported bound is itself rejected


def largest_detectable_epsilon(
    *,
    canaries: int,
    delta: float,
    confidence: float = 0.95,
    fractions: Sequence[float] = GUESS_FRACTIONS,
) -> float:
    """The bound when every guess is right at the largest guess count: no audit with this
    many canaries can show more, so a claim above it can never be flagged."""
    beta = (1.0 - confidence) / len(fractions)
    r = _guess_count(max(fractions), canaries)
    return epsilon_lower_bound(
        canaries=canaries, guesses=r, correct=r, delta=delta, confidence=1.0 - beta
    )


@dataclass(frozen=True)
class OneRunBound:
    epsilon: float  # empirical lower bound at ``confidence``
    confidence: float
    canaries: int
    guesses: int  # of the winning guess count
    correct: int
    included_guesses: int  # top scores guessed included
    excluded_guesses: int  # bottom scores guessed excluded


def bound_from_scores(
    scores: np.ndarray,
    included: np.ndarray,
    *,
    delta: float,
    confidence: float = 0.95,
    fractions: Sequence[float] = GUESS_FRACTIONS,
) -> OneRunBound:
    """Guess from scores (higher = more likely included) and bound epsilon.

    For each fraction f, the top f*m/2 scores are guessed included and the bottom f*m/2
    excluded; each count is tested at confidence 1 - (1 - confidence)/len(fractions) and
    the largest bound wins. Ties are broken by canary index, which the auditor fixed
    before the run, so the guesses depend on the released outputs only.
    """
    scores = np.asarray(scores, dtype=np.float64)
    included = np.asarray(included, dtype=bool)
    m = scores.shape[0]
    if included.shape != (m,) or m < 2:
        raise ValueError("need one inclusion bit per score and at least two canaries")
    beta = (1.0 - confidence) / len(fractions)
    order = np.argsort(-scores, kind="stable")
    best: OneRunBound | None = None
    for f in fractions:
        r = _guess_count(f, m)
        half = r // 2
        top, bottom = order[:half], order[m - half :]
        correct = int(included[top].sum() + (~included[bottom]).sum())
        eps = epsilon_lower_bound(
            canaries=m, guesses=r, correct=correct, delta=delta, confidence=1.0 - beta
        )
        if best is None or eps > best.epsilon:
            best = OneRunBound(
                epsilon=eps,
                confidence=confidence,
                canaries=m,
                guesses=r,
                correct=correct,
                included_guesses=half,
                excluded_guesses=half,
            )
    assert best is not None
    return best


def _guess_count(fraction: float, canaries: int) -> int:
    """An even number of guesses, at least 2, at most m."""
    if not 0 < fraction <= 1:
        raise ValueError(f"guess fractions must be in (0, 1], got {fraction}")
    return max(2, 2 * int(fraction * canaries / 2))


def _check_counts(*, canaries: int, guesses: int, correct: int) -> None:
    if not 0 <= correct <= guesses <= canaries:
        raise ValueError(
            f"need 0 <= correct <= guesses <= canaries, got {correct}, {guesses}, {canaries}"
        )
