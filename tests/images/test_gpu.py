"""CUDA paths (skipped without a GPU): bf16 autocast training, exact float32 clipping,
sampling on the device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synthgen.requests import SampleOptions, TrainRequest
from tests.images.conftest import TINY

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_train_and_sample_on_cuda_with_mixed_precision(tiny_npz: Path, tmp_path: Path) -> None:
    import json

    import numpy as np

    from synthgen.images.sample import sample_images
    from synthgen.images.train import train_images

    for mode in ("vmap", "hooks"):
        out = tmp_path / mode
        result = train_images(TrainRequest(source=tiny_npz, epsilon=10.0, out=out, max_steps=3, overrides={**TINY, "device": "cuda", "mixed_precision": "bf16",
                                         "per_example_gradients": mode}))
        assert result.certificate.steps == 3
        run = json.loads((out / "run.json").read_text())
        assert run["device"].startswith("cuda")
        path = sample_images(out, SampleOptions(rows=9), out=tmp_path / f"{mode}.npz", batch_size=4)
        with np.load(path) as f:
            assert f["images"].shape == (9, 28, 28)


def test_per_example_gradients_match_on_cuda() -> None:
    from synthgen.images.per_example import VmapPerExampleGradients, reference_per_example_gradients
    from tests.images.test_privacy import EDM, assert_matches_reference, draws_for, tiny_denoiser

    model = tiny_denoiser().cuda()
    draws = draws_for(3, 4)
    draws.x, draws.sigma, draws.noise, draws.labels = (
        t.cuda() for t in (draws.x, draws.sigma, draws.noise, draws.labels))
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    reference = reference_per_example_gradients(model, draws, batch_size=3, multiplicity=4,
                                                sigma_data=EDM.sigma_data)
    VmapPerExampleGradients(model, sigma_data=EDM.sigma_data)(draws, batch_size=3, multiplicity=4)
    assert_matches_reference(model, reference)


def test_validation_classifier_trains_on_cuda_and_predicts_on_cpu_inputs() -> None:
    from synthgen.images.data import ImageSet
    from synthgen.images.metrics.classifier import roc_auc, train_classifier
    from tests.images.conftest import two_class_images

    train = ImageSet(*two_class_images(200, 1))
    test_images, test_labels = two_class_images(100, 2)
    clf = train_classifier(train, num_classes=2, steps=150, shift=2, pixel_noise=0.05)
    assert clf.model.blur_kernel.device.type == "cuda"
    proba = clf.predict_proba(test_images)  # uint8 numpy in, numpy out
    assert proba.shape == (100, 2)
    assert roc_auc(test_labels, proba) > 0.95
