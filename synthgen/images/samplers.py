"""Reverse-diffusion samplers behind one interface (EDM notation: x = y + sigma n).

Every sampler takes the starting point ``x`` (noise already scaled by sigma_max), the noise
levels from :func:`synthgen.images.edm.sigma_steps`, a ``denoise(x, sigma) -> D`` callable
and, for stochastic samplers, pre-drawn per-sample step noise ``[B, steps, C, H, W]``.
Because every random number of sample i is drawn from sample i's own generator
(:func:`sample_generator`), sample i is the same whatever the batch it is computed in.

Deterministic: ``dpmpp2m`` (DPM-Solver++(2M), Lu et al. 2022, 1 evaluation per step; the
default: second order for the price of Euler), ``euler`` (DDIM, 1), ``heun`` (EDM Algorithm
1, 2). An Euler step is a convex combination of the current point and the denoiser's output;
DPM-Solver++(2M) extrapolates from two successive outputs (weights above 1), so where a
DP-trained denoiser's outputs disagree - at low noise - it amplifies the disagreement. The
schedule therefore ends at sigma 0.1 (``EDMConfig.sigma_min``), not EDM's 0.002.
Stochastic: ``ancestral`` (Euler ancestral, 1 per step), ``churn`` (EDM Algorithm 2, Heun
steps with noise re-injected).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Denoise = Callable[[torch.Tensor, float], torch.Tensor]
SamplerFn = Callable[[torch.Tensor, torch.Tensor, Denoise, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class SamplerInfo:
    fn: SamplerFn
    stochastic: bool
    evaluations_per_step: int  # network evaluations per step (the last Heun step has one)


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The generator of sample ``index``: independent streams per (seed, index)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(2)
    g = torch.Generator()
    g.manual_seed((int(state[0]) << 31) ^ int(state[1]))
    return g


def draw_sample_noise(
    indices: Sequence[int], seed: int, shape: tuple[int, ...], step_noises: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Initial noise ``[B, *shape]`` and (if ``step_noises``) step noise ``[B, n, *shape]``,
    each row from its own sample's generator."""
    inits, steps = [], []
    for i in indices:
        g = sample_generator(seed, i)
        inits.append(torch.randn(shape, generator=g))
        if step_noises:
            steps.append(torch.randn((step_noises, *shape), generator=g))
    init = torch.stack(inits) if inits else torch.zeros((0, *shape))
    return init, (torch.stack(steps) if step_noises and steps else None)


def heun(
    x: torch.Tensor, sigmas: torch.Tensor, denoise: Denoise, step_noise: torch.Tensor | None = None
) -> torch.Tensor:
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d = (x - denoise(x, s)) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:
            d_next = (x_next - denoise(x_next, s_next)) / s_next
            x_next = x + (s_next - s) * 0.5 * (d + d_next)
        x = x_next
    return x


def euler(
    x: torch.Tensor, sigmas: torch.Tensor, denoise: Denoise, step_noise: torch.Tensor | None = None
) -> torch.Tensor:
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x = x + (s_next - s) * (x - denoise(x, s)) / s
    return x


def dpmpp2m(
    x: torch.Tensor, sigmas: torch.Tensor, denoise: Denoise, step_noise: torch.Tensor | None = None
) -> torch.Tensor:
    """DPM-Solver++(2M) in log-sigma time (lambda = -ln sigma): a multistep second-order
    solver of the probability-flow ODE for the data prediction D."""
    previous: torch.Tensor | None = None
    h_previous = 0.0
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d = denoise(x, s)
        if s_next == 0:
            x = d
            break
        h = math.log(s / s_next)
        if previous is None:
            d_hat = d
        else:
            r = h_previous / h
            d_hat = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * previous
        x = (s_next / s) * x - math.expm1(-h) * d_hat
        previous, h_previous = d, h
    return x


def ancestral(
    x: torch.Tensor, sigmas: torch.Tensor, denoise: Denoise, step_noise: torch.Tensor | None = None
) -> torch.Tensor:
    """Euler ancestral: an Euler step to sigma_down, then fresh noise up to sigma_next."""
    assert step_noise is not None
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d = denoise(x, s)
        if s_next == 0:
            x = d
            break
        sigma_up = min(s_next, math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2))
        sigma_down = math.sqrt(s_next**2 - sigma_up**2)
        x = x + (sigma_down - s) * (x - d) / s + sigma_up * step_noise[:, i].to(x)
    return x


@dataclass(frozen=True)
class ChurnSettings:
    """EDM Algorithm 2 (their ImageNet-64 values)."""

    s_churn: float = 40.0
    s_tmin: float = 0.05
    s_tmax: float = 50.0
    s_noise: float = 1.003


