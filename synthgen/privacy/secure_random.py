"""Randomness for the privacy mechanisms: the DP noise and the Poisson sampling.

Why not the user's seed: if the noise added to a gradient or a histogram could be
re-generated from a seed written on a certificate, anyone holding both could subtract it,
and amplification by subsampling assumes the batches are secret too. So privacy randomness
never comes from ``--seed``: either from the operating system's CSPRNG directly
(``secure=True``, the default: ``os.urandom`` is a cryptographically secure generator),
or from a fast PRNG seeded once from ``os.urandom`` (``secure=False``, for benchmarks).

Opacus' own secure mode needs ``torchcsprng``, which has no build for current torch; this
module is its replacement. Gaussian noise is drawn in float64 by Box-Muller from 53-bit
uniforms and, as in Opacus' secure mode (Holohan and Braghin 2021, section 5.1), is the
scaled sum of four draws to defeat floating-point attacks on the noise's low bits.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def secure_uniform(n: int) -> np.ndarray:
    """``n`` float64 uniforms in the open interval (0, 1) from the OS CSPRNG."""
    words = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
    return ((words >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def secure_standard_normal(n: int) -> np.ndarray:
    """``n`` float64 standard normals from the OS CSPRNG (Box-Muller)."""
    half = (n + 1) // 2
    u1, u2 = secure_uniform(half), secure_uniform(half)
    radius = np.sqrt(-2.0 * np.log(u1))
    out = np.concatenate([radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)])
    return out[:n]


def secure_gaussian_noise(n: int, std: float) -> np.ndarray:
    """Noise of standard deviation ``std``: (z1 + z2 + z3 + z4) / 2 has unit variance."""
    total = np.zeros(n)
    for _ in range(4):
        total += secure_standard_normal(n)
    return std * total / 2.0


class NoiseSource:
    """Where privacy noise and Poisson masks come from in one run."""

    def __init__(self, *, secure: bool = True) -> None:
        self.secure = secure
        self._numpy = None if secure else np.random.default_rng(int.from_bytes(os.urandom(16)))
        self._torch_generator: torch.Generator | None = None

    def uniform(self, n: int) -> np.ndarray:
        if self._numpy is None:
            return secure_uniform(n)
        return self._numpy.random(n)

    def gaussian(self, n: int, std: float) -> np.ndarray:
        if self._numpy is None:
            return secure_gaussian_noise(n, std)
        return self._numpy.normal(0.0, std, size=n)

    def gaussian_like(self, reference: torch.Tensor, std: float) -> torch.Tensor:
        import torch

        if self._numpy is None:
            noise = secure_gaussian_noise(reference.numel(), std)
            return torch.from_numpy(noise).to(reference.device, reference.dtype).view_as(reference)
        if self._torch_generator is None:
            self._torch_generator = torch.Generator(device=reference.device)
            self._torch_generator.manual_seed(int.from_bytes(os.urandom(8)) >> 1)
        return torch.normal(
            0.0,
            std,
            size=reference.shape,
            generator=self._torch_generator,
            device=reference.device,
            dtype=reference.dtype,
        )

    def poisson_mask(self, n: int, rate: float) -> np.ndarray:
        """Each of ``n`` records is in the batch independently with probability ``rate``."""
        return self.uniform(n) < rate
