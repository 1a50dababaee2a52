"""EDM preconditioning and the per-example denoising loss (Karras et al. 2022).

The denoiser is D(x; sigma, label) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x;
c_noise(sigma), label), with F the U-Net. Why EDM for small epsilon (see docs/images.md):
with c_in, c_out and the loss weight lambda(sigma) = 1 / c_out(sigma)^2, the network's
input and its regression target have unit variance at every noise level. Under DP-SGD that
matters twice: per-example gradient norms are comparable across noise levels, so a single
clipping norm C neither silences high-noise draws nor lets low-noise draws dominate; and the
network's output scale is right from step 0, so the few hundred noisy steps a small dataset
affords are not spent learning a scale. v-prediction is the same parametrisation with
sigma_data = 1 (it is EDM's special case); eps-prediction is not bounded at high noise.

Randomness is always passed in (a ``torch.Generator``): the diffusion draws are governed by
the run's seed; privacy randomness never passes through here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from synthgen.images.unet import UNet


@dataclass(frozen=True)
class EDMConfig:
    sigma_data: float = 0.5  # std of the data in [-1, 1] (a fixed constant, never estimated)
    p_mean: float = -1.2  # training noise levels: ln(sigma) ~ N(p_mean, p_std^2)
    p_std: float = 1.2
    # sampling range; the last level is followed by one jump to the denoised estimate. EDM
    # uses 0.002; a DP-trained denoiser is least accurate at low noise, and the steps below
    # 0.1 turned its errors into pixel noise (docs/research/2026-12-02-image-sampling-schedule.md)
    sigma_min: float = 0.1
    sigma_max: float = 80.0
    rho: float = 7.0  # sampling schedule exponent
    label_dropout: float = 0.1  # share of draws trained with the null label (for guidance)

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> EDMConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class Denoiser(nn.Module):
    """D(x; sigma, labels): the preconditioned U-Net. Holds no parameters of its own."""

    def __init__(self, net: UNet, cfg: EDMConfig):
        super().__init__()
        self.net = net
        self.cfg = cfg

    @property
    def null_label(self) -> int:
        return self.net.null_label

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        sigma = sigma.reshape(-1, 1, 1, 1).to(torch.float32)
        sd = self.cfg.sigma_data
        c_skip = sd**2 / (sigma**2 + sd**2)
        c_out = sigma * sd / (sigma**2 + sd**2).sqrt()
        c_in = 1.0 / (sigma**2 + sd**2).sqrt()
        c_noise = sigma.log().reshape(-1) / 4.0
        f = self.net((c_in * x).to(x.dtype), c_noise, labels)
        return c_skip * x + c_out * f.to(torch.float32)


def loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """lambda(sigma) = 1 / c_out(sigma)^2: the weighted loss is the unit-variance loss of F."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


@dataclass
class TrainingDraws:
    """The ``[B*K]`` layout: copy k of example i is row ``i*K + k``."""

    x: torch.Tensor  # [B*K, C, H, W] clean images (augmented per row)
    labels: torch.Tensor  # [B*K] labels, some replaced by the null label
    sigma: torch.Tensor  # [B*K]
    noise: torch.Tensor  # [B*K, C, H, W] standard normal


def draw_training_inputs(
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    multiplicity: int,
    cfg: EDMConfig,
    null_label: int,
    generator: torch.Generator,
    augment: str = "none",
) -> TrainingDraws:
    """Repeat each example K times and draw a noise level, noise, label dropout and
    (optionally) an augmentation per copy. Draws are made on the CPU generator so that a
    run is reproducible on any device."""
    k = multiplicity
    rows = x.shape[0] * k
    xs = x.repeat_interleave(k, dim=0)
    ys = labels.repeat_interleave(k, dim=0)
    if augment != "none":
        xs = augment_rows(xs, augment, generator)
    log_sigma = cfg.p_mean + cfg.p_std * torch.randn(rows, generator=generator)
    noise = torch.randn(xs.shape, generator=generator)
    drop = torch.rand(rows, generator=generator) < cfg.label_dropout
    device = x.device
    ys = torch.where(drop.to(device), torch.full_like(ys, null_label), ys)
    return TrainingDraws(x=xs, labels=ys, sigma=log_sigma.exp().to(device), noise=noise.to(device))


def augment_rows(x: torch.Tensor, augment: str, generator: torch.Generator) -> torch.Tensor:
    """Per-row augmentation: "hflip" (mirror with probability 1/2) and "hflip+shift"
    (also an integer shift of up to 2 pixels, edges replicated). Each copy of an example
    gets its own draw (augmentation multiplicity, De et al. 2022): still one example, one
    clipped gradient."""
    if augment not in ("hflip", "hflip+shift"):
        raise ValueError(f"unknown augmentation {augment!r}")
    rows = x.shape[0]
    flip = (torch.rand(rows, generator=generator) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if augment == "hflip+shift":
        pad = 2
        shifts = torch.randint(-pad, pad + 1, (rows, 2), generator=generator)
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
        h, w = x.shape[-2:]
        out = torch.empty_like(x)
        for i in range(rows):
            dy, dx = int(shifts[i, 0]) + pad, int(shifts[i, 1]) + pad
            out[i] = padded[i, :, dy : dy + h, dx : dx + w]
        x = out
    return x


def loss_per_row(denoiser: nn.Module, draws: TrainingDraws, sigma_data: float) -> torch.Tensor:
    """Weighted denoising loss of each row, ``[B*K]`` (unreduced, as DP-SGD needs)."""
    noisy = draws.x + draws.sigma.reshape(-1, 1, 1, 1) * draws.noise
    denoised = denoiser(noisy, draws.sigma, draws.labels)
    err = (denoised.float() - draws.x.float()) ** 2
    return loss_weight(draws.sigma, sigma_data) * err.flatten(1).mean(dim=1)


def loss_per_example(
    denoiser: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    multiplicity: int,
    cfg: EDMConfig,
    generator: torch.Generator,
    augment: str = "none",
) -> torch.Tensor:
    """``[B]``: the mean over K draws of each example's loss (noise multiplicity)."""
    draws = draw_training_inputs(
        x,
        labels,
        multiplicity=multiplicity,
        cfg=cfg,
        null_label=int(getattr(denoiser, "null_label", 0)),
        generator=generator,
        augment=augment,
    )
    rows = loss_per_row(denoiser, draws, cfg.sigma_data)
    return rows.view(x.shape[0], multiplicity).mean(dim=1)


def sigma_steps(steps: int, cfg: EDMConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """EDM's sampling noise levels: ``steps`` levels from sigma_max to sigma_min spaced
    uniformly in sigma^(1/rho), then 0 (``steps + 1`` values)."""
    if steps < 1:
        raise ValueError("at least one sampling step is needed")
    i = torch.arange(steps, dtype=torch.float64)
    inv = 1.0 / cfg.rho
    if steps == 1:
        sig = torch.tensor([cfg.sigma_max], dtype=torch.float64)
    else:
        sig = (
            cfg.sigma_max**inv + i / (steps - 1) * (cfg.sigma_min**inv - cfg.sigma_max**inv)
        ) ** cfg.rho
    return torch.cat([sig, torch.zeros(1, dtype=torch.float64)]).to(device)


__all__ = [
    "Denoiser",
    "EDMConfig",
    "TrainingDraws",
    "draw_training_inputs",
    "loss_per_example",
    "loss_per_row",
    "loss_weight",
    "sigma_steps",
]
