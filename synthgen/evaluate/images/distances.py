"""Memorisation in pixel space: nearest training images against the holdout.

Distances are RMS pixel differences with pixels in [0, 1] (0: identical, 1: black against
white everywhere), to the nearest image of the training split and of the holdout split.

- ``image_nn_distance_ratio``: median distance of the synthetic images to their nearest
  training image over the median distance of the holdout images to theirs. Both are
  measured against the same training set, so its size favours neither. A generator that
  draws from the population gives synthetic images that are as far from the training
  images as unseen real images are: about 1 (a DP model's smoother images usually score
  above 1); copies of training images pull it to 0. On BreastMNIST, with random
  re-splits into 546 training, 78 holdout and 156 fresh real images standing in for the
  synthetic ones, the ratio was 1.00 ± 0.05 (1st percentile 0.89, lowest of 300 splits
  0.86); it falls below 0.5 once a fifth of the synthetic images are training copies.
- ``image_dcr_closer_to_train_share``: the tabular ``dcr_closer_to_train_share`` on
  images: share s of synthetic images whose nearest real image is a training rather than
  a holdout image, ties counting p0 = n_t / (n_t + n_h), rescaled to equal split sizes,
  s n_h / (s n_h + (1 - s) n_t): 0.5 for a generator that never saw the training images
  (exchangeability), 1 for copies. The same BreastMNIST re-splits gave 0.51 ± 0.07
  (99th percentile 0.70). Unlike the ratio, it is erratic when the synthetic images are
  far from all real images, as a blurry or briefly trained DP model's are: in high
  dimension their nearest real image is one of a few "hub" images (Radovanović et al.
  2010), and the split those few images fall in decides the share (a 20-step BreastMNIST
  model scored 0.66 with no copy at all). The default policy reports it without
  thresholds; the gate relies on the ratio, the near copies and the exact copies.

The near-copy tail is ``copies.NearCopyShare``; these two look at the bulk.
"""

from __future__ import annotations

import math

import numpy as np

from synthgen.evaluate.images.inputs import ImageInputs, ImageMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.privacy.dcr import closer_share, equal_size_share

HISTOGRAM_BINS = 40


def distance_histograms(inputs: ImageInputs) -> dict[str, list[float]]:
    """Counts on shared bins (0 to the 99th percentile; larger values in the last bin) of
    the distances synthetic -> train, synthetic -> holdout and holdout -> train."""
    series = {
        "synthetic_to_train": inputs.nearest("synthetic", "train")[0],
        "synthetic_to_holdout": inputs.nearest("synthetic", "holdout")[0],
        "holdout_to_train": inputs.nearest("holdout", "train")[0],
    }
    top = float(np.quantile(np.concatenate(list(series.values())), 0.99))
    edges = np.linspace(0.0, max(top, 1e-6), HISTOGRAM_BINS + 1)
    out: dict[str, list[float]] = {"edges": edges.tolist()}
    for name, d in series.items():
        out[name] = np.histogram(np.clip(d, 0, edges[-1]), bins=edges)[0].tolist()
    return out


class NearestTrainingDistanceRatio(ImageMetric):
    name = "image_nn_distance_ratio"
    title = "Nearest-training-image distance: synthetic over holdout (medians)"
    family = "privacy"
    direction = "higher_is_better"
    bounds = (0.0, math.inf)
    ideal = 1.0
    description = "median distance of synthetic images to their nearest training image over that of holdout images (about 1 without memorisation, 0 for copies)"

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        d_synthetic = inputs.nearest("synthetic", "train")[0]
        d_holdout = inputs.nearest("holdout", "train")[0]
        median_holdout = float(np.median(d_holdout))
        if median_holdout <= 0:
            return self.unavailable("most holdout images are identical to a training image")
        return self.result(
            float(np.median(d_synthetic)) / median_holdout,
            details={
                "median_synthetic_to_train": float(np.median(d_synthetic)),
                "median_holdout_to_train": median_holdout,
                "median_synthetic_to_holdout": float(
                    np.median(inputs.nearest("synthetic", "holdout")[0])
                ),
                "synthetic_images_measured": len(d_synthetic),
                "holdout_images": len(d_holdout),
                "training_images": len(inputs.reference("train")[0]),
                "histogram": distance_histograms(inputs),
            },
        )


class DCRCloserToTrainShare(ImageMetric):
    name = "image_dcr_closer_to_train_share"
    title = (
        "Share of synthetic images closer to a training than to a holdout image (size-corrected)"
    )
    family = "privacy"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    ideal = 0.5
    description = "share of synthetic images whose nearest real image is a training image, rescaled to equal split sizes (0.5: no preference)"

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        n_train = len(inputs.reference("train")[0])
        n_holdout = len(inputs.reference("holdout")[0])
        p0 = n_train / (n_train + n_holdout)
        d_train = inputs.nearest("synthetic", "train")[0]
        d_holdout = inputs.nearest("synthetic", "holdout")[0]
        raw = closer_share(d_train, d_holdout, tie_weight=p0)
        return self.result(
            equal_size_share(raw, n_train, n_holdout),
            details={
                "raw_share": raw,
                "expected_raw_share_without_memorisation": p0,
                "synthetic_images_measured": len(d_train),
                "training_images": n_train,
                "holdout_images": n_holdout,
            },
        )
