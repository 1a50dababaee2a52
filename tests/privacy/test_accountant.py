import math

import numpy as np
import pytest

from synthgen.errors import PrivacyParameterError
from synthgen.privacy.accountant import (
    RunAccountant,
    calibrate_noise_multiplier,
    check_privacy_parameters,
    default_delta,
    epsilon_for,
    gaussian_noise_multiplier_for,
)


def gaussian_epsilon_closed_form(sigma: float, releases: int, delta: float) -> float:
    """(epsilon, delta) of `releases` Gaussian mechanisms of noise multiplier sigma, from the
    closed-form RDP alpha / (2 sigma^2) and the conversion of Balle et al. (2020, Thm 21),
    minimised over a fine grid of orders: an independent check of the accountant."""
    alphas = np.linspace(1.01, 5000, 400_000)
    rdp = releases * alphas / (2 * sigma**2)
    eps = rdp + np.log((alphas - 1) / alphas) - (np.log(delta) + np.log(alphas)) / (alphas - 1)
    return float(eps.min())


@pytest.mark.parametrize("sigma,releases", [(1.0, 1), (5.0, 3), (30.0, 1)])
def test_epsilon_for_gaussian_matches_closed_form(sigma: float, releases: int) -> None:
    ours = epsilon_for([(sigma, 1.0, 1)] * releases, delta=1e-5)
    assert ours == pytest.approx(gaussian_epsilon_closed_form(sigma, releases, 1e-5), rel=0.02)


def test_epsilon_pinned_for_known_sgd_setting() -> None:
    # Opacus' RDP accountant gives sigma 1.416 for epsilon 10 at q = 256/5000, 2000 steps,
    # delta 1e-5 (measured in ../shared/notes/opacus-and-stack.md); ours agrees.
    assert epsilon_for([(1.416, 256 / 5000, 2000)], delta=1e-5) == pytest.approx(10.0, abs=0.02)


def test_calibrated_noise_meets_target_and_is_tight() -> None:
    prior = [(40.0, 1.0, 1)]
    sigma = calibrate_noise_multiplier(target_epsilon=3.0, delta=1e-5, sample_rate=0.1, steps=300, prior_history=prior)
    spent = epsilon_for([*prior, (sigma, 0.1, 300)], delta=1e-5)
    assert spent <= 3.0
    assert spent > 2.95  # no budget wasted
    assert epsilon_for([*prior, (sigma * 0.98, 0.1, 300)], delta=1e-5) > 3.0


def test_calibration_refuses_when_preprocessing_spent_everything() -> None:
    with pytest.raises(PrivacyParameterError):
        calibrate_noise_multiplier(target_epsilon=0.1, delta=1e-5, sample_rate=0.1, steps=10, prior_history=[(0.5, 1.0, 1)])


def test_composition_is_subadditive_but_above_each_part() -> None:
    release, sgd = [(20.0, 1.0, 1)], [(2.0, 0.05, 500)]
    both = epsilon_for([*release, *sgd], delta=1e-5)
    alone = epsilon_for(release, delta=1e-5), epsilon_for(sgd, delta=1e-5)
    assert max(alone) < both < sum(alone)


def test_gaussian_noise_multiplier_for_standalone_epsilon() -> None:
    sigma = gaussian_noise_multiplier_for(epsilon=0.3, delta=1e-5)
    assert epsilon_for([(sigma, 1.0, 1)], delta=1e-5) == pytest.approx(0.3, rel=1e-3)


def test_run_accountant_counts_steps_and_round_trips() -> None:
    acc = RunAccountant()
    acc.add_gaussian_release(name="hist", noise_multiplier=25.0, purpose="test")
    for _ in range(7):
        acc.step(noise_multiplier=1.5, sample_rate=0.2)
    acc.step(noise_multiplier=1.6, sample_rate=0.2)
    assert acc.sgd_steps == 8
    assert len(acc.sgd_history) == 2  # identical steps merged
    restored = RunAccountant.from_state_dict(acc.state_dict())
    assert restored.epsilon(1e-5) == acc.epsilon(1e-5)
    assert restored.release_epsilon(1e-5) == pytest.approx(epsilon_for([(25.0, 1.0, 1)], delta=1e-5))


def test_threshold_delta_is_taken_from_the_total() -> None:
    acc = RunAccountant()
    acc.add_gaussian_release(name="h", noise_multiplier=5.0, purpose="t")
    plain = acc.epsilon(1e-5)
    acc.threshold_delta = 0.5e-5
    assert acc.epsilon(1e-5) > plain  # less delta left for the RDP conversion


def test_default_delta() -> None:
    assert default_delta(1000) == 1e-5
    assert default_delta(1_000_000) == pytest.approx(1e-7)


@pytest.mark.parametrize("epsilon,delta,n", [(0, 1e-5, None), (-1, 1e-5, None), (math.nan, 1e-5, None),
                                             (1.0, 0.0, None), (1.0, 1.0, None), (1.0, 0.01, 200)])
def test_bad_privacy_parameters_are_refused(epsilon: float, delta: float, n: int | None) -> None:
    with pytest.raises(PrivacyParameterError):
        check_privacy_parameters(epsilon=epsilon, delta=delta, n_records=n)
