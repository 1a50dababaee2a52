"""Exponential moving average of the weights, with a power-function profile.

The decay after t optimizer steps is beta_t = (1 - 1/t)^(gamma + 1) (Karras et al. 2024,
"Analyzing and improving the training dynamics of diffusion models"): the average always
covers a fixed *fraction* of the run (relative width sigma_rel = 0.1 for gamma = 6.94), so
the same setting works for a 200-step CPU run and a 5,000-step GPU run. Averaging matters
more under DP than without it: the Gaussian noise of successive steps is independent and
averages out, while the signal does not. The EMA is post-processing of the DP iterates, so
it costs no privacy.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def gamma_for(sigma_rel: float) -> float:
    """Exponent gamma of the power EMA with relative standard deviation ``sigma_rel``."""
    lo, hi = 0.0, 1e4

    def width(g: float) -> float:
        return ((g + 1) / ((g + 2) ** 2 * (g + 3))) ** 0.5

    for _ in range(200):  # width() decreases in gamma
        mid = (lo + hi) / 2
        if width(mid) > sigma_rel:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class PowerEMA:
    def __init__(self, model: nn.Module, *, sigma_rel: float = 0.1):
        self.sigma_rel = sigma_rel
        self.gamma = gamma_for(sigma_rel)
        self.model: Any = copy.deepcopy(model).eval()  # same class as ``model``
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay(self, step: int) -> float:
        """beta after ``step`` (>= 1) optimizer steps."""
        return (1.0 - 1.0 / step) ** (self.gamma + 1.0) if step > 0 else 0.0

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        beta = self.decay(step)
        for ema_p, p in zip(self.model.parameters(), model.parameters(), strict=True):
            ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - beta)
        for ema_b, b in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)
