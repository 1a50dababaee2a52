"""Frechet distance between Gaussians fitted to classifier features (FID's formula, with
a CNN trained on the real training split in place of Inception: MedMNIST images are far
from ImageNet, and Inception would need torchvision and a download)."""

from __future__ import annotations

import numpy as np

from synthgen.images.data import ImageSet
from synthgen.images.metrics.base import ImageMetric, MetricResult, RealImages


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), via the eigenvalues of
    S_a^(1/2) S_b S_a^(1/2) (symmetric, so the square root is stable)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ sb @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * trace_root)


class FrechetClassifierDistance(ImageMetric):
    name = "frechet_classifier_distance"
    higher_is_better = False
    bounds = (0.0, float("inf"))

    def compute(self, real: RealImages, synthetic: ImageSet) -> list[MetricResult]:
        clf = real.feature_classifier()
        reference = real.test if real.test is not None else real.holdout
        train_f = clf.features(real.train)
        value = frechet_distance(train_f, clf.features(synthetic))
        details: dict[str, float] = {}
        if reference is not None and len(reference) > 1:
            # the distance a fresh real sample has: the floor synthetic data can reach
            details["real_reference"] = frechet_distance(train_f, clf.features(reference))
        return [MetricResult(self.name, value, False, details)]
