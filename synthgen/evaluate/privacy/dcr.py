"""Distance to closest record (DCR), training records against holdout records.

For each synthetic row (up to 10,000 drawn at random), the distance to the closest record
of the training split and of the holdout split (the mixed distance of
``TableEncoding.distance_features``), and which of the two is closer. Comparing against
records the model never saw, rather than reading raw distances against a fixed cut-off,
makes the check independent of the table's scale and density (Platzer and Reutterer 2021,
"Holdout-based empirical assessment of mixed-type synthetic data").

If the generator learnt only the population, a synthetic row is a fresh draw from it, and
by exchangeability its closest record among the n_t training and n_h holdout records is
equally likely to be any of them: it lies in the training split with probability
p0 = n_t / (n_t + n_h). A generator that memorises pushes that towards 1. The metric is
the observed share s (ties count p0: no evidence either way) rescaled by the odds of the
split sizes,

    s* = s n_h / (s n_h + (1 - s) n_t),

which is what the share would be with equally large splits: 0.5 for a generator that never
saw the training records, 1 when every synthetic row copies one.
"""

from __future__ import annotations

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult

HISTOGRAM_BINS = 40
TIE_TOLERANCE = 1e-6  # distances are in whole-column units; float error is ~1e-8


def closer_share(d_train: np.ndarray, d_holdout: np.ndarray, tie_weight: float = 0.5) -> float:
    """Share of rows with d_train < d_holdout, ties counting ``tie_weight``."""
    tie = np.abs(d_train - d_holdout) <= TIE_TOLERANCE
    return float(((d_train < d_holdout) & ~tie).mean() + tie_weight * tie.mean())


def equal_size_share(share: float, n_train: int, n_holdout: int) -> float:
    """Rescale a closer-to-train share by the odds of the split sizes (see module doc)."""
    num = share * n_holdout
    den = num + (1.0 - share) * n_train
    return float(num / den) if den > 0 else 0.5


def shared_histogram(
    a: np.ndarray, b: np.ndarray, bins: int = HISTOGRAM_BINS, top: float | None = None
) -> dict[str, list[float]]:
    """Counts of ``a`` and ``b`` on shared bins from 0 to ``top`` (default: their 99th
    percentile; larger values land in the last bin)."""
    if top is None:
        top = float(np.quantile(np.concatenate([a, b]), 0.99)) if len(a) + len(b) else 1.0
    edges = np.linspace(0.0, max(top, 1e-6), bins + 1)
    return {
        "edges": edges.tolist(),
        "a": np.histogram(np.clip(a, 0, edges[-1]), bins=edges)[0].tolist(),
        "b": np.histogram(np.clip(b, 0, edges[-1]), bins=edges)[0].tolist(),
    }


def needs_holdout(inputs: TabularInputs) -> str | None:
    if inputs.holdout is None or len(inputs.holdout) < 2:
        return "there is no real holdout split to compare with"
    if len(inputs.train) < 2 or len(inputs.synthetic) == 0:
        return "a table is too small"
    return None


class DCRCloserToTrainShare(TabularMetric):
    name = "dcr_closer_to_train_share"
    title = "Share of synthetic rows closer to a training than to a holdout record (size-corrected)"
    family = "privacy"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    ideal = 0.5
    description = "share of synthetic rows whose closest real record is a training record, rescaled to equal split sizes (0.5: no preference)"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        reason = needs_holdout(inputs)
        if reason:
            return self.unavailable(reason)
        n_train = len(inputs.subset("train_ref")[1])
        n_holdout = len(inputs.subset("holdout_ref")[1])
        p0 = n_train / (n_train + n_holdout)
        # k = 2: the NNDR metric needs the second neighbour of the same query; one search serves both
        d_train = inputs.nearest("synthetic_query", "train_ref", 2)[0][:, 0]
        d_holdout = inputs.nearest("synthetic_query", "holdout_ref", 1)[0][:, 0]
        raw = closer_share(d_train, d_holdout, tie_weight=p0)
        hist = shared_histogram(d_train, d_holdout)
        return self.result(
            equal_size_share(raw, n_train, n_holdout),
            details={
                "raw_share": raw,
                "expected_raw_share_without_memorisation": p0,
                "synthetic_rows_measured": len(d_train),
                "training_records": n_train,
                "holdout_records": n_holdout,
                "median_dcr_train": float(np.median(d_train)),
                "median_dcr_holdout": float(np.median(d_holdout)),
                "zero_distance_train": int((d_train <= TIE_TOLERANCE).sum()),
                "zero_distance_holdout": int((d_holdout <= TIE_TOLERANCE).sum()),
                "histogram": {"edges": hist["edges"], "train": hist["a"], "holdout": hist["b"]},
            },
        )
