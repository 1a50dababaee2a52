"""Image validation metrics, one per module, each ``compute(real, synthetic)``.

| metric | module | direction | what it checks |
|---|---|---|---|
| ``tstr_roc_auc`` / ``tstr_accuracy`` | ``tstr`` | higher | a CNN trained on synthetic, tested on the real test split |
| ``trtr_roc_auc`` / ``trtr_accuracy`` | ``tstr`` | reference | the same CNN trained on real training images |
| ``frechet_classifier_distance`` | ``frechet`` | lower | Frechet distance in the feature space of a CNN trained on real training images |
| ``precision`` / ``recall`` / ``density`` / ``coverage`` | ``coverage`` | higher | k-NN manifold metrics in that feature space |
| ``nearest_neighbour_check`` | ``nearest_neighbour`` | pass / fail | no training image reproduced: distances to train vs holdout |

They read real images, so results are NOT private (docs/privacy.md#where-real-data-flows): for the
steward and auditors only. ``RealImages.from_private_dir`` reads the split a training run
left in its private directory. The shape follows the tabular metrics (name, direction,
bounds, ``compute``) so the validation framework can register them unchanged.
"""

from typing import Any

from synthgen.images.metrics.base import ImageMetric, MetricResult, RealImages

__all__ = ["ImageMetric", "MetricResult", "RealImages", "evaluate_images"]


def __getattr__(name: str) -> Any:
    # ``evaluate_images`` pulls in the CNN (torch): imported on first use, so that the
    # numpy-only metric modules stay cheap to import
    if name == "evaluate_images":
        from synthgen.images.metrics.report import evaluate_images

        return evaluate_images
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
