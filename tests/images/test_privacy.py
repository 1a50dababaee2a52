"""The privacy-critical path: Opacus-compatible layers, per-example gradients with noise
multiplicity against ground truth, clipping of B rows (not B*K), empty Poisson batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from synthgen.images.config import TrainingConfig
from synthgen.images.data import ImageSet
from synthgen.images.edm import Denoiser, EDMConfig, draw_training_inputs
from synthgen.images.per_example import VmapPerExampleGradients
from synthgen.images.trainer import (
    ImageTensorDataset,
    fold_per_example_gradients,
    new_state,
    train_private,
)
from synthgen.images.unet import UNet, UNetConfig
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.secure_random import NoiseSource
from tests.images.conftest import TINY_MODEL, two_class_images
from tests.support.per_example_reference import reference_per_example_gradients

EDM = EDMConfig()


def tiny_denoiser(seed: int = 0, **overrides: object) -> Denoiser:
    torch.manual_seed(seed)
    cfg = UNetConfig.for_image(image_size=28, image_channels=1, num_classes=2,
                               **{**TINY_MODEL, **overrides})
    return Denoiser(UNet(cfg), EDM)


def draws_for(b: int, k: int, seed: int = 0):
    images, labels = two_class_images(b, seed)
    data = ImageTensorDataset(ImageSet(images, labels))
    x, y = data.__getitems__(list(range(b)))
    return draw_training_inputs(x, y, multiplicity=k, cfg=EDM, null_label=2,
                                generator=torch.Generator().manual_seed(seed))


def assert_matches_reference(model: torch.nn.Module, reference: list[dict[str, torch.Tensor]]) -> None:
    """Each example's whole gradient vector agrees with the reference to ~1e-5 (relative to
    that example's gradient), and every entry to 1e-5 of the largest entry."""
    names = [n for n, _ in model.named_parameters()]
    params = dict(model.named_parameters())
    for i, ref in enumerate(reference):
        got = torch.cat([params[n].grad_sample[i].reshape(-1) for n in names])  # type: ignore[attr-defined]
        want = torch.cat([ref[n].reshape(-1) for n in names])
        assert float((got - want).norm() / want.norm()) < 1e-5, i
        assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max()), i


@pytest.mark.parametrize("size,levels", [(28, 3), (64, 4)])
def test_unet_passes_opacus_strict_validation(size: int, levels: int) -> None:
    from opacus.validators import ModuleValidator

    small = {k: v for k, v in TINY_MODEL.items() if k != "channel_mult"}
    cfg = UNetConfig.for_image(image_size=size, image_channels=3, num_classes=5, **small)
    assert len(cfg.channel_mult) == levels and cfg.attention_levels == (levels - 1,)
    model = Denoiser(UNet(cfg), EDM)
    ModuleValidator.validate(model, strict=True)  # raises on any unsupported layer
    out = model(torch.randn(2, 3, size, size), torch.tensor([0.5, 5.0]), torch.tensor([0, 5]))
    assert out.shape == (2, 3, size, size)


def test_vmap_per_example_gradients_equal_manual_reference() -> None:
    b, k = 3, 4
    model = tiny_denoiser()
    draws = draws_for(b, k)
    reference = reference_per_example_gradients(model, draws, batch_size=b, multiplicity=k,
                                                sigma_data=EDM.sigma_data)
    losses = VmapPerExampleGradients(model, sigma_data=EDM.sigma_data)(
        draws, batch_size=b, multiplicity=k)
    assert losses.shape == (b,)
    for p in model.parameters():
        assert p.grad_sample.shape == (b, *p.shape)  # type: ignore[attr-defined]  # B rows, never B*K
    assert_matches_reference(model, reference)


@pytest.mark.slow
def test_hooks_with_fold_equal_manual_reference() -> None:
    from opacus import GradSampleModule

    from synthgen.images.edm import loss_per_row

    b, k = 3, 4
    model = tiny_denoiser()
    draws = draws_for(b, k)
    reference = reference_per_example_gradients(model, draws, batch_size=b, multiplicity=k,
                                                sigma_data=EDM.sigma_data)
    gsm = GradSampleModule(model, batch_first=True, loss_reduction="mean")
    loss_per_row(gsm, draws, EDM.sigma_data).mean().backward()
    assert next(iter(model.parameters())).grad_sample.shape[0] == b * k  # type: ignore[attr-defined]
    fold_per_example_gradients(gsm, batch_size=b, multiplicity=k)
    assert_matches_reference(model, reference)
    gsm._close()


