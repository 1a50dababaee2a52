"""Run every image metric and collect the results (the image validation report's input)."""

from __future__ import annotations

from typing import Any

from synthgen.errors import InsufficientData
from synthgen.images.data import ImageSet
from synthgen.images.metrics.base import ImageMetric, MetricResult, RealImages
from synthgen.images.metrics.coverage import ManifoldCoverage
from synthgen.images.metrics.frechet import FrechetClassifierDistance
from synthgen.images.metrics.nearest_neighbour import NearestNeighbourCheck
from synthgen.images.metrics.tstr import TrainRealTestReal, TrainSyntheticTestReal


def default_metrics() -> list[ImageMetric]:
    return [TrainSyntheticTestReal(), TrainRealTestReal(), FrechetClassifierDistance(),
            ManifoldCoverage(), NearestNeighbourCheck()]


def evaluate_images(real: RealImages, synthetic: ImageSet,
                    metrics: list[ImageMetric] | None = None) -> dict[str, Any]:
    """``{metric name: result dict}``; a metric that cannot run says why instead."""
    out: dict[str, Any] = {}
    for metric in metrics or default_metrics():
        try:
            results: list[MetricResult] = metric.compute(real, synthetic)
        except InsufficientData as exc:
            out[metric.name] = {"skipped": str(exc)}
            continue
        for r in results:
            out[r.name] = r.to_json_dict()
    return out
