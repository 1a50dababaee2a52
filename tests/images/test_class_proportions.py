"""The DP class proportions an image model samples by default keep every class.

At epsilon 1 the class histogram's noise is as large as the classes (BreastMNIST: every
synthetic image of one class, docs/research/2026-12-05-patient-level-images.md); the
proportions are post-processed like a table's (synthgen/privacy/class_shares.py).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from synthgen.images.data import ImageSet
from synthgen.images.run_plan import class_proportions
from synthgen.images.spec import ImageSpec
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.class_shares import sampling_shares
from synthgen.privacy.mechanisms import project_to_simplex


class _FixedNoise:
    """Noise that pushes the first class up and the second down by ``shift`` noise stds."""

    def __init__(self, shift: float) -> None:
        self.shift = shift

    def gaussian(self, n: int, std: float) -> np.ndarray:
        return np.array([self.shift * std, -self.shift * std])[:n]


def _proportions(noise: _FixedNoise, epsilon: float) -> tuple[list[float], dict]:
    labels = np.array([0] * 30 + [1] * 10)
    train = ImageSet(np.zeros((40, 28, 28), dtype=np.uint8), labels)
    recipe = SimpleNamespace(
        source=SimpleNamespace(class_proportions=None),
        training=SimpleNamespace(class_count_epsilon_share=0.02),
    )
    return class_proportions(
        train,
        ImageSpec(28, 1, ("a", "b")),
        recipe,
        epsilon=epsilon,
        delta=1e-5,
        accountant=RunAccountant(),
        noise=noise,
        private_training=True,
    )


def test_noise_that_buries_a_class_still_leaves_it_a_share() -> None:
    shares, info = _proportions(_FixedNoise(1.0), epsilon=1.0)
    std = info["noise_std"]
    assert std > 40  # the noise is larger than all 40 images: the setting of the bug
    # ground truth: the noisy histogram, projected, then shrunk by its noise share
    noisy = np.array([30 + std, 10 - std])
    projected = project_to_simplex(noisy, total=max(noisy.sum(), 1.0))
    assert projected[1] == 0.0  # the projection alone gave class b no images
    expected = sampling_shares(projected, cell_noise_std=std).shares
    assert shares == pytest.approx(expected.tolist())
    assert min(shares) >= 0.01 and sum(shares) == pytest.approx(1.0)
    assert "shrunk toward uniform" in info["class_proportions_rule"]


def test_a_large_budget_keeps_the_measured_balance() -> None:
    shares, info = _proportions(_FixedNoise(0.0), epsilon=1e6)
    assert info["noise_std"] < 0.1
    assert shares == pytest.approx([0.75, 0.25], abs=0.01)