def _spy_on_clipping(monkeypatch: pytest.MonkeyPatch, seen: list[dict[str, Any]]) -> None:
    from opacus.optimizers import DPOptimizer

    original = DPOptimizer.clip_and_accumulate

    def spy(self: DPOptimizer) -> None:
        grads = self.grad_samples
        rows = len(grads[0])
        norms = (torch.stack([g.reshape(rows, -1).norm(dim=1) for g in grads], dim=1).norm(dim=1)
                 if rows else torch.zeros(0))
        factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        seen.append({"rows": rows, "clipped_norms": norms * factor, "raw_norms": norms})
        original(self)

    monkeypatch.setattr(DPOptimizer, "clip_and_accumulate", spy)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["vmap", "hooks"])
def test_optimizer_clips_one_row_per_example(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    seen: list[dict[str, Any]] = []
    _spy_on_clipping(monkeypatch, seen)
    images, labels = two_class_images(40, 0)
    data = ImageTensorDataset(ImageSet(images, labels))
    k, max_norm = 4, 1e-3  # tiny C: every example is clipped
    cfg = TrainingConfig(batch_size=12, noise_multiplicity=k, max_grad_norm=max_norm,
                         physical_rows=20, secure_rng=False, per_example_gradients=mode)
    masks = iter([np.arange(40) < 12])  # one Poisson batch of 12 examples
    monkeypatch.setattr(NoiseSource, "poisson_mask", lambda self, n, rate: next(masks))
    state = new_state(tiny_denoiser(), cfg, seed=0)
    accountant = RunAccountant()
    train_private(state, data, cfg=cfg, edm=EDM, noise_multiplier=1.0, steps=1,
                  accountant=accountant, noise=NoiseSource(secure=False),
                  device=torch.device("cpu"), on_step=lambda r: False,
                  public_record_count=len(data))
    # 12 examples in physical batches of at most 20 // K = 5 examples: the optimizer clips
    # 12 rows in all (one per example), never 12 * K
    rows = [s["rows"] for s in seen]
    assert sum(rows) == 12 and len(rows) == 3 and max(rows) <= 5
    for s in seen:
        assert float(s["raw_norms"].min()) > max_norm
        assert float(s["clipped_norms"].max()) <= max_norm
    assert accountant.sgd_steps == 1 and state.step == 1


def test_empty_poisson_batch_steps_and_is_accounted(monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = two_class_images(16, 0)
    data = ImageTensorDataset(ImageSet(images, labels))
    cfg = TrainingConfig(batch_size=4, noise_multiplicity=2, secure_rng=False)
    masks = iter([np.zeros(16, bool), np.arange(16) < 3])
    monkeypatch.setattr(NoiseSource, "poisson_mask", lambda self, n, rate: next(masks))
    state = new_state(tiny_denoiser(), cfg, seed=0)
    before = [p.detach().clone() for p in state.denoiser.parameters()]
    accountant = RunAccountant()
    records: list[Any] = []

    def record(r: Any) -> bool:
        records.append(r)
        return False

    train_private(state, data, cfg=cfg, edm=EDM, noise_multiplier=2.0, steps=2,
                  accountant=accountant, noise=NoiseSource(secure=False),
                  device=torch.device("cpu"), on_step=record,
                  public_record_count=len(data))
    assert accountant.sgd_steps == 2 and [r.loss is None for r in records] == [True, False]
    moved = any(not torch.equal(a, p) for a, p in zip(before, state.denoiser.parameters(), strict=True))
    assert moved  # the noise-only step still updates the weights


def test_mixed_precision_per_example_gradients_are_float32() -> None:
    b, k = 2, 2
    model = tiny_denoiser()
    draws = draws_for(b, k)
    VmapPerExampleGradients(model, sigma_data=EDM.sigma_data, autocast_dtype=torch.bfloat16)(
        draws, batch_size=b, multiplicity=k)
    for p in model.parameters():
        gs = p.grad_sample  # type: ignore[attr-defined]
        assert gs.dtype == torch.float32 and torch.isfinite(gs).all()


def test_training_leaves_no_opacus_state_on_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = two_class_images(16, 0)
    data = ImageTensorDataset(ImageSet(images, labels))
    cfg = TrainingConfig(batch_size=4, noise_multiplicity=2, secure_rng=False)
    state = new_state(tiny_denoiser(), cfg, seed=0)
    train_private(state, data, cfg=cfg, edm=EDM, noise_multiplier=1.0, steps=1,
                  accountant=RunAccountant(), noise=NoiseSource(secure=False),
                  device=torch.device("cpu"), on_step=lambda r: False,
                  public_record_count=len(data))
    assert all(not hasattr(p, "grad_sample") for p in state.denoiser.parameters())
    # a second session (resume) can wrap the same model again
    train_private(state, data, cfg=cfg, edm=EDM, noise_multiplier=1.0, steps=1,
                  accountant=RunAccountant(), noise=NoiseSource(secure=False),
                  device=torch.device("cpu"), on_step=lambda r: False,
                  public_record_count=len(data))
    assert state.step == 2