def churn(
    x: torch.Tensor,
    sigmas: torch.Tensor,
    denoise: Denoise,
    step_noise: torch.Tensor | None = None,
    settings: ChurnSettings = ChurnSettings(),
) -> torch.Tensor:
    assert step_noise is not None
    n = len(sigmas) - 1
    for i in range(n):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        gamma = (
            min(settings.s_churn / n, math.sqrt(2) - 1)
            if settings.s_tmin <= s <= settings.s_tmax
            else 0.0
        )
        s_hat = s * (1 + gamma)
        if gamma > 0:
            x = x + math.sqrt(s_hat**2 - s**2) * settings.s_noise * step_noise[:, i].to(x)
        d = (x - denoise(x, s_hat)) / s_hat
        x_next = x + (s_next - s_hat) * d
        if s_next > 0:
            d_next = (x_next - denoise(x_next, s_next)) / s_next
            x_next = x + (s_next - s_hat) * 0.5 * (d + d_next)
        x = x_next
    return x


SAMPLERS: dict[str, SamplerInfo] = {
    "heun": SamplerInfo(heun, stochastic=False, evaluations_per_step=2),
    "euler": SamplerInfo(euler, stochastic=False, evaluations_per_step=1),
    "dpmpp2m": SamplerInfo(dpmpp2m, stochastic=False, evaluations_per_step=1),
    "ancestral": SamplerInfo(ancestral, stochastic=True, evaluations_per_step=1),
    "churn": SamplerInfo(churn, stochastic=True, evaluations_per_step=2),
}


def get_sampler(name: str) -> SamplerInfo:
    try:
        return SAMPLERS[name]
    except KeyError:
        from synthgen.errors import SamplingError

        raise SamplingError(
            f"unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})"
        ) from None


def guided_denoise(
    denoiser: torch.nn.Module,
    labels: torch.Tensor,
    guidance_scale: float,
    autocast_dtype: torch.dtype | None = None,
    critic: Any = None,
    critic_scale: float = 0.0,
    critic_max_step: float | None = None,
) -> Denoise:
    """D with classifier-free guidance: D_null + w (D_label - D_null); w = 1 is plain
    conditional sampling (one network evaluation), w = 0 unconditional. With a class
    critic and ``critic_scale`` > 0, the denoised estimate then moves up the critic's
    log p(label | D) by ``critic_scale`` times its gradient: guidance by a classifier on the
    clean-image estimate, which needs no classifier trained on noisy images (the critic
    saw only clean ones). ``critic_max_step`` bounds each image's move (root mean square per
    pixel): near the end the gradient can grow by orders of magnitude and, unbounded,
    saturates the image."""
    null = torch.full_like(labels, int(denoiser.null_label))  # type: ignore[arg-type]
    device_type = labels.device.type

    def run(x: torch.Tensor, sigma: float, lab: torch.Tensor) -> torch.Tensor:
        s = torch.full((x.shape[0],), sigma, device=x.device)
        if autocast_dtype is None:
            return denoiser(x, s, lab)
        with torch.autocast(device_type=device_type, dtype=autocast_dtype):
            return denoiser(x, s, lab).float()

    def free_guided(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if guidance_scale == 1.0:
            return run(x, sigma, labels)
        if guidance_scale == 0.0:
            return run(x, sigma, null)
        both = run(torch.cat([x, x]), sigma, torch.cat([labels, null]))
        cond, uncond = both.chunk(2)
        return uncond + guidance_scale * (cond - uncond)

    if critic is None or critic_scale == 0.0:
        return free_guided

    def critic_guided(x: torch.Tensor, sigma: float) -> torch.Tensor:
        d = free_guided(x, sigma)
        step = critic_scale * critic.log_prob_gradient(d, labels)
        if critic_max_step is not None:
            rms = step.flatten(1).square().mean(1).sqrt()
            step = step * (critic_max_step / rms.clamp_min(1e-12)).clamp(max=1.0).view(
                -1, *([1] * (step.dim() - 1))
            )
        return d + step

    return critic_guided


@torch.inference_mode()
def generate_batch(
    denoiser: torch.nn.Module,
    labels: torch.Tensor,
    indices: Sequence[int],
    *,
    seed: int,
    sigmas: torch.Tensor,
    sampler: str,
    guidance_scale: float,
    image_shape: tuple[int, ...],
    autocast_dtype: torch.dtype | None = None,
    critic: Any = None,
    critic_scale: float = 0.0,
    critic_max_step: float | None = None,
) -> torch.Tensor:
    """Samples ``indices`` (labels given per row) as floats in about [-1, 1]."""
    info = get_sampler(sampler)
    device = labels.device
    n_steps = len(sigmas) - 1
    init, step_noise = draw_sample_noise(
        indices, seed, image_shape, n_steps if info.stochastic else 0
    )
    x = init.to(device) * float(sigmas[0])
    if step_noise is not None:
        step_noise = step_noise.to(device)
    denoise = guided_denoise(
        denoiser, labels, guidance_scale, autocast_dtype, critic, critic_scale, critic_max_step
    )
    return info.fn(x, sigmas, denoise, step_noise)
