"""The Gaussian mechanism for counts and histograms (the only preprocessing mechanism).

A record changes each count it falls into by one (add/remove adjacency), so a set of
histograms in which every record falls into exactly one cell per histogram has L2
sensitivity sqrt(number of histograms). Releasing them with noise of standard deviation
``noise_multiplier * sqrt(H)`` is one Gaussian release of noise multiplier
``noise_multiplier`` for the accountant.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from synthgen.privacy.secure_random import NoiseSource


def noisy_histograms(
    counts: list[np.ndarray], *, noise_multiplier: float, noise: NoiseSource
) -> tuple[list[np.ndarray], float]:
    """Add Gaussian noise to histograms that each hold every record exactly once.

    Returns the noisy histograms and the noise standard deviation per cell.
    """
    std = noise_multiplier * math.sqrt(len(counts))
    flat = np.concatenate([c.ravel().astype(np.float64) for c in counts]) if counts else np.zeros(0)
    noisy_flat = flat + noise.gaussian(flat.size, std)
    out, start = [], 0
    for c in counts:
        out.append(noisy_flat[start : start + c.size].reshape(c.shape))
        start += c.size
    return out, std


def project_to_simplex(noisy: np.ndarray, total: float) -> np.ndarray:
    """Closest non-negative vector (in L2) that sums to ``total``.

    Post-processing of a noisy histogram: it subtracts one constant from every cell and
    clips at zero, which removes the mass that noise spreads over empty cells (the
    consistency step of MST/Private-PGM, Duchi et al. 2008 for the projection).
    """
    total = max(float(total), 0.0)
    v = np.asarray(noisy, dtype=np.float64).ravel()
    if v.size == 0 or total == 0:
        return np.zeros_like(v)
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - total
    k = np.arange(1, v.size + 1)
    rho = np.nonzero(u - css / k > 0)[0][-1]
    theta = css[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)


def partition_threshold(*, std: float, delta: float, max_new_partitions: int) -> float:
    """Count threshold for releasing category names found in the data (Gaussian partition
    selection): a value held by a single record passes with probability at most ``delta``
    summed over the ``max_new_partitions`` values one record can introduce."""
    per_value = delta / max(max_new_partitions, 1)
    return 1.0 + std * float(norm.isf(per_value))
