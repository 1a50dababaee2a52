"""Utility: train on synthetic, test on real (TSTR), next to train on real (TRTR).

Protocol, the same for every model: one SmallCNN recipe on both sides (small random shifts
as augmentation), ``repeats`` networks with different seeds, their class probabilities
averaged (an ensemble). A single CNN trained on
weakly conditional synthetic images is unstable: on one BreastMNIST model the AUCs of three
seeds were 0.70, 0.50 and 0.63; averaging removes most of that evaluation noise, so the
number measures the data rather than the classifier's luck.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from synthgen.errors import InsufficientData
from synthgen.images.data import ImageSet
from synthgen.images.metrics.base import ImageMetric, MetricResult, RealImages
from synthgen.images.metrics.classifier import (
    TrainedClassifier,
    accuracy,
    roc_auc,
    train_classifier,
)


@dataclass(frozen=True)
class DownstreamRecipe:
    """How the downstream CNNs train, the same on both sides: ``shift`` pixels of random
    translation, ``label_smoothing``, Gaussian ``pixel_noise`` (model range) and a fixed
    ``input_blur`` (pixels) in front of the network (``train_classifier``)."""

    shift: int = 0
    label_smoothing: float = 0.0
    pixel_noise: float = 0.0
    input_blur: float = 0.0

    def options(self) -> dict[str, Any]:
        return asdict(self)


# Random translation of up to 2 px while the CNNs train, on both sides. Chosen on the holdout
# (official validation split), not the test split, by ``benchmarks/images_cpu.py
# --utility-study`` on the 2026-12-03 benchmark model (2 seeds x 3 CNNs): TSTR AUC 0.716 ->
# 0.738, TRTR 0.950 -> 0.978; balanced synthetic classes changed nothing (0.718). A second
# study (label smoothing, pixel noise, input blur, half or double the steps) found nothing
# that passed the same rule (docs/research/2026-12-03-image-downstream-protocol-and-class-signal.md).
DOWNSTREAM_RECIPE = DownstreamRecipe(shift=2)


def train_ensemble(train: ImageSet, *, num_classes: int, seed: int, repeats: int, steps: int,
                   width: int = 16, recipe: DownstreamRecipe = DownstreamRecipe()
                   ) -> list[TrainedClassifier]:
    """``repeats`` CNNs on ``train``, seeded ``seed * 1000 + r``."""
    return [train_classifier(train, num_classes=num_classes, seed=seed * 1000 + r, steps=steps,
                             width=width, **recipe.options()) for r in range(repeats)]


def ensemble_proba(train: ImageSet, test: ImageSet, *, num_classes: int, seed: int, repeats: int,
                   steps: int, width: int, recipe: DownstreamRecipe = DownstreamRecipe()
                   ) -> tuple[np.ndarray, list[float]]:
    """Mean class probabilities of ``repeats`` CNNs on ``test``, and each CNN's AUC."""
    probas = [clf.predict_proba(test) for clf in train_ensemble(
        train, num_classes=num_classes, seed=seed, repeats=repeats, steps=steps, width=width,
        recipe=recipe)]
    return np.mean(probas, axis=0), [roc_auc(test.labels, p) for p in probas]


class TrainSyntheticTestReal(ImageMetric):
    """CNNs trained on the synthetic images, scored on the real test split."""

    name = "tstr"
    higher_is_better = True

    def __init__(self, *, steps: int = 1200, width: int = 16, repeats: int = 3,
                 recipe: DownstreamRecipe = DOWNSTREAM_RECIPE):
        self.steps, self.width, self.repeats, self.recipe = steps, width, repeats, recipe

    def compute(self, real: RealImages, synthetic: ImageSet) -> list[MetricResult]:
        if len(synthetic) == 0 or len(set(synthetic.labels.tolist())) < 2:
            raise InsufficientData("TSTR needs synthetic images of at least two classes")
        test = real.evaluation_set
        proba, single = ensemble_proba(synthetic, test, num_classes=real.num_classes,
                                       seed=real.seed, repeats=self.repeats, steps=self.steps,
                                       width=self.width, recipe=self.recipe)
        details = {"n_synthetic": len(synthetic), "n_test": len(test), "repeats": self.repeats,
                   **self.recipe.options(), "single_network_roc_auc": single}
        return [
            MetricResult("tstr_roc_auc", roc_auc(test.labels, proba), True, details),
            MetricResult("tstr_accuracy", accuracy(test.labels, proba), True, details),
        ]


class TrainRealTestReal(ImageMetric):
    """Reference: the same protocol on the real training split (what TSTR aims at)."""

    name = "trtr"
    higher_is_better = None

    def __init__(self, *, steps: int = 1200, width: int = 16, repeats: int = 3,
                 recipe: DownstreamRecipe = DOWNSTREAM_RECIPE):
        self.steps, self.width, self.repeats, self.recipe = steps, width, repeats, recipe

    def compute(self, real: RealImages, synthetic: ImageSet | None = None) -> list[MetricResult]:
        test = real.evaluation_set
        proba, single = ensemble_proba(real.train, test, num_classes=real.num_classes,
                                       seed=real.seed, repeats=self.repeats, steps=self.steps,
                                       width=self.width, recipe=self.recipe)
        details = {"n_train": len(real.train), "n_test": len(test), "repeats": self.repeats,
                   **self.recipe.options(), "single_network_roc_auc": single}
        return [
            MetricResult("trtr_roc_auc", roc_auc(test.labels, proba), None, details),
            MetricResult("trtr_accuracy", accuracy(test.labels, proba), None, details),
        ]
