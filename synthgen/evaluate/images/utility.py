"""Utility of synthetic images: train on synthetic, test on real (TSTR), against the same
CNN trained on the real training images (TRTR).

The protocol is fixed in advance (``ImageValidationOptions``): the small CNN of
``classifier``, a step count set by the size of its training set,
``tstr_networks`` CNNs with different seeds on the synthetic images and ``trtr_networks``
on the real training images (the first of which is the feature CNN of the Frechet
distance), class probabilities averaged over each ensemble. One CNN trained on weakly
conditional synthetic images is unstable (seed-to-seed AUCs of 0.50-0.70 were measured on
one BreastMNIST model, docs/research/2026-12-03-image-cpu-benchmark-before-the-critic.md), hence the ensemble. Both sides are tested on the
official test split when the source has one, else on the holdout, which neither saw.

The metric is ROC AUC(TSTR) / ROC AUC(TRTR), the tabular definition (Esteban, Hyland and
Rätsch 2017); one-vs-rest AUC averaged over classes when there are more than two.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.evaluate.images.inputs import ImageInputs, ImageMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.privacy.membership import auc_standard_error
from synthgen.images.data import ImageSet


class TrainSyntheticTestRealImages(ImageMetric):
    name = "image_tstr_auc_ratio"
    title = "Utility: ROC AUC of a CNN trained on synthetic / on real images"
    family = "utility"
    direction = "higher_is_better"
    bounds = (0.0, 2.0)
    ideal = 1.0
    description = "ROC AUC on the real test split of CNNs trained on the synthetic images, over that of CNNs trained on the real training images"

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        from synthgen.evaluate.images.classifier import accuracy, roc_auc

        test = inputs.evaluation
        if inputs.spec.num_classes < 2:
            return self.unavailable("the model has a single class")
        if len(np.unique(test.labels)) < 2:
            return self.unavailable(f"the real {inputs.evaluation_name} split holds a single class")
        if len(np.unique(inputs.synthetic.labels)) < 2:
            return self.unavailable("the synthetic images hold a single class")
        rows: list[dict[str, Any]] = []
        auc: dict[str, float] = {}
        for trained_on, images, networks in (
            ("real", inputs.train, inputs.options.trtr_networks),
            ("synthetic", inputs.synthetic, inputs.options.tstr_networks),
        ):
            probas = _ensemble(inputs, images, trained_on, networks)
            proba = np.mean(probas, axis=0)
            auc[trained_on] = roc_auc(test.labels, proba)
            rows.append(
                {
                    "trained_on": trained_on,
                    "images": len(images),
                    "networks": networks,
                    "steps": inputs.options.cnn_steps(len(images)),
                    "roc_auc": auc[trained_on],
                    "standard_error": _standard_error(auc[trained_on], test.labels),
                    "accuracy": accuracy(test.labels, proba),
                    "single_network_roc_auc": [roc_auc(test.labels, p) for p in probas],
                }
            )
        return self.result(
            auc["synthetic"] / max(auc["real"], 1e-9),
            details={
                "rows": rows,
                "tested_on": inputs.evaluation_name,
                "n_test": len(test),
                "test_class_counts": test.class_counts(inputs.spec.num_classes).tolist(),
                "cnn_width": inputs.options.cnn_width,
                "cnn_shift": inputs.options.cnn_shift,
            },
        )


def _ensemble(
    inputs: ImageInputs, images: ImageSet, trained_on: str, networks: int
) -> list[np.ndarray]:
    """Class probabilities on the test images of ``networks`` CNNs trained on ``images``."""
    probas = []
    for r in range(networks):
        if trained_on == "real" and r == 0:
            clf = inputs.feature_classifier()  # the same recipe and seed: trained once
        else:
            offset = 0 if trained_on == "real" else 500
            clf = inputs.train_cnn(images, seed=inputs.seed * 1000 + offset + r)
        probas.append(clf.predict_proba(inputs.evaluation))
    return probas


def _standard_error(auc: float, labels: np.ndarray) -> float | None:
    """Hanley-McNeil standard error for a binary task; None for more classes."""
    classes = np.unique(labels)
    if len(classes) != 2 or not np.isfinite(auc):
        return None
    positive = int((labels == classes[1]).sum())
    return auc_standard_error(auc, positive, len(labels) - positive)
