"""Nearest-neighbour distance ratio (NNDR) of synthetic rows to the training records.

For a synthetic row, the distance to its closest training record divided by the distance
to its second closest. A ratio near 0 means the row sits on top of one particular record,
far from all others: the signature of a memorised outlier. A ratio near 1 means the row is
in a region where many records look alike. The metric is the median ratio over synthetic
rows; for scale, the details give the same median for real holdout rows against the same
training sample (what unseen records from the population look like). There is no
population-independent threshold, so the default policy reports it without gating.
"""

from __future__ import annotations

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.privacy.dcr import needs_holdout, shared_histogram

EPSILON = 1e-12


def distance_ratio(dist: np.ndarray) -> np.ndarray:
    """d1 / d2 per row, given the two nearest distances (two coinciding records: 1)."""
    return (dist[:, 0] + EPSILON) / (dist[:, 1] + EPSILON)


class NearestNeighbourDistanceRatio(TabularMetric):
    name = "nndr_median"
    title = "Median nearest-neighbour distance ratio of synthetic rows"
    family = "privacy"
    direction = "higher_is_better"
    bounds = (0.0, 1.0)
    ideal = None
    description = "median over synthetic rows of d(closest training record) / d(second closest)"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        reason = needs_holdout(inputs)
        if reason:
            return self.unavailable(reason)
        if len(inputs.subset("train_ref")[1]) < 2:
            return self.unavailable("fewer than two training records to compare with")
        synthetic = distance_ratio(inputs.nearest("synthetic_query", "train_ref", 2)[0])
        holdout = distance_ratio(inputs.nearest("holdout_query", "train_ref", 2)[0])
        hist = shared_histogram(synthetic, holdout, bins=20, top=1.0)
        return self.result(
            float(np.median(synthetic)),
            details={
                "holdout_median": float(np.median(holdout)),
                "synthetic_5th_percentile": float(np.quantile(synthetic, 0.05)),
                "holdout_5th_percentile": float(np.quantile(holdout, 0.05)),
                "histogram": {"edges": hist["edges"], "synthetic": hist["a"], "holdout": hist["b"]},
            },
        )
