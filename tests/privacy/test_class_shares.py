"""Class shares for sampling: noisy DP counts never lose a class; clear counts stay put."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.privacy.class_shares import (
    FLOOR_SHARE,
    apply_floor,
    noise_weight,
    rows_per_class,
    sampling_shares,
)


def test_sampling_shares_noisy_zero_class_gets_a_positive_share():
    # heart disease at epsilon 1: ~152 rows, count noise std ~150, the minority clipped to 0
    shares = sampling_shares(np.array([152.0, 0.0]), cell_noise_std=150.0)
    mass = 150.0 * np.sqrt(2)
    w = mass / (mass + 152.0)
    assert shares.noise_weight == pytest.approx(w)
    assert shares.shares == pytest.approx([(1 - w) + w / 2, w / 2])
    assert shares.shares[1] > 0.2  # noise-dominated counts say little about the balance
    assert rows_per_class(shares.shares, 150).min() > 0


def test_sampling_shares_large_clear_distribution_is_nearly_unchanged():
    counts = np.array([18_000.0, 6_000.0])  # Adult-sized, noise std ~20
    shares = sampling_shares(counts, cell_noise_std=20.0)
    assert shares.shares == pytest.approx([0.75, 0.25], abs=0.002)
    assert rows_per_class(shares.shares, 24_000).tolist() == pytest.approx([17_994, 6_006], abs=30)


def test_sampling_shares_without_noise_keeps_exact_counts_but_floors_an_empty_class():
    shares = sampling_shares(np.array([70.0, 30.0, 0.0]), cell_noise_std=0.0)
    assert shares.noise_weight == 0.0
    assert shares.shares[2] == pytest.approx(FLOOR_SHARE)
    assert shares.shares[:2] == pytest.approx(np.array([0.7, 0.3]) * (1 - FLOOR_SHARE))
    assert shares.shares.sum() == pytest.approx(1.0)


def test_sampling_shares_all_zero_counts_are_uniform():
    shares = sampling_shares(np.zeros(4), cell_noise_std=3.0)
    assert shares.noise_weight == 1.0
    assert shares.shares == pytest.approx([0.25] * 4)


def test_noise_weight_grows_with_noise_and_falls_with_the_total():
    assert noise_weight(100.0, 2, 0.0) == 0.0
    assert noise_weight(100.0, 2, 10.0) < noise_weight(100.0, 2, 50.0)
    assert noise_weight(1000.0, 2, 10.0) < noise_weight(100.0, 2, 10.0)


def test_apply_floor_many_small_classes():
    p = apply_floor(np.array([0.97, 0.01, 0.0, 0.0, 0.02]), 0.05)
    assert p.sum() == pytest.approx(1.0)
    assert p.min() == pytest.approx(0.05)
    assert p[0] == pytest.approx(1 - 4 * 0.05)  # every other class ended at the floor


def test_rows_per_class_gives_every_class_a_row_when_it_can():
    counts = rows_per_class(np.array([0.998, 0.001, 0.001]), 100)
    assert counts.tolist() == [98, 1, 1]
    assert rows_per_class(np.array([0.998, 0.001, 0.001]), 2).sum() == 2
    assert rows_per_class(np.array([0.5, 0.5]), 7).tolist() == [4, 3]
