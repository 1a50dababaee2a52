"""Variance-preserving Gaussian diffusion with a cosine schedule (Nichol and Dhariwal 2021)
in continuous time, parameterised by noise prediction."""

from __future__ import annotations

import math

import torch

COSINE_OFFSET = 0.008
T_MAX = 0.9995  # alpha_bar(T_MAX) ~ 1e-6: indistinguishable from pure noise


class GaussianDiffusion:
    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        s = COSINE_OFFSET
        f = torch.cos((t.clamp(0, T_MAX) + s) / (1 + s) * math.pi / 2) ** 2
        return f / math.cos(s / (1 + s) * math.pi / 2) ** 2

    def noise(self, z0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(alpha_bar) z0 + sqrt(1 - alpha_bar) eps; ``t`` broadcasts over the last dim."""
        a = self.alpha_bar(t).unsqueeze(-1)
        return a.sqrt() * z0 + (1 - a).sqrt() * eps

    def prior_eps(self, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E[eps | z_t] when z0 ~ N(0, I) independently: the best prediction that knows
        nothing but the per-class marginals (which the encoder turned into N(0, 1))."""
        return (1 - self.alpha_bar(t)).sqrt().unsqueeze(-1) * z_t

    def predict_z0(self, z_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alpha_bar(t).unsqueeze(-1)
        return (z_t - (1 - a).sqrt() * eps) / a.sqrt()

    def ddim_step(self, z_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, s: torch.Tensor,
                  clip: float = 6.0) -> torch.Tensor:
        """Deterministic DDIM update from time t to s < t (Song et al. 2021). z0 estimates are
        clipped to +-``clip``: the encoder's z never leaves about +-4.9."""
        z0 = self.predict_z0(z_t, eps, t).clamp(-clip, clip)
        a_s = self.alpha_bar(s).unsqueeze(-1)
        eps_hat = (z_t - self.alpha_bar(t).sqrt().unsqueeze(-1) * z0) / (1 - self.alpha_bar(t)).sqrt().unsqueeze(-1)
        return a_s.sqrt() * z0 + (1 - a_s).sqrt() * eps_hat
