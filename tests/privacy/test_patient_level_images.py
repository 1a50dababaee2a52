"""Patient-level DP-SGD for images against ground truth: a patient is one example, its
gradient is that of the mean loss over its real images' K draws each (padding weighs 0),
and it is clipped once, so a patient with k images moves the summed clipped gradient by at
most C, as a patient with one image does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from synthgen.images.data import ImageSet
from synthgen.images.edm import EDMConfig, TrainingDraws, loss_per_row
from synthgen.images.patients import PatientImageDataset, training_draws
from synthgen.images.per_example import VmapPerExampleGradients
from synthgen.images.trainer import fold_per_example_gradients
from tests.images.conftest import two_class_images
from tests.images.test_privacy import tiny_denoiser

EDM = EDMConfig()
K = 2
# patient 0: one image; patient 1: three near-copies of one image (the worst case: their
# gradients point the same way, so clipping them one by one would add up to about 3C)
GROUPS = [[0], [1, 2, 3]]


def _patients() -> PatientImageDataset:
    images, labels = two_class_images(4, seed=3)
    images[2] = images[1]
    images[3] = np.clip(images[1].astype(int) + 3, 0, 255).astype(np.uint8)
    labels[2:] = labels[1]
    return PatientImageDataset(ImageSet(images, labels), GROUPS)


def _draws(data: PatientImageDataset) -> tuple[TrainingDraws, int, torch.Tensor]:
    draws, rows, weight = training_draws(
        data.__getitems__([0, 1]), multiplicity=K, edm=EDM, null_label=2,
        generator=torch.Generator().manual_seed(5), augment="none", device="cpu",
    )
    assert weight is not None
    return draws, rows, weight


def _rows(draws: TrainingDraws, index: list[int]) -> TrainingDraws:
    i = torch.tensor(index)
    return TrainingDraws(x=draws.x[i], labels=draws.labels[i], sigma=draws.sigma[i],
                         noise=draws.noise[i])


def _flat_grad(model: torch.nn.Module, loss: torch.Tensor) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def _direct_patient_gradients(model: torch.nn.Module, draws: TrainingDraws, k: int) -> list[torch.Tensor]:
    """Ground truth: each patient's own backward pass over its real images' K draws only
    (no padding, no weights): row (i*k + j)*K + c is draw c of image j of patient i."""
    out = []
    for i, rows in enumerate(GROUPS):
        index = [(i * k + j) * K + c for j in range(len(rows)) for c in range(K)]
        out.append(_flat_grad(model, loss_per_row(model, _rows(draws, index), EDM.sigma_data).mean()))
    return out


def _per_example_rows(model: torch.nn.Module, b: int) -> torch.Tensor:
    return torch.cat([p.grad_sample.reshape(b, -1) for p in model.parameters()], dim=1)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["vmap", "hooks"])
def test_patient_gradient_is_its_images_mean_loss_gradient(mode: str) -> None:
    data = _patients()
    assert data.records_per_example == 3 and len(data) == 2
    model = tiny_denoiser()
    draws, rows_per_example, weight = _draws(data)
    assert rows_per_example == 3 * K and draws.x.shape[0] == 2 * 3 * K
    want = _direct_patient_gradients(model, draws, k=3)
    if mode == "vmap":
        VmapPerExampleGradients(model, sigma_data=EDM.sigma_data)(
            draws, batch_size=2, multiplicity=rows_per_example, row_weight=weight)
        got = _per_example_rows(model, 2)
    else:
        from opacus import GradSampleModule

        gsm = GradSampleModule(model, batch_first=True, loss_reduction="mean")
        (loss_per_row(gsm, draws, EDM.sigma_data) * weight).mean().backward()
        fold_per_example_gradients(gsm, batch_size=2, multiplicity=rows_per_example)
        got = _per_example_rows(model, 2)
        gsm._close()
    assert got.shape[0] == 2  # one row per patient, never one per image
    for i in range(2):
        assert float((got[i] - want[i]).norm() / want[i].norm()) < 1e-5, i


def _clipped_sum(rows: list[torch.Tensor], c: float) -> torch.Tensor:
    return sum((g * min(1.0, c / float(g.norm())) for g in rows), torch.zeros_like(rows[0]))


def test_each_patient_moves_the_clipped_sum_by_at_most_c_and_per_image_clipping_would_not() -> None:
    data = _patients()
    model = tiny_denoiser()
    draws, rows_per_example, weight = _draws(data)
    VmapPerExampleGradients(model, sigma_data=EDM.sigma_data)(
        draws, batch_size=2, multiplicity=rows_per_example, row_weight=weight)
    rows = list(_per_example_rows(model, 2))
    c = 0.05 * min(float(g.norm()) for g in rows)  # every patient is clipped
    both = _clipped_sum(rows, c)
    for i in range(2):  # D plus patient i against D without it
        without = _clipped_sum([rows[j] for j in range(2) if j != i], c)
        assert float((both - without).norm()) <= c * (1 + 1e-5), i
    # the check can fail: clipping patient 1's three images one by one moves the sum by
    # far more than C (their gradients point the same way)
    per_image = [
        _flat_grad(model, loss_per_row(model, _rows(draws, [(3 + j) * K + d for d in range(K)]),
                                       EDM.sigma_data).mean())
        for j in range(3)
    ]
    assert float(_clipped_sum(per_image, c).norm()) > 2 * c


@pytest.mark.parametrize("mode", ["vmap", "hooks"])
def test_optimizer_clips_one_row_per_sampled_patient(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Through the trainer: Opacus clips as many rows as patients were sampled (q = 1)."""
    from synthgen.images.config import TrainingConfig
    from synthgen.images.trainer import new_state, train_private
    from synthgen.privacy.accountant import RunAccountant
    from synthgen.privacy.secure_random import NoiseSource
    from tests.images.test_privacy import _spy_on_clipping

    seen: list[dict[str, Any]] = []
    _spy_on_clipping(monkeypatch, seen)
    data = _patients()
    cfg = TrainingConfig(batch_size=2, noise_multiplicity=K, max_grad_norm=1e-3, physical_rows=64,
                         per_example_gradients=mode, secure_rng=False, warmup_steps=1)
    state = new_state(tiny_denoiser(), cfg, seed=0)
    accountant = RunAccountant()
    train_private(state, data, cfg=cfg, edm=EDM, noise_multiplier=1.0, steps=1,
                  accountant=accountant, noise=NoiseSource(secure=False),
                  device=torch.device("cpu"), on_step=lambda r: False, public_record_count=2)
    assert [s["rows"] for s in seen] == [2]  # two patients, four images
    assert float(seen[0]["clipped_norms"].max()) <= 1e-3 * (1 + 1e-4)
    assert accountant.sgd_history[0][1] == 1.0  # the patients' sample rate: 2 of 2


