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

from synthgen.evaluate.images.inputs import ImageInputs, ImageMetric
from synthgen.evaluate.metric import MetricResult

MANIFOLD = ("precision", "recall", "density", "coverage")


class FrechetClassifierDistance(ImageMetric):
    name = "image_frechet_distance"
    title = "Fréchet distance to the training images (features of a CNN trained on them)"
    family = "fidelity"
    direction = "lower_is_better"
    bounds = (0.0, math.inf)
    ideal = 0.0
    description = "Fréchet distance between Gaussians fitted to CNN features of the training and the synthetic images"

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        from synthgen.images.metrics.frechet import frechet_distance

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
        from synthgen.images.metrics.coverage import manifold_metrics

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
