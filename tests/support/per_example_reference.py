"""Ground truth for the per-example gradient tests: each example's gradient by its own
backward pass (slow, obviously right), to compare ``synthgen.images.per_example`` against."""

from __future__ import annotations

from typing import Any

from torch import nn

from synthgen.images.edm import TrainingDraws, loss_weight


def reference_per_example_gradients(
    denoiser: nn.Module,
    draws: TrainingDraws,
    *,
    batch_size: int,
    multiplicity: int,
    sigma_data: float,
) -> list[dict[str, Any]]:
    out = []
    k = multiplicity
    for i in range(batch_size):
        rows = slice(i * k, (i + 1) * k)
        denoiser.zero_grad(set_to_none=True)
        x, sigma, noise = draws.x[rows], draws.sigma[rows], draws.noise[rows]
        noisy = x + sigma.reshape(-1, 1, 1, 1) * noise
        denoised = denoiser(noisy, sigma, draws.labels[rows])
        loss = (loss_weight(sigma, sigma_data) * ((denoised - x) ** 2).flatten(1).mean(1)).mean()
        loss.backward()
        out.append(
            {
                n: p.grad.detach().clone()
                for n, p in denoiser.named_parameters()
                if p.grad is not None
            }
        )
    denoiser.zero_grad(set_to_none=True)
    return out