# -- neighbouring datasets: D and D plus one patient with k images --------------------------------
def _patient_folders(root: Any, extra: bool) -> Any:
    from PIL import Image

    images, labels = two_class_images(24, seed=4)
    for i, (image, label) in enumerate(zip(images, labels.reshape(-1), strict=True)):
        folder = root / ("left" if label == 0 else "right") / f"patient{i // 3:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"img{i:03d}.png")
    if extra:  # one more patient, with three images of extreme values (all white)
        folder = root / "right" / "zzz_patient"
        folder.mkdir(parents=True)
        for j in range(3):
            Image.fromarray(np.full((28, 28), 255 - j, np.uint8)).save(folder / f"x{j}.png")
    return root


@pytest.mark.slow
def test_images_plus_one_patient_change_nothing_deterministically(tmp_path: Any) -> None:
    from synthgen.images.train import train_images
    from synthgen.requests import TrainRequest
    from tests.images.conftest import TINY
    from tests.privacy.test_neighbouring import _check, _train_four

    base = _patient_folders(tmp_path / "src_d", extra=False)
    plus_one = _patient_folders(tmp_path / "src_e", extra=True)

    def train(source: Any, out: Any) -> None:
        train_images(TrainRequest(
            source=source, epsilon=4.0, out=out, seed=2, max_steps=2, overrides=TINY,
            entity="folder", max_records_per_entity=3,
        ))

    dirs = _train_four(train, base, plus_one, tmp_path)
    cert = (dirs[0] / "certificate.json").read_text()
    assert '"unit": "patient"' in cert and "patient" not in (dirs[0] / "spec.json").read_text()
    _check(dirs)
