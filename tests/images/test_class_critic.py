"""The class critic: it learns the classes under DP, it is accounted exactly, and sampling
with it keeps the counts, stays reproducible and prefers the samples that show their class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synthgen.errors import SamplingError
from synthgen.evaluate.images.classifier import roc_auc
from synthgen.images.class_critic import (
    CRITIC_WEIGHTS,
    ClassCritic,
    load_critic,
    plan_critic,
    save_critic,
    select_by_margin,
    train_critic,
)
from synthgen.images.data import ImageSet
from synthgen.images.sample import ImageModel, labels_for_counts
from synthgen.images.train import train_images
from synthgen.privacy.accountant import RunAccountant, epsilon_for
from synthgen.privacy.secure_random import NoiseSource
from synthgen.requests import TrainRequest
from tests.images.conftest import TINY, two_class_images


def _images(n: int, seed: int) -> ImageSet:
    images, labels = two_class_images(n, seed)
    return ImageSet(images, labels.reshape(-1).astype(np.int64))


def _critic(epsilon: float, *, train: ImageSet, accountant: RunAccountant,
            steps: int = 150) -> tuple[ClassCritic, object]:
    plan = plan_critic(epsilon_share=0.25, epsilon=epsilon, delta=1e-5, n_train=len(train),
                       steps=steps, batch_size=64, private=True)
    critic = train_critic(plan, train=train, model_samples=_images(256, 9).images,
                          class_proportions=[0.5, 0.5], accountant=accountant,
                          noise=NoiseSource(secure=False), seed=0)
    return critic, plan


@pytest.mark.slow
def test_critic_learns_the_classes_under_dp_and_is_accounted_exactly() -> None:
    train, test = _images(400, 1), _images(200, 2)
    accountant = RunAccountant()
    critic, plan = _critic(8.0, train=train, accountant=accountant)
    auc = roc_auc(test.labels, np.exp(critic.class_scores(test.images)))
    assert auc > 0.95, auc
    # every planned step ran and was recorded with the planned noise and sample rate
    assert accountant.sgd_history == [(plan.noise_multiplier, plan.sample_rate, plan.steps)]
    spent = epsilon_for(accountant.sgd_history, delta=1e-5)
    assert 0.97 * 2.0 <= spent <= 2.0 + 1e-9  # its share: 0.25 of epsilon 8


@pytest.mark.slow
def test_random_features_are_fixed_and_not_learned(tmp_path: Path) -> None:
    a, b = ClassCritic(1, 2, 32), ClassCritic(1, 2, 32)
    for (name, pa), pb in zip(a.features.named_parameters(), b.features.parameters(), strict=True):
        assert torch.equal(pa, pb), name
        assert not pa.requires_grad
    accountant = RunAccountant()
    critic, _ = _critic(8.0, train=_images(200, 1), accountant=accountant, steps=20)
    for pa, pc in zip(a.features.parameters(), critic.features.parameters(), strict=True):
        assert torch.equal(pa, pc)  # DP-SGD moved only the head
    save_critic(critic, tmp_path)
    loaded = load_critic(tmp_path, {"width": critic.features.dim // 4}, channels=1, num_classes=2)
    probe = _images(30, 5).images
    assert np.array_equal(loaded.class_scores(probe), critic.class_scores(probe))


def test_selection_keeps_each_class_count_and_its_clearest_candidates() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    margins = np.array([0.1, 2.0, -1.0, 2.0, 5.0, -3.0, 0.0, 4.0, 1.0, 9.0])
    keep = select_by_margin(margins, labels, np.array([2, 3]))
    # class 0: margins 2.0 at 1 and 3 (a tie kept in candidate order); class 1: 9, 5, 4
    assert keep.tolist() == [1, 3, 4, 7, 9]
    with pytest.raises(SamplingError):
        select_by_margin(margins, labels, np.array([5, 1]))


@pytest.mark.slow
def test_log_prob_gradient_is_per_row_and_raises_the_label_probability() -> None:
    critic, _ = _critic(8.0, train=_images(300, 1), accountant=RunAccountant())
    probe = _images(12, 4)
    x = torch.as_tensor(probe.images, dtype=torch.float32)[:, None] / 127.5 - 1
    labels = 1 - torch.as_tensor(probe.labels)  # the wrong ones: log p is far from saturated
    grad = critic.log_prob_gradient(x, labels)
    assert grad.shape == x.shape
    alone = critic.log_prob_gradient(x[3:4], labels[3:4])
    torch.testing.assert_close(alone, grad[3:4], rtol=1e-3, atol=1e-5)  # rows do not mix

    def own_log_prob(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            z = (critic.features(images) - critic.mean) / critic.std
            log_p = torch.log_softmax(critic.head(z), dim=1)
        return log_p[torch.arange(len(labels)), labels]

    step = 1e-3 / grad.abs().amax()  # a small step up the gradient
    assert bool((own_log_prob(x + step * grad) > own_log_prob(x)).all())
    with torch.inference_mode():  # as in the samplers
        torch.testing.assert_close(critic.log_prob_gradient(x, labels), grad)


@pytest.fixture
def critic_model(tiny_npz: Path, tmp_path: Path) -> Path:
    out = tmp_path / "model"
    train_images(TrainRequest(
        source=tiny_npz, epsilon=8.0, out=out, max_steps=3, overrides={**TINY, "critic_steps": 40},
    ))
    return out


@pytest.mark.slow
def test_sampling_with_the_critic_is_exact_in_counts_and_batch_size_free(critic_model: Path) -> None:
    model = ImageModel.load(critic_model, device="cpu")
    assert model.critic is not None
    counts = np.array([5, 7])
    a, la = model.sample(counts, seed=3, candidates=3, batch_size=4)
    b, lb = model.sample(counts, seed=3, candidates=3, batch_size=64)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert np.bincount(la, minlength=2).tolist() == [5, 7]
    # the kept images are the candidates (drawn under their label) with the largest margins
    pool = model.generate(labels_for_counts(counts * 3), seed=3)
    pool_labels = labels_for_counts(counts * 3)
    margins = model.critic.margins(pool, pool_labels)
    keep = select_by_margin(margins, pool_labels, counts)
    assert np.array_equal(a, pool[keep])
    for c in (0, 1):
        kept = model.critic.margins(a[la == c], la[la == c])
        assert kept.mean() >= margins[pool_labels == c].mean()
    # one candidate per image: plain conditional sampling
    plain, plain_labels = model.sample(counts, seed=3, candidates=1)
    assert np.array_equal(plain, model.generate(labels_for_counts(counts), seed=3))
    assert np.array_equal(plain_labels, labels_for_counts(counts))
    with pytest.raises(SamplingError, match="candidates"):
        model.sample(counts, candidates=0)


@pytest.mark.slow
def test_critic_guidance_changes_samples_and_is_batch_free(
    critic_model: Path,
) -> None:
    model = ImageModel.load(critic_model, device="cpu")
    assert model.critic is not None
    labels = labels_for_counts(np.array([12, 12]))
    plain = model.generate(labels, seed=2, critic_guidance=0.0)
    guided = model.generate(labels, seed=2, critic_guidance=3.0, batch_size=5)
    assert np.array_equal(guided, model.generate(labels, seed=2, critic_guidance=3.0,
                                                 batch_size=64))
    # (that it moves up the critic's log p is tested on the gradient above: this 3-step model
    # of a few DP steps saturates its images, so its margins say nothing stable)
    assert not np.array_equal(guided, plain)
    default = model.generate(labels, seed=2)  # the model's own scale (1)
    assert np.array_equal(default, model.generate(labels, seed=2, critic_guidance=1.0))
    with pytest.raises(SamplingError, match="critic guidance"):
        model.generate(labels, critic_guidance=-1.0)
    # a tighter bound on each guidance step is a different sampler; none at all is refused
    assert not np.array_equal(guided, model.generate(labels, seed=2, critic_guidance=3.0,
                                                     critic_max_step=0.001))
    with pytest.raises(SamplingError, match="step bound"):
        model.generate(labels, critic_guidance=3.0, critic_max_step=0.0)


class _FixedDenoiser(torch.nn.Module):
    """D(x) = the same images whatever x: the guidance step is all that moves them."""

    null_label = 2

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images = images

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.images


@pytest.mark.slow
def test_critic_guidance_step_is_bounded_per_image() -> None:
    from synthgen.images.samplers import guided_denoise

    critic, _ = _critic(8.0, train=_images(300, 1), accountant=RunAccountant())
    probe = _images(6, 4)
    d = torch.as_tensor(probe.images, dtype=torch.float32)[:, None] / 127.5 - 1
    labels = 1 - torch.as_tensor(probe.labels)  # the wrong ones: the gradient is far from 0

    def rms_step(scale: float, bound: float | None) -> torch.Tensor:
        denoise = guided_denoise(_FixedDenoiser(d), labels, 1.0, critic=critic,
                                 critic_scale=scale, critic_max_step=bound)
        return (denoise(torch.zeros_like(d), 1.0) - d).flatten(1).square().mean(1).sqrt()

    unbounded = rms_step(1e4, None)
    assert bool((unbounded > 0.5).all())  # a step the bound must cut
    torch.testing.assert_close(rms_step(1e4, 0.2), torch.full((6,), 0.2))
    small = rms_step(1e-3, None)
    assert bool((small < 0.2).all())  # under the bound, the step is the gradient's own
    torch.testing.assert_close(rms_step(1e-3, 0.2), small)


@pytest.mark.slow
def test_critic_is_in_the_model_directory_and_certificate(critic_model: Path) -> None:
    config = json.loads((critic_model / "config.json").read_text())
    assert config["critic"]["steps"] == 40 and (critic_model / CRITIC_WEIGHTS).exists()
    cert = json.loads((critic_model / "certificate.json").read_text())
    names = [m["name"] for m in cert["mechanisms"]]
    assert names == ["record count", "class_counts", "class_critic", "dp_sgd"]
    critic = cert["mechanisms"][2]
    assert critic["steps"] == 40 and critic["noise_multiplier"] == config["critic"]["noise_multiplier"]
    assert any("class critic" in note for note in cert["notes"])
    # the diffusion model's noise was calibrated for what the critic left: the total is on target
    assert 0.97 * 8.0 <= cert["epsilon"] <= 8.0 + 1e-9


@pytest.mark.slow
def test_no_critic_when_its_share_is_zero(tiny_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    train_images(TrainRequest(
        source=tiny_npz, epsilon=8.0, out=out, max_steps=2, overrides={**TINY,
        "critic_epsilon_share": 0.0},
    ))
    assert not (out / CRITIC_WEIGHTS).exists()
    cert = json.loads((out / "certificate.json").read_text())
    assert [m["name"] for m in cert["mechanisms"]] == ["record count", "class_counts", "dp_sgd"]
    model = ImageModel.load(out, device="cpu")
    images, labels = model.sample(np.array([2, 2]), seed=1)  # the model defaults are moot
    assert len(images) == 4 and labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(SamplingError, match="class critic"):
        model.sample(np.array([2, 2]), candidates=3)
    with pytest.raises(SamplingError, match="class critic"):
        model.sample(np.array([2, 2]), critic_guidance=1.0)
