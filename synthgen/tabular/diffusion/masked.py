"""Absorbing-state ("masked") diffusion for categorical columns (Austin et al. 2021;
Sahoo et al. 2024). At time t each column is independently replaced by a MASK token with
probability t; the model predicts the original category of masked columns; sampling
unmasks columns progressively.

Why masked rather than multinomial diffusion (TabDDPM): its forward process keeps
unmasked values exact, so the denoiser only ever predicts the columns it has not seen,
the loss is a plain cross-entropy on those, and the optimal prediction under our prior
(the per-class DP category frequencies) is simply the prior itself, which we add as a
fixed offset to the logits: an untrained model samples the DP marginals exactly.
"""

from __future__ import annotations

import torch


class MaskedDiffusion:
    def __init__(self, category_sizes: list[int]):
        self.sizes = torch.tensor(category_sizes, dtype=torch.long)  # MASK index = size

    def mask(
        self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t and the mask; ``t`` has the leading shape of ``x0`` without its column dim."""
        masked = torch.rand(x0.shape, generator=generator) < t.unsqueeze(-1)
        return torch.where(masked, self.sizes.expand_as(x0), x0), masked

    def loss(self, logits: torch.Tensor, x0: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Sum over masked columns of the cross-entropy; logits are padded [..., n_cat, K_max]."""
        log_probs = torch.log_softmax(logits, dim=-1)
        nll = -log_probs.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
        return (nll * masked).sum(-1)

    def reveal(
        self, x_t: torch.Tensor, t: float, s: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Which columns a step from time t to s < t reveals: each masked one with
        probability (t - s) / t (all of them when s = 0)."""
        is_masked = x_t == self.sizes.expand_as(x_t)
        return is_masked & (torch.rand(x_t.shape, generator=generator) < (t - s) / t)

    def draw(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One category per row of padded logits [M, K_max] (inverse-CDF draw: one uniform
        each, far faster than torch.multinomial on CPU)."""
        u = torch.rand(logits.shape[0], generator=generator)
        cdf = torch.softmax(logits, dim=-1).cumsum(-1)
        return (cdf < u.unsqueeze(-1)).sum(-1).clamp(max=logits.shape[-1] - 1)
