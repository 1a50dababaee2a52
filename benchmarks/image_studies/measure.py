"""The release validation's image metrics (``synthgen.evaluate.images``), run on synthetic
images held in memory and read the way the benchmark tables print them.

The benchmark and the studies use the validation's own metric classes on the model's real
splits, with a fixed CNN protocol: ``classifier_steps`` steps per network (whatever the
training set's size), ``networks`` CNNs per side, and the downstream recipe the utility
study chose on the holdout (``DOWNSTREAM_RECIPE``: random shifts of 2 pixels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.image_studies.utility_study import DOWNSTREAM_RECIPE
from synthgen.evaluate.gate import verdict
from synthgen.evaluate.images.files import load_image_model_files
from synthgen.evaluate.images.inputs import ImageInputs, ImageMetric, ImageValidationOptions
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.policy import load_policy
from synthgen.evaluate.registry import image_metrics
from synthgen.evaluate.result import certificate_and_metric_checks
from synthgen.images.data import ImageSet


def study_options(*, classifier_steps: int, networks: int) -> ImageValidationOptions:
    return ImageValidationOptions(
        cnn_min_steps=classifier_steps, cnn_max_steps=classifier_steps,
        tstr_networks=networks, trtr_networks=networks, cnn_shift=DOWNSTREAM_RECIPE.shift,
    )


def evaluate_synthetic(model_dir: str | Path, synthetic: ImageSet, *, options: ImageValidationOptions,
                       seed: int = 0, metrics: list[ImageMetric] | None = None,
                       feature_classifier: Any = None) -> dict[str, Any]:
    """``{"metrics": {name: MetricResult}, "verdict": ..., "memorisation": ...,
    "feature_classifier": CNN}`` for ``synthetic`` against the real splits in the model's
    private run directory. The verdict, and that of the privacy checks alone, are the
    default release policy's, given only when every metric of the release ran. The
    feature CNN depends on the real training split, the seed and the options only: pass the
    one a previous call returned to skip training it again."""
    files = load_image_model_files(model_dir)
    inputs = ImageInputs.build(spec=files.spec, train=files.train, holdout=files.holdout,
                               test=files.test, synthetic=synthetic, seed=seed, options=options)
    if feature_classifier is not None:
        inputs._cache["classifier"] = feature_classifier
    chosen = image_metrics() if metrics is None else metrics
    results = [metric.evaluate(inputs) for metric in chosen]
    checks = []
    if metrics is None:
        checks = certificate_and_metric_checks(files.certificate, results, load_policy(None))
    memorisation = [c for c in checks if c.family == "privacy"]
    return {"metrics": {r.name: r for r in results},
            "verdict": verdict(checks) if checks else None,
            # the worst of the memorisation checks (ratio, near and exact copies): the gate
            # that replaced the former nearest-neighbour check's pass / fail
            "memorisation": verdict(memorisation) if memorisation else None,
            "feature_classifier": inputs._cache.get("classifier")}


def headline(metrics: dict[str, MetricResult]) -> dict[str, float | None]:
    """The printed numbers, by the names the benchmark's JSON and tables have used."""
    tstr = metrics.get("image_tstr_auc_ratio")
    rows = {r["trained_on"]: r for r in tstr.details.get("rows", [])} if tstr else {}
    out: dict[str, float | None] = {
        "tstr_roc_auc": rows.get("synthetic", {}).get("roc_auc"),
        "tstr_accuracy": rows.get("synthetic", {}).get("accuracy"),
        "trtr_roc_auc": rows.get("real", {}).get("roc_auc"),
        "trtr_accuracy": rows.get("real", {}).get("accuracy"),
        "tstr_over_trtr": tstr.value if tstr else None,
    }
    for key, name in (("frechet_classifier_distance", "image_frechet_distance"),
                      ("precision", "image_precision"), ("recall", "image_recall"),
                      ("density", "image_density"), ("coverage", "image_coverage"),
                      ("nn_distance_ratio", "image_nn_distance_ratio"),
                      ("near_copy_share", "image_near_copy_share"),
                      ("exact_copy_share", "image_exact_copy_share"),
                      ("closer_to_train_share", "image_dcr_closer_to_train_share")):
        result = metrics.get(name)
        out[key] = result.value if result else None
    return out
