"""The one-run epsilon lower bound (Steinke, Nasr and Jagielski 2023) against ground truth:
randomized response, whose epsilon is known exactly, and the closed form for all-correct
guesses."""

import math

import numpy as np
import pytest

from synthgen.privacy.analysis.one_run import (
    GUESS_FRACTIONS,
    bound_from_scores,
    epsilon_lower_bound,
    largest_detectable_epsilon,
    p_value,
)


def randomized_response(epsilon: float, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inclusion bits and an epsilon-DP release of each: the true bit with probability
    e^eps / (1 + e^eps). Its correct-guess count is exactly Binomial(m, e^eps / (1 + e^eps))."""
    included = rng.random(m) < 0.5
    truthful = rng.random(m) < 1.0 / (1.0 + math.exp(-epsilon))
    return included, np.where(truthful, included, ~included)


@pytest.mark.parametrize("guesses", [10, 100, 1000])
def test_all_correct_guesses_give_the_closed_form_maximum(guesses: int) -> None:
    p = 0.05 ** (1.0 / guesses)  # P[Binomial(r, p) = r] = 0.05
    bound = epsilon_lower_bound(canaries=guesses, guesses=guesses, correct=guesses, delta=0.0)
    assert bound == pytest.approx(math.log(p / (1 - p)), abs=1e-5)


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_randomized_response_bound_is_below_and_close_to_the_true_epsilon(epsilon: float) -> None:
    """At the expected number of correct guesses (the typical run) of 20,000 canaries."""
    m = 20_000
    correct = round(m / (1.0 + math.exp(-epsilon)))
    bound = epsilon_lower_bound(canaries=m, guesses=m, correct=correct, delta=0.0)
    assert 0.9 * epsilon < bound < epsilon


def test_randomized_response_bound_exceeds_the_truth_at_most_at_the_stated_rate() -> None:
    rng = np.random.default_rng(1)
    above = 0
    for _ in range(200):
        included, released = randomized_response(1.0, 1000, rng)
        correct = int((included == released).sum())
        above += epsilon_lower_bound(canaries=1000, guesses=1000, correct=correct, delta=0.0) > 1.0
    assert above <= 20  # 95% confidence: about 10 expected, 20 is far in the tail


def test_chance_level_guesses_bound_nothing() -> None:
    assert epsilon_lower_bound(canaries=1000, guesses=1000, correct=500, delta=1e-5) == 0.0


def test_delta_only_weakens_the_bound() -> None:
    args = {"canaries": 1000, "guesses": 400, "correct": 360}
    assert p_value(epsilon=1.0, delta=1e-3, **args) > p_value(epsilon=1.0, delta=0.0, **args)
    loose = epsilon_lower_bound(delta=1e-3, **args)
    tight = epsilon_lower_bound(delta=0.0, **args)
    assert 0 < loose < tight


def test_p_value_without_delta_is_the_binomial_tail() -> None:
    from scipy import stats

    p = 1 / (1 + math.exp(-0.7))
    assert p_value(epsilon=0.7, delta=0.0, canaries=500, guesses=300, correct=220) == pytest.approx(
        stats.binom.sf(219, 300, p))


def test_bound_from_separable_scores_is_the_largest_detectable_epsilon() -> None:
    rng = np.random.default_rng(2)
    included = rng.random(1000) < 0.5
    scores = included + 0.01 * rng.random(1000)  # every included canary above every other
    bound = bound_from_scores(scores, included, delta=1e-5)
    assert bound.correct == bound.guesses
    # all fractions but the last (which must split the canaries exactly in half) are perfect
    expected = epsilon_lower_bound(canaries=1000, guesses=900, correct=900, delta=1e-5,
                                   confidence=1 - 0.05 / len(GUESS_FRACTIONS))
    assert bound.epsilon == pytest.approx(expected)
    assert expected <= largest_detectable_epsilon(canaries=1000, delta=1e-5)


def test_bound_from_randomized_response_scores_stays_below_the_truth() -> None:
    rng = np.random.default_rng(3)
    included, released = randomized_response(2.0, 5000, rng)
    scores = released + 0.1 * rng.standard_normal(5000)  # tie-breaking jitter
    bound = bound_from_scores(scores, included, delta=0.0)
    assert 1.5 < bound.epsilon <= 2.0


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        p_value(epsilon=1.0, delta=0.0, canaries=10, guesses=20, correct=5)
    with pytest.raises(ValueError):
        epsilon_lower_bound(canaries=10, guesses=10, correct=5, delta=0.0, confidence=1.0)
