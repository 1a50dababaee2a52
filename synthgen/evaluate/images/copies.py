"""Copies of training images: pixel-identical, and closer than unseen real images get.

Bug detectors, not privacy proofs (docs/privacy.md#checks).

- ``image_exact_copy_share``: share of the synthetic images (all of them) that are
  pixel-identical to a training image. A diffusion sampler produces 28x28 or larger images
  of 256 grey levels per pixel: an identical image does not happen by chance, except for
  degenerate images (a blank frame). The report gives the same count against the holdout
  for comparison and shows the closest pairs side by side.
- ``image_near_copy_share``: share of the synthetic images (up to 5,000) whose nearest
  training image (RMS pixel distance) is closer than the 5% quantile of the holdout
  images' distances to their nearest training image. Unseen real images are, by
  definition, that close to a training image 5% of the time; a generator that draws from
  the population and never saw the training images produces synthetic images
  exchangeable with the holdout, so about 5% of them fall below the quantile, whatever the
  data set's own near-duplicates (BreastMNIST has many: 38% of its validation images lie
  within a third of the median distance of a training image, so a fixed distance cut-off
  would flag real, unseen images as copies). Memorised images fall below it: copies of
  training images make up the excess. Comparing with the holdout is the holdout-based
  DCR test of Platzer and Reutterer (2021) applied to the close tail.
"""

from __future__ import annotations

import numpy as np

from synthgen.evaluate.images.inputs import ImageInputs, ImageMetric
from synthgen.evaluate.metric import MetricResult


class ExactCopyShare(ImageMetric):
    name = "image_exact_copy_share"
    title = "Share of synthetic images identical to a training image"
    family = "privacy"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    ideal = 0.0
    description = "share of synthetic images pixel-identical to a training image"

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        train = inputs.exact_matches("train")
        holdout = inputs.exact_matches("holdout")
        copies = train >= 0
        return self.result(
            float(copies.mean()),
            details={
                "copies": int(copies.sum()),
                "distinct_training_images_copied": len(np.unique(train[copies])),
                "synthetic_images": len(train),
                "training_images": len(inputs.train),
                "holdout_matches": int((holdout >= 0).sum()),
                "holdout_match_share": float((holdout >= 0).mean()),
                "holdout_images": len(inputs.holdout),
            },
        )


class NearCopyShare(ImageMetric):
    name = "image_near_copy_share"
    title = "Share of synthetic images closer to a training image than 95% of holdout images are"
    family = "privacy"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    description = "share of synthetic images whose nearest training image is closer than the 5% quantile of the holdout's nearest-training distances (about 0.05 without memorisation)"

    def evaluate(self, inputs: ImageInputs) -> MetricResult:
        q = inputs.options.near_copy_quantile
        baseline = inputs.nearest("holdout", "train")[0]
        d_train = inputs.nearest("synthetic", "train")[0]
        cutoff = float(np.quantile(baseline, q))
        near = d_train < cutoff
        return self.result(
            float(near.mean()),
            details={
                "quantile": q,
                "cutoff_distance": cutoff,
                "expected_without_memorisation": q,
                "near_copies": int(near.sum()),
                "synthetic_images_measured": len(d_train),
                "holdout_images": len(baseline),
                "holdout_share_below_cutoff": float((baseline < cutoff).mean()),
                "median_holdout_distance": float(np.median(baseline)),
            },
        )
