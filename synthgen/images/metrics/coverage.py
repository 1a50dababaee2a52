"""k-NN manifold metrics in classifier feature space: precision and recall (Kynkaanniemi
et al. 2019), density and coverage (Naeem et al. 2020)."""

from __future__ import annotations

import numpy as np

from synthgen.images.data import ImageSet
from synthgen.images.metrics.base import ImageMetric, MetricResult, RealImages


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(d, 0, None))


def _kth_neighbour_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise(x, x)
    return np.sort(d, axis=1)[:, min(k, len(x) - 1)]  # column 0 is the point itself


def manifold_metrics(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real = _kth_neighbour_radius(real, k)
    r_fake = _kth_neighbour_radius(fake, k)
    d_fr = _pairwise(fake, real)  # [n_fake, n_real]
    inside_real = d_fr <= r_real[None, :]
    precision = float(inside_real.any(axis=1).mean())
    recall = float((r_fake[None, :] >= d_fr.T).any(axis=1).mean())
    density = float(inside_real.sum(axis=1).mean() / k)
    coverage = float((d_fr.min(axis=0) <= r_real).mean())
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


class ManifoldCoverage(ImageMetric):
    name = "manifold_coverage"
    higher_is_better = True

    def __init__(self, *, k: int = 5, max_synthetic: int = 5000, seed: int = 0):
        self.k, self.max_synthetic, self.seed = k, max_synthetic, seed

    def compute(self, real: RealImages, synthetic: ImageSet) -> list[MetricResult]:
        clf = real.feature_classifier()
        syn = synthetic
        if len(syn) > self.max_synthetic:
            idx = np.random.default_rng(self.seed).choice(len(syn), self.max_synthetic, replace=False)
            syn = syn.subset(np.sort(idx))
        values = manifold_metrics(clf.features(real.train), clf.features(syn), k=self.k)
        details = {"k": self.k, "n_synthetic": len(syn)}
        return [MetricResult(name, v, True, details) for name, v in values.items()]
