"""The model as a classifier: paired denoising errors per class, on known denoisers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.image_studies.class_signal import class_signal, denoising_errors
from synthgen.evaluate.images.classifier import roc_auc
from synthgen.images.edm import EDMConfig
from synthgen.requests import TrainRequest
from tests.images.conftest import TINY, two_class_images


class TemplateDenoiser(nn.Module):
    """Predicts the clean image as its label's template, whatever the input: the ideal
    denoiser of a dataset whose classes are single images."""

    def __init__(self, templates: torch.Tensor, use_label: bool = True):
        super().__init__()
        self.templates, self.use_label, self.cfg = templates, use_label, EDMConfig()

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.templates[labels if self.use_label else torch.zeros_like(labels)]


def _templates_and_images() -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    from synthgen.images.data import to_model_range

    images, labels = two_class_images(40, 3)
    x = to_model_range(images)
    templates = torch.stack([x[labels.reshape(-1) == c].mean(0) for c in (0, 1)])
    return templates, images, labels.reshape(-1)


def test_the_right_class_has_the_smaller_denoising_error() -> None:
    templates, images, labels = _templates_and_images()
    errors = denoising_errors(TemplateDenoiser(templates), images, 2, draws=4, batch=16)
    assert errors.shape == (40, 2)
    assert (errors.argmin(axis=1) == labels).all()
    assert roc_auc(labels, -errors) == 1.0


def test_the_classes_see_the_same_draws() -> None:
    templates, images, _ = _templates_and_images()
    blind = denoising_errors(TemplateDenoiser(templates, use_label=False), images, 2, draws=3)
    # a denoiser that ignores the label gives every class the very same error
    assert np.array_equal(blind[:, 0], blind[:, 1])
    again = denoising_errors(TemplateDenoiser(templates, use_label=False), images, 2, draws=3)
    assert np.array_equal(blind, again)  # seeded


@pytest.mark.slow
def test_class_signal_reads_a_trained_model_and_its_real_splits(tiny_npz: Path, tmp_path: Path) -> None:
    from synthgen.images.train import train_images

    train_images(TrainRequest(
        source=tiny_npz, epsilon=10.0, out=tmp_path / "model", max_steps=2, overrides={**TINY,
        "class_proportions": [0.5, 0.5]},
    ))
    rows = class_signal(tmp_path / "model", draws=2, sigma_ranges=((0.1, 5.0), (1.0, 10.0)),
                        log=lambda _: None)
    assert [r["sigma_range"] for r in rows] == [[0.1, 5.0], [1.0, 10.0]]
    for row in rows:
        assert 0.0 <= row["auc_holdout"] <= 1.0 and 0.0 <= row["auc_test"] <= 1.0
