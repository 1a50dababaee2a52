"""DP-SGD wiring against ground truth: per-example gradients computed one example at a time."""

import numpy as np
import pytest
import torch
from torch import nn

from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.dp_sgd import fold_noise_multiplicity, make_private
from synthgen.privacy.secure_random import NoiseSource, secure_standard_normal
from synthgen.tabular.denoiser import MLPDenoiser

B, K, D, C = 6, 4, 5, 0.05  # small clip norm: every example is clipped


class Rows(torch.utils.data.Dataset):
    """Fixed diffusion draws: x [N, K, D], categories [N, K, 2], t [N, K], y [N, K],
    target [N, K, D]."""

    def __init__(self, n: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, K, D, generator=g)
        self.c = torch.randint(0, 7, (n, K, 2), generator=g)
        self.t = torch.rand(n, K, generator=g)
        self.y = torch.randint(0, 3, (n, K), generator=g)
        self.target = torch.randn(n, K, D, generator=g)

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitems__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        i = torch.as_tensor(idx, dtype=torch.long)
        return {"x": self.x[i], "c": self.c[i], "t": self.t[i], "y": self.y[i], "target": self.target[i]}


def per_example_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over the K draws of each example, as the tabular trainer does."""
    out = model(batch["x"], batch["c"], batch["t"], batch["y"])
    return ((out - batch["target"]) ** 2).mean(-1).mean(-1)


def make_model(seed: int = 0) -> MLPDenoiser:
    torch.manual_seed(seed)
    model = MLPDenoiser(n_numeric=D, n_category_slots=7, output_dim=D, n_classes=3, width=16, n_blocks=1)
    nn.init.normal_(model.output.weight, std=0.1)  # the real model starts at zero; test a generic one
    return model


def manual_clipped_sum(model: nn.Module, data: Rows, rows: list[int]) -> tuple[list[torch.Tensor], list[float]]:
    """Sum over examples of clip(grad of example i, C), one backward per example."""
    total = [torch.zeros_like(p) for p in model.parameters()]
    norms = []
    for i in rows:
        model.zero_grad()
        per_example_loss(model, data.__getitems__([i])).sum().backward()
        grads = [p.grad.detach().clone() for p in model.parameters()]
        norm = torch.sqrt(sum((g**2).sum() for g in grads)).item()
        norms.append(norm)
        for acc, g in zip(total, grads, strict=True):
            acc += g * min(1.0, C / norm)
    return total, norms


@pytest.mark.parametrize("mode", ["ghost", "hooks"])
def test_noise_multiplicity_clips_one_gradient_per_example(mode: str) -> None:
    data = Rows(B)
    reference = make_model()
    expected, norms = manual_clipped_sum(reference, data, list(range(B)))
    model = make_model()
    acc = RunAccountant()
    pt = make_private(model, torch.optim.SGD(model.parameters(), lr=1.0), data, noise_multiplier=1e-9,
                      max_grad_norm=C, expected_batch_size=B, public_record_count=len(data), steps=1, accountant=acc,
                      noise=NoiseSource(secure=False), grad_sample_mode=mode)
    batch = data.__getitems__(list(range(B)))
    pt.loss_backward(per_example_loss(pt.module, batch))
    if mode == "ghost":
        seen = pt.module.per_sample_gradient_norms
    else:
        seen = torch.stack([p.grad_sample.reshape(B, -1).norm(dim=1) for p in model.parameters()], 1).norm(dim=1)
    # Opacus sees B examples, not B*K, and their norms are the per-example norms
    assert seen.shape[0] == B
    assert seen.detach().numpy() == pytest.approx(np.array(norms), rel=1e-4)
    assert min(norms) > C  # so clipping was active for every example
    before = [p.detach().clone() for p in model.parameters()]
    assert pt.step()
    # SGD with lr 1 moved the weights by the clipped mean gradient: sum of clipped / B
    for p0, p1, g in zip(before, model.parameters(), expected, strict=True):
        assert (p0 - p1.detach()).numpy() == pytest.approx((g / B).numpy(), abs=1e-6)
    # every clipped per-example contribution has norm <= C, so the update is at most C
    update = torch.sqrt(sum(((p0 - p1.detach()) ** 2).sum() for p0, p1 in zip(before, model.parameters(), strict=True)))
    assert update.item() <= C + 1e-6
    assert acc.sgd_steps == 1


def test_repeating_examples_would_be_caught() -> None:
    """The naive layout (each example repeated K times as rows) shows B*K norms: the check
    above fails for it, which is the point of the check."""
    data = Rows(B)
    model = make_model()
    pt = make_private(model, torch.optim.SGD(model.parameters(), lr=1.0), data, noise_multiplier=1.0,
                      max_grad_norm=C, expected_batch_size=B, public_record_count=len(data), steps=1, accountant=RunAccountant(),
                      noise=NoiseSource(secure=False), grad_sample_mode="ghost")
    batch = data.__getitems__(list(range(B)))
    flat = {k: v.reshape(B * K, 1, *v.shape[2:]) for k, v in batch.items()}
    pt.loss_backward(per_example_loss(pt.module, flat))
    assert pt.module.per_sample_gradient_norms.shape[0] == B * K


def test_empty_poisson_batch_is_a_noisy_accounted_step() -> None:
    data = Rows(20)
    model = make_model()
    acc = RunAccountant()
    pt = make_private(model, torch.optim.SGD(model.parameters(), lr=1.0), data, noise_multiplier=1.0,
                      max_grad_norm=1.0, expected_batch_size=4, public_record_count=len(data), steps=1, accountant=acc,
                      noise=NoiseSource(secure=True), grad_sample_mode="ghost")
    before = [p.detach().clone() for p in model.parameters()]
    pt.empty_backward()
    assert pt.step()
    moved = sum(float((b - a.detach()).abs().sum()) for b, a in zip(before, model.parameters(), strict=True))
    assert moved > 0  # the noise was added
    assert acc.sgd_steps == 1


def test_poisson_loader_batch_sizes_follow_the_sample_rate() -> None:
    data = Rows(400)
    model = make_model()
    pt = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data, noise_multiplier=1.0,
                      max_grad_norm=1.0, expected_batch_size=40, public_record_count=len(data), steps=200, accountant=RunAccountant(),
                      noise=NoiseSource(secure=True))
    sizes = [len(batch["x"]) for batch in pt.loader]
    assert len(sizes) == 200
    assert np.mean(sizes) == pytest.approx(40, rel=0.1)
    assert np.std(sizes) == pytest.approx(np.sqrt(400 * 0.1 * 0.9), rel=0.3)  # binomial, not fixed


def test_secure_noise_is_standard_normal_and_not_reproducible() -> None:
    from scipy import stats

    z = secure_standard_normal(200_000)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    noise = NoiseSource(secure=True)
    a, b = noise.gaussian(1000, 2.0), noise.gaussian(1000, 2.0)
    assert not np.allclose(a, b)
    assert np.std(noise.gaussian(100_000, 2.0)) == pytest.approx(2.0, rel=0.02)


class TinyConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.GroupNorm(2, 4)
        self.head = nn.Linear(4 * 8 * 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.conv(x))).flatten(1)).squeeze(1)


def test_fold_noise_multiplicity_matches_per_example_mean_gradient() -> None:
    from opacus import GradSampleModule

    torch.manual_seed(0)
    x, target = torch.randn(B * K, 1, 8, 8), torch.randn(B * K)
    model = TinyConvNet()
    expected = []
    for i in range(B):
        model.zero_grad()
        rows = slice(i * K, (i + 1) * K)
        ((model(x[rows]) - target[rows]) ** 2).mean().backward()
        expected.append([p.grad.detach().clone() for p in model.parameters()])
    gsm = GradSampleModule(model, loss_reduction="mean")
    ((gsm(x) - target) ** 2).mean().backward()
    fold_noise_multiplicity(gsm, batch_size=B, multiplicity=K)
    for j, p in enumerate(model.parameters()):
        assert p.grad_sample.shape[0] == B
        # with a mean loss Opacus rescales per-sample grads to each row's own loss, so the
        # folded one is the gradient of that example's mean over its K draws
        for i in range(B):
            assert p.grad_sample[i].numpy() == pytest.approx(expected[i][j].numpy(), rel=1e-4, abs=1e-6)
