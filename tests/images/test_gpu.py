"""CUDA paths (skipped without a GPU): bf16 autocast training, exact float32 clipping,
sampling on the device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synthgen.requests import SampleOptions, TrainRequest
from tests.images.conftest import TINY

# Without CUDA these tests report as skipped, never as passed: a CPU-only CI run says that
# the GPU paths went unchecked. Run them on a GPU machine with `pytest -m gpu`.
NO_CUDA = ("needs CUDA: bf16 training, float32 clipping and sampling on the device are "
           "checked only on a GPU machine (pytest -m gpu)")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)]


def test_train_and_sample_on_cuda_with_mixed_precision(tiny_npz: Path, tmp_path: Path) -> None:
    import numpy as np
    from safetensors.torch import load_file

    from synthgen.artifacts import WEIGHTS, read_provenance
    from synthgen.images.sample import sample_images
    from synthgen.images.train import train_images
    from synthgen.images.trainer import autocast_dtype

    # the setting really is bf16 autocast on this device (not float32 under another name)
    assert autocast_dtype("bf16", torch.device("cuda")) is torch.bfloat16
    for mode in ("vmap", "hooks"):
        out = tmp_path / mode
        result = train_images(TrainRequest(source=tiny_npz, epsilon=10.0, out=out, max_steps=3, overrides={**TINY, "device": "cuda", "mixed_precision": "bf16",
                                         "per_example_gradients": mode}))
        assert result.certificate.steps == 3
        assert 0 < result.certificate.epsilon <= 10.0
        # the device is in the private provenance (run.json holds public values only)
        assert read_provenance(result.private_dir)["device"].startswith("cuda")
        # the weights are written in float32 (autocast only changes the arithmetic) and finite
        weights = load_file(str(out / WEIGHTS))
        assert weights and all(w.dtype == torch.float32 for w in weights.values())
        assert all(torch.isfinite(w).all() for w in weights.values())
        path = sample_images(out, SampleOptions(rows=9), out=tmp_path / f"{mode}.npz", batch_size=4)
        with np.load(path) as f:
            images, labels = f["images"], f["labels"]
        assert images.shape == (9, 28, 28) and images.dtype == np.uint8
        assert images.std() > 0  # not a constant image (NaNs from bf16 would give one)
        assert len(labels) == 9 and set(labels.ravel().tolist()) <= {0, 1}


def test_per_example_gradients_match_on_cuda() -> None:
    from synthgen.images.per_example import VmapPerExampleGradients
    from tests.images.test_privacy import EDM, assert_matches_reference, draws_for, tiny_denoiser
    from tests.support.per_example_reference import reference_per_example_gradients

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
    from synthgen.evaluate.images.classifier import roc_auc, train_classifier
    from synthgen.images.data import ImageSet
    from tests.images.conftest import two_class_images

    train = ImageSet(*two_class_images(200, 1))
    test_images, test_labels = two_class_images(100, 2)
    clf = train_classifier(train, num_classes=2, steps=150, shift=2, pixel_noise=0.05)
    assert clf.model.blur_kernel.device.type == "cuda"
    proba = clf.predict_proba(test_images)  # uint8 numpy in, numpy out
    assert proba.shape == (100, 2)
    assert roc_auc(test_labels, proba) > 0.95
