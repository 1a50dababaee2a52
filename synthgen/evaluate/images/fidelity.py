"""Fidelity of synthetic images in the feature space of a CNN trained on the real
training images (the TRTR reference network; Inception would need a download, and
MedMNIST images are far from ImageNet).

- ``image_frechet_distance``: FID's formula on those features, synthetic against the
  training images. The report puts it next to the distance of the fresh real images (the
  test split, else the holdout) from the training images: the floor synthetic data can
  reach. Both are biased upwards by small samples (the covariances of 64 features from a
  few hundred images), the floor more so, so the two are not directly comparable and no
  threshold is applied by default.
- ``image_precision`` / ``image_recall`` (Kynkäänniemi et al. 2019) and ``image_density``
  / ``image_coverage`` (Naeem et al. 2020): k-nearest-neighbour manifolds (k = 5) of the
  training and the synthetic features. Precision and density say whether synthetic images
  look real; recall and coverage whether they span the real variety. The same numbers for
  the fresh real images are reported next to them; recall and coverage grow with the
  number of images compared, so only precision and density compare directly.

No population-independent threshold exists for these numbers: they are reported ("info")
for the steward to read against the real reference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from synthgen.evaluate.images.inputs import ImageInputs, ImageMetric
from synthgen.evaluate.metric import MetricResult


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to feature rows ``a`` and ``b``:
    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2). The middle
    matrix is symmetric, so its square root comes from a stable eigendecomposition."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mean_gap = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(mean_gap @ mean_gap + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(squared, 0, None))


def manifold_metrics(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` feature rows against ``real``
    ones, each manifold the union of balls reaching every point's k-th nearest neighbour."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)

    def radii(x: np.ndarray) -> np.ndarray:  # column 0 of the sorted row is the point itself
        return np.sort(_distances(x, x), axis=1)[:, min(k, len(x) - 1)]

    real_radius, fake_radius = radii(real), radii(fake)
    fake_to_real = _distances(fake, real)
    inside_real = fake_to_real <= real_radius[None, :]
    return {
        "precision": float(inside_real.any(axis=1).mean()),
        "recall": float((fake_to_real <= fake_radius[:, None]).any(axis=0).mean()),
        "density": float(inside_real.sum(axis=1).mean() / k),
        "coverage": float((fake_to_real.min(axis=0) <= real_radius).mean()),
    }


class FrechetClassifierDistance(ImageMetric):
    name = "image_frechet_distance"
    title = "Fréchet distance to the training images (features of a CNN trained on them)"
    family = "fidelity"
    direction = "lower_is_better"
    bounds = (0.0, math.inf)
    ideal = 0.0
    description = "Fréchet distance between Gaussians fitted to CNN features of the training and the synthetic images"

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        synthetic = inputs.features("synthetic")
        if len(synthetic) < 2:
            return self.unavailable("fewer than two synthetic images")
        train = inputs.features("train")
        evaluation = inputs.features("evaluation")
        reference = frechet_distance(train, evaluation) if len(evaluation) > 1 else None
        return self.result(
            frechet_distance(train, synthetic),
            details={
                "real_reference": reference,
                "reference_split": inputs.evaluation_name,
                "n_train": len(train),
                "n_synthetic": len(synthetic),
                "n_reference": len(evaluation),
                "feature_dimensions": int(train.shape[1]),
            },
        )


def manifold(inputs: ImageInputs) -> dict[str, Any]:
    """Precision, recall, density and coverage of the synthetic images and of the fresh
    real images, against the training images (computed once per run)."""
    key = ("manifold",)
    if key not in inputs._cache:
        k = inputs.options.neighbours
        train = inputs.features("train")
        synthetic = inputs.features("synthetic")
        evaluation = inputs.features("evaluation")
        inputs._cache[key] = {
            "synthetic": manifold_metrics(train, synthetic, k=k),
            "real_reference": manifold_metrics(train, evaluation, k=k),
            "k": k,
            "n_train": len(train),
            "n_synthetic": len(synthetic),
            "n_reference": len(evaluation),
            "reference_split": inputs.evaluation_name,
        }
    found: dict[str, Any] = inputs._cache[key]
    return found


class _ManifoldMetric(ImageMetric):
    family = "fidelity"
    direction = "higher_is_better"
    bounds = (0.0, 1.0)
    ideal = 1.0
    key = ""

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        if len(inputs.measured_synthetic()[0]) <= inputs.options.neighbours:
            return self.unavailable(f"at most {inputs.options.neighbours} synthetic images")
        m = manifold(inputs)
        details = {k: v for k, v in m.items() if k not in ("synthetic", "real_reference")}
        details["real_reference"] = m["real_reference"][self.key]
        return self.result(m["synthetic"][self.key], details=details)


class ImagePrecision(_ManifoldMetric):
    name = "image_precision"
    title = "Precision: share of synthetic images inside the real images' manifold"
    key = "precision"


class ImageRecall(_ManifoldMetric):
    name = "image_recall"
    title = "Recall: share of training images inside the synthetic images' manifold"
    key = "recall"


class ImageDensity(_ManifoldMetric):
    name = "image_density"
    title = "Density: real neighbourhoods per synthetic image, over k"
    bounds = (0.0, math.inf)
    key = "density"


class ImageCoverage(_ManifoldMetric):
    name = "image_coverage"
    title = "Coverage: share of training images with a synthetic image among their k neighbours"
    key = "coverage"
