"""Exponential moving averages of the weights: one frozen copy, two decay profiles.

Post-processing of the DP iterates (free); under DP the noise of successive steps averages
out, the signal does not. The profiles differ for a reason: the images keep a constant
learning rate after warm-up and let ``PowerEMA`` anneal, beta_t = (1 - 1/t)^(gamma + 1)
(Karras et al. 2024: the average covers a fixed *fraction* of the run, sigma_rel = 0.1 for
gamma = 6.94, whatever its length); the tables decay their learning rate under ``EMA``, a
fixed decay ramped up over the first steps (Polyak averaging).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
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


class WeightAverage(ABC):
    """A frozen copy of ``model``: w <- beta_t w + (1 - beta_t) p after step t; each
    schedule (power EMA for images, fixed decay for tables) says what beta_t is."""

    def __init__(self, model: nn.Module):
        self.model: Any = copy.deepcopy(model).eval()  # same class as ``model``
        for p in self.model.parameters():
            p.requires_grad_(False)

    @abstractmethod
    def decay(self, step: int) -> float:
        """beta_t, the weight the average keeps at step ``step``."""

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        beta = self.decay(step)
        for ema_p, p in zip(self.model.parameters(), model.parameters(), strict=True):
            ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - beta)
        for ema_b, b in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)


class PowerEMA(WeightAverage):
    def __init__(self, model: nn.Module, *, sigma_rel: float = 0.1):
        super().__init__(model)
        self.sigma_rel = sigma_rel
        self.gamma = gamma_for(sigma_rel)

    def decay(self, step: int) -> float:
        """beta after ``step`` (>= 1) optimizer steps."""
        return (1.0 - 1.0 / step) ** (self.gamma + 1.0) if step > 0 else 0.0


class EMA(WeightAverage):
    def __init__(self, model: nn.Module, decay: float):
        super().__init__(model)
        self.base_decay = decay

    def decay(self, step: int) -> float:
        return min(self.base_decay, (1 + step) / (10 + step))
