"""Augmentation lift: does adding synthetic rows help a team that has little real data?

For a few sizes of a real training subset (drawn from the real training split, stratified
by a simple retry until at least two classes are present), a model is trained on the
subset alone and on the subset plus the whole synthetic table, and both are tested on the
real holdout split. The lift of one draw is ROC AUC(subset + synthetic) - ROC AUC(subset);
small subsets are drawn several times. The metric is the mean over sizes of the mean lift
at each size: positive means the synthetic data helps, negative means it hurts.

Its 95% interval is a t-interval for that mean of means over the draws, with the
within-size variance pooled across sizes (degrees of freedom: draws minus sizes). Sizes
drawn once (1,000 rows and more) borrow the pooled variance of the small sizes, whose lifts
vary more, so the interval errs wide: a release fails on ``augmentation_auc_lift_upper_95``
only when the whole interval lies below 0. The interval covers the choice of real subsets;
both arms of a draw are tested on the same holdout rows, so most of the holdout's own
sampling noise cancels in the paired difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.utility.models import Family, fit_predict, label_codes, macro_roc_auc
from synthgen.evaluate.utility.tstr import holdout_needed

SUBSET_SIZES = (50, 200, 1000, 5000)
# subsets of at most SMALL rows are drawn this many times: 5 draws give the interval at
# least 4 degrees of freedom on a table of 50-200 rows (t quantile 2.78 instead of 4.30
# with 3 draws), for 2 x 2 more small logistic regressions
REPEATS_SMALL = 5
SMALL = 200
MAX_SYNTHETIC_ROWS = 10_000  # synthetic rows added to each subset (a random sample beyond)


def subset_sizes(n_train: int, sizes: Sequence[int] = SUBSET_SIZES) -> list[int]:
    chosen = [s for s in sizes if s < n_train]
    return chosen or ([n_train // 2] if n_train >= 4 else [])


def mean_of_means_interval(lifts_by_size: Sequence[Sequence[float]], level: float = 0.95) -> tuple[float, float, int]:
    """(low, high, degrees of freedom) of a t-interval for the mean over groups of each
    group's mean, with the within-group variance pooled over groups. (nan, nan, 0) when no
    group has two values."""
    from scipy.stats import t

    groups = [np.asarray(g, dtype=float) for g in lifts_by_size]
    k = len(groups)
    dof = sum(g.size for g in groups) - k
    if k == 0 or dof <= 0:
        return float("nan"), float("nan"), 0
    mean = float(np.mean([g.mean() for g in groups]))
    pooled = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / dof
    standard_error = np.sqrt(pooled * sum(1.0 / g.size for g in groups)) / k
    half = float(t.ppf(0.5 + level / 2, dof)) * float(standard_error)
    return mean - half, mean + half, dof


def augmentation_draws(inputs: TabularInputs, family: Family, sizes: Sequence[int]) -> dict[str, Any] | str:
    """The lifts of every draw (cached per run: both augmentation checks read them), or
    why they cannot be measured."""
    key = ("augmentation", family, tuple(sizes))
    if key in inputs._cache:
        return inputs._cache[key]
    inputs._cache[key] = _draws(inputs, family, sizes)
    return inputs._cache[key]


def _draws(inputs: TabularInputs, family: Family, wanted: Sequence[int]) -> dict[str, Any] | str:
    reason = holdout_needed(inputs)
    if reason:
        return reason
    assert inputs.target is not None and inputs.holdout is not None
    enc, target = inputs.encoding, inputs.target
    sizes = subset_sizes(len(inputs.train), wanted)
    if not sizes:
        return "the training split is too small for subsets"
    features = [c for c in enc.columns if c != target]
    n_classes = len(enc.vocabulary[target]) + 1
    y_test = label_codes(enc, inputs.holdout, target)
    y_train = label_codes(enc, inputs.train, target)
    synthetic = inputs.synthetic
    if len(synthetic) > MAX_SYNTHETIC_ROWS:
        pick = inputs.rng("augmentation synthetic").choice(len(synthetic), MAX_SYNTHETIC_ROWS, replace=False)
        synthetic = synthetic.iloc[np.sort(pick)].reset_index(drop=True)

    def auc(train: pd.DataFrame) -> float:
        proba = fit_predict(
            family, train, label_codes(enc, train, target), inputs.holdout,
            encoding=enc, columns=features, n_classes=n_classes, seed=inputs.seed,
        )
        return macro_roc_auc(y_test, proba)

    rng = inputs.rng("augmentation subsets")
    points, lifts = [], []
    for size in sizes:
        real_aucs, augmented_aucs = [], []
        for _ in range(REPEATS_SMALL if size <= SMALL else 1):
            idx = rng.choice(len(inputs.train), size, replace=False)
            for _retry in range(10):
                if len(np.unique(y_train[idx])) >= 2:
                    break
                idx = rng.choice(len(inputs.train), size, replace=False)
            subset = inputs.train.iloc[np.sort(idx)]
            real_aucs.append(auc(subset.reset_index(drop=True)))
            augmented_aucs.append(auc(pd.concat([subset, synthetic], ignore_index=True)))
        lifts.append([a - r for a, r in zip(augmented_aucs, real_aucs, strict=True)])
        points.append({
            "real_rows": size,
            "repeats": len(real_aucs),
            "roc_auc_real": float(np.mean(real_aucs)),
            "roc_auc_augmented": float(np.mean(augmented_aucs)),
            "lift": float(np.mean(augmented_aucs) - np.mean(real_aucs)),
            "draw_lifts": lifts[-1],
        })
    low, high, dof = mean_of_means_interval(lifts)
    return {
        "lift": float(np.mean([p["lift"] for p in points])),
        "interval_95": [low, high],
        "interval_method": "t-interval of the mean over sizes of the mean lift per size, "
        f"within-size variance pooled ({dof} degrees of freedom)",
        "points": points,
        "model_family": family,
        "synthetic_rows_added": len(synthetic),
        "tested_on": "holdout",
    }


class AugmentationLift(TabularMetric):
    name = "augmentation_auc_lift"
    title = "Augmentation: ROC AUC lift of real subset + synthetic over real subset"
    family = "utility"
    direction = "higher_is_better"
    bounds = (-1.0, 1.0)
    ideal = None
    description = "mean over subset sizes of AUC(real subset + synthetic) - AUC(real subset)"

    def __init__(self, family: Family = "logistic_regression", sizes: Sequence[int] = SUBSET_SIZES):
        self.model_family: Family = family
        self.sizes = tuple(sizes)

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        draws = augmentation_draws(inputs, self.model_family, self.sizes)
        if isinstance(draws, str):
            return self.unavailable(draws)
        return self.result(draws["lift"], details={k: v for k, v in draws.items() if k != "lift"})


class AugmentationLiftUpperBound(TabularMetric):
    """The upper end of the lift's 95% interval: below 0, adding these rows to real data
    makes models worse beyond the noise of the measurement."""

    name = "augmentation_auc_lift_upper_95"
    title = "Augmentation: upper end of the lift's 95% interval"
    family = "utility"
    direction = "higher_is_better"
    bounds = (-2.0, 2.0)
    ideal = None
    description = "upper end of a t-interval for the augmentation lift (pooled over subset draws)"

    def __init__(self, family: Family = "logistic_regression", sizes: Sequence[int] = SUBSET_SIZES):
        self.model_family: Family = family
        self.sizes = tuple(sizes)

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        draws = augmentation_draws(inputs, self.model_family, self.sizes)
        if isinstance(draws, str):
            return self.unavailable(draws)
        low, high = draws["interval_95"]
        if not np.isfinite(high):
            return self.unavailable("no subset size was drawn twice")
        return self.result(
            high,
            details={"lift": draws["lift"], "interval_95": [low, high], "method": draws["interval_method"]},
        )
