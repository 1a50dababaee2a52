"""Augmentation lift: does adding synthetic rows help a team that has little real data?

For a few sizes of a real training subset (drawn from the real training split, stratified
by a simple retry until at least two classes are present), a model is trained on the
subset alone and on the subset plus the whole synthetic table, and both are tested on the
real holdout split. The lift of one draw is ROC AUC(subset + synthetic) - ROC AUC(subset);
small subsets are drawn several times. The metric is the mean over sizes of the mean lift
at each size: positive means the synthetic data helps, negative means it hurts.

Its 95% interval is a paired two-level bootstrap (``BOOTSTRAP_REPLICATES`` replicates,
percentile interval): each replicate resamples the holdout rows (the same rows for every
draw and both arms, as the design pairs them) and, within each size, the draws, then
recomputes the mean over sizes of the mean lift. It covers both the choice of real subsets
and the holdout's own sampling noise, which dominates when the real model is already near
perfect (on a 113-row holdout at AUC 0.99, subset draws alone agree to a few thousandths).
A release fails on ``augmentation_auc_lift_upper_95`` only when the whole interval lies
below 0.
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
# subsets of at most SMALL rows are drawn this many times (5, not 3: the interval resamples
# the draws of a size, and 3 draws give it only 10 distinct resamples), for 2 x 2 more small
# logistic regressions
REPEATS_SMALL = 5
SMALL = 200
MAX_SYNTHETIC_ROWS = 10_000  # synthetic rows added to each subset (a random sample beyond)
BOOTSTRAP_REPLICATES = 400  # replicates of the lift's interval
# holdout rows the bootstrap resamples (a fixed random subset beyond): bounds its cost on
# large holdouts; an AUC on fewer rows varies more, so the interval can only get wider
MAX_BOOTSTRAP_ROWS = 2_000


def subset_sizes(n_train: int, sizes: Sequence[int] = SUBSET_SIZES) -> list[int]:
    chosen = [s for s in sizes if s < n_train]
    return chosen or ([n_train // 2] if n_train >= 4 else [])


def weighted_auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Binary ROC AUC of ``scores`` against the boolean labels ``y`` under each row of
    ``weights`` (replicates x rows): the AUC of a bootstrap resample is the AUC with each
    row weighted by how often it was drawn (ties count half). One sort serves every
    replicate. NaN for a replicate without both labels."""
    order = np.argsort(scores, kind="stable")
    sorted_scores, positive = scores[order], y[order]
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])  # tie groups
    w_pos = np.add.reduceat(w * positive, starts, axis=1)
    w_neg = np.add.reduceat(w * ~positive, starts, axis=1)
    below = np.cumsum(w_neg, axis=1) - w_neg  # negative weight strictly below each group
    wins = (w_pos * (below + 0.5 * w_neg)).sum(axis=1)
    pairs = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def macro_weighted_auc(y: np.ndarray, proba: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``macro_roc_auc`` under each row of ``weights``: one-vs-rest over the classes with
    weight in the replicate, averaged (0.5 when none is defined)."""
    aucs = np.stack([weighted_auc(y == c, proba[:, c], weights) for c in np.unique(y)], axis=1)
    defined = np.isfinite(aucs)
    count = defined.sum(axis=1)
    return np.where(count > 0, np.where(defined, aucs, 0.0).sum(axis=1) / np.maximum(count, 1), 0.5)


def bootstrap_interval(
    y: np.ndarray,
    draws: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
    *,
    rng: np.random.Generator,
    replicates: int = BOOTSTRAP_REPLICATES,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the mean over sizes of the mean lift, from ``draws[size]`` =
    [(probabilities of the subset's model, of the augmented model)] on the test rows with
    labels ``y``: holdout rows resampled once per replicate (shared by all draws and both
    arms), draws resampled within each size."""
    n = len(y)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64)
    per_size = []
    for size_draws in draws:
        lifts = np.stack(
            [
                macro_weighted_auc(y, augmented, weights) - macro_weighted_auc(y, real, weights)
                for real, augmented in size_draws
            ],
            axis=1,
        )  # replicates x draws
        pick = rng.integers(0, lifts.shape[1], size=lifts.shape)
        per_size.append(np.take_along_axis(lifts, pick, axis=1).mean(axis=1))
    means = np.mean(per_size, axis=0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def augmentation_draws(
    inputs: TabularInputs, family: Family, sizes: Sequence[int]
) -> dict[str, Any] | str:
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
        pick = inputs.rng("augmentation synthetic").choice(
            len(synthetic), MAX_SYNTHETIC_ROWS, replace=False
        )
        synthetic = synthetic.iloc[np.sort(pick)].reset_index(drop=True)

    def predict(train: pd.DataFrame) -> np.ndarray:
        return fit_predict(
            family,
            train,
            label_codes(enc, train, target),
            inputs.holdout,
            encoding=enc,
            columns=features,
            n_classes=n_classes,
            seed=inputs.seed,
        )

    rng = inputs.rng("augmentation subsets")
    points, lifts = [], []
    probabilities: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for size in sizes:
        real_aucs, augmented_aucs = [], []
        probabilities.append([])
        for _ in range(REPEATS_SMALL if size <= SMALL else 1):
            idx = rng.choice(len(inputs.train), size, replace=False)
            for _retry in range(10):
                if len(np.unique(y_train[idx])) >= 2:
                    break
                idx = rng.choice(len(inputs.train), size, replace=False)
            subset = inputs.train.iloc[np.sort(idx)]
            real = predict(subset.reset_index(drop=True))
            augmented = predict(pd.concat([subset, synthetic], ignore_index=True))
            probabilities[-1].append((real, augmented))
            real_aucs.append(macro_roc_auc(y_test, real))
            augmented_aucs.append(macro_roc_auc(y_test, augmented))
        lifts.append([a - r for a, r in zip(augmented_aucs, real_aucs, strict=True)])
        points.append(
            {
                "real_rows": size,
                "repeats": len(real_aucs),
                "roc_auc_real": float(np.mean(real_aucs)),
                "roc_auc_augmented": float(np.mean(augmented_aucs)),
                "lift": float(np.mean(augmented_aucs) - np.mean(real_aucs)),
                "draw_lifts": lifts[-1],
            }
        )
    keep = np.arange(len(y_test))
    if len(keep) > MAX_BOOTSTRAP_ROWS:
        keep = np.sort(
            inputs.rng("augmentation bootstrap rows").choice(
                len(keep), MAX_BOOTSTRAP_ROWS, replace=False
            )
        )
    low, high = bootstrap_interval(
        y_test[keep],
        [[(r[keep], a[keep]) for r, a in size] for size in probabilities],
        rng=inputs.rng("augmentation bootstrap"),
    )
    return {
        "lift": float(np.mean([p["lift"] for p in points])),
        "interval_95": [low, high],
        "interval_method": f"paired bootstrap, {BOOTSTRAP_REPLICATES} replicates: holdout rows "
        f"({len(keep)}) and the draws of each size resampled, percentile interval",
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


class AugmentationLiftUpperBound(AugmentationLift):
    """The upper end of the lift's 95% interval: below 0, adding these rows to real data
    makes models worse beyond the noise of the measurement. Same draws as the lift (cached)."""

    name = "augmentation_auc_lift_upper_95"
    title = "Augmentation: upper end of the lift's 95% interval"
    bounds = (-2.0, 2.0)
    description = "upper end of a paired bootstrap interval for the augmentation lift (holdout rows and draws)"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        draws = augmentation_draws(inputs, self.model_family, self.sizes)
        if isinstance(draws, str):
            return self.unavailable(draws)
        low, high = draws["interval_95"]
        return self.result(
            high,
            details={
                "lift": draws["lift"],
                "interval_95": [low, high],
                "method": draws["interval_method"],
            },
        )
