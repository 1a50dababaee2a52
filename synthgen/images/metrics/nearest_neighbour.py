"""No training image reproduced: nearest-neighbour distances to train vs holdout.

A bug detector, not a privacy proof (docs/privacy.md#checks). For each synthetic image we
measure the pixel distance (RMS, in [0, 1] units) to its nearest training image and to its
nearest holdout image, with the training set subsampled to the holdout's size so that
neither side is favoured by size. A model that does not memorise is as close to unseen
real images as to its training images: ``ratio`` = median(d_train) / median(d_holdout) is
about 1, and about half of the synthetic images are closer to train. A near copy is a
synthetic image whose nearest training image (all of them) is closer than a third of the
typical distance between a holdout image and its nearest training image.
"""

from __future__ import annotations

import numpy as np

from synthgen.errors import InsufficientData
from synthgen.images.data import ImageSet
from synthgen.images.metrics.base import ImageMetric, MetricResult, RealImages


def nearest_distances(queries: np.ndarray, references: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """RMS pixel distance of each query to its nearest reference (images in [0, 1])."""
    return nearest_neighbours(queries, references, chunk)[0]


def nearest_neighbours(queries: np.ndarray, references: np.ndarray,
                       chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query's nearest reference; RMS pixel distance in [0, 1]
    units. The squared-norm expansion leaves rounding of about 1e-4 on identical images:
    compare bytes, not distances, to find exact copies."""
    q = queries.reshape(len(queries), -1).astype(np.float32) / 255.0
    r = references.reshape(len(references), -1).astype(np.float32) / 255.0
    rr = (r * r).sum(1)
    out = np.empty(len(q), dtype=np.float64)
    index = np.empty(len(q), dtype=np.int64)
    for s in range(0, len(q), chunk):
        qc = q[s : s + chunk]
        d = (qc * qc).sum(1)[:, None] + rr[None, :] - 2 * qc @ r.T
        best = d.argmin(1)
        index[s : s + chunk] = best
        out[s : s + chunk] = np.sqrt(np.clip(d[np.arange(len(qc)), best], 0, None) / q.shape[1])
    return out, index


class NearestNeighbourCheck(ImageMetric):
    name = "nearest_neighbour_check"
    higher_is_better = None

    def __init__(self, *, min_ratio: float = 0.85, copy_factor: float = 1 / 3,
                 max_synthetic: int = 5000, seed: int = 0):
        self.min_ratio, self.copy_factor = min_ratio, copy_factor
        self.max_synthetic, self.seed = max_synthetic, seed

    def compute(self, real: RealImages, synthetic: ImageSet) -> list[MetricResult]:
        if real.holdout is None or len(real.holdout) < 2:
            raise InsufficientData("the nearest-neighbour check needs a holdout split")
        rng = np.random.default_rng(self.seed)
        syn = synthetic.images
        if len(syn) > self.max_synthetic:
            syn = syn[np.sort(rng.choice(len(syn), self.max_synthetic, replace=False))]
        hold = real.holdout.images
        n = min(len(hold), len(real.train))
        train_sub = real.train.images[np.sort(rng.choice(len(real.train), n, replace=False))]
        d_train = nearest_distances(syn, train_sub)
        d_hold = nearest_distances(syn, hold[:n])
        d_train_all = nearest_distances(syn, real.train.images)
        typical = float(np.median(nearest_distances(hold, real.train.images)))
        copies = int((d_train_all < self.copy_factor * typical).sum())
        ratio = float(np.median(d_train) / max(np.median(d_hold), 1e-12))
        details = {
            "median_distance_train": float(np.median(d_train)),
            "median_distance_holdout": float(np.median(d_hold)),
            "share_closer_to_train": float((d_train < d_hold).mean()),
            "near_copies": copies, "copy_threshold": self.copy_factor * typical,
            "holdout_to_train_median": typical, "min_ratio": self.min_ratio,
            "n_synthetic": len(syn), "n_reference": n,
        }
        passed = copies == 0 and ratio >= self.min_ratio
        return [MetricResult(self.name, ratio, None, details, passed=passed)]
