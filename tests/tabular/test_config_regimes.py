"""The size-regime choices of TabularTrainingConfig.resolve: functions of public inputs
(N-hat, epsilon, the user's options) only."""

from __future__ import annotations

import inspect
import math

import pytest

from synthgen.errors import ConfigurationError
from synthgen.tabular.config import (
    LARGE_TABLE,
    SMALL_TABLE,
    SMALL_TABLE_RECORDS,
    TabularTrainingConfig,
    regime_defaults,
)


def test_resolve_sees_only_public_inputs() -> None:
    # the exact record count cannot reach the choices: N-hat, epsilon and max_steps are all
    assert list(inspect.signature(TabularTrainingConfig.resolve).parameters) == [
        "self",
        "n_records",
        "epsilon",
        "max_steps",
    ]


@pytest.mark.parametrize("n_hat", [1, 150, 384, SMALL_TABLE_RECORDS - 1])
def test_small_n_hat_gets_the_small_table_choices(n_hat: int) -> None:
    config = TabularTrainingConfig().resolve(n_records=n_hat, epsilon=1.0, max_steps=None)
    assert config.preprocessing_share == SMALL_TABLE.preprocessing_share
    assert config.hidden_width == SMALL_TABLE.hidden_width
    assert config.n_blocks == SMALL_TABLE.n_blocks
    assert config.steps == SMALL_TABLE.steps_low_epsilon
    assert config.batch_size == min(max(32, n_hat // 4), n_hat)


@pytest.mark.parametrize("n_hat", [SMALL_TABLE_RECORDS, 24_000])
@pytest.mark.parametrize(
    ("epsilon", "steps"), [(1.0, 300), (3.0, 500), (10.0, 500), (math.inf, 600)]
)
def test_large_tables_keep_the_adult_defaults(n_hat: int, epsilon: float, steps: int) -> None:
    config = TabularTrainingConfig().resolve(n_records=n_hat, epsilon=epsilon, max_steps=None)
    # the preprocessing share stays None: synthgen/tabular/budget_split.py chooses it
    assert (config.preprocessing_share, config.hidden_width, config.n_blocks) == (None, 128, 2)
    assert config.steps == steps
    assert config.batch_size == min(4096, n_hat // 4)


def test_the_regime_changes_at_the_threshold_and_nowhere_else() -> None:
    below = [regime_defaults(n) for n in (1, 10, 500, SMALL_TABLE_RECORDS - 1)]
    above = [regime_defaults(n) for n in (SMALL_TABLE_RECORDS, 5000, 10**7)]
    assert all(r == SMALL_TABLE for r in below) and all(r == LARGE_TABLE for r in above)
    # fewer parameters and a larger preprocessing share for the small regime
    assert SMALL_TABLE.hidden_width < LARGE_TABLE.hidden_width
    assert SMALL_TABLE.preprocessing_share is not None and LARGE_TABLE.preprocessing_share is None


def test_small_tables_get_at_least_eight_histogram_bins() -> None:
    from synthgen.tabular.preprocess import _auto_bins

    # Pima at epsilon 3 (N-hat 384, two classes, cell noise std ~10): the noise rule alone
    # says 2; the small-table floor resolves a clinical range from 0 in more than one bin
    assert _auto_bins(384, 2, 9.7) == SMALL_TABLE.min_histogram_bins == 8
    # a large table keeps the old floor of 4 where the noise rule says 3
    assert _auto_bins(24_000, 2, 400.0) == LARGE_TABLE.min_histogram_bins == 4
    # where the noise allows more bins, the noise rule decides, not the floor
    assert _auto_bins(384, 2, 1.0) == 24
    assert _auto_bins(384, 2, 0.0) == 64  # exact statistics (non-private)


def test_options_the_user_sets_win_over_the_regime() -> None:
    config = TabularTrainingConfig().with_overrides(
        {"preprocessing_share": 0.2, "hidden_width": 256, "n_blocks": 3, "steps": 40}
    )
    resolved = config.resolve(n_records=150, epsilon=1.0, max_steps=None)
    assert (resolved.preprocessing_share, resolved.hidden_width, resolved.n_blocks) == (0.2, 256, 3)
    assert resolved.steps == 40
    assert resolved.resolve(n_records=50_000, epsilon=1.0, max_steps=10).steps == 10


def test_resolving_twice_keeps_the_first_choices() -> None:
    # a resumed or reloaded run re-resolves a resolved config: it must not switch regime
    small = TabularTrainingConfig().resolve(n_records=150, epsilon=3.0, max_steps=None)
    again = small.resolve(n_records=50_000, epsilon=3.0, max_steps=None)
    assert again == small


def test_invalid_regime_options_are_refused() -> None:
    for bad in ({"preprocessing_share": 1.0}, {"hidden_width": 4}, {"n_blocks": 0}):
        with pytest.raises(ConfigurationError):
            TabularTrainingConfig().with_overrides(bad).validate()
