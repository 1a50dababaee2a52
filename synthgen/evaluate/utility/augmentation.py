"""Augmentation lift: does adding synthetic rows help a team that has little real data?

For a few sizes of a real training subset (drawn from the real training split, stratified
by a simple retry until at least two classes are present), a model is trained on the
subset alone and on the subset plus the whole synthetic table, and both are tested on the
real holdout split. The lift at a size is ROC AUC(subset + synthetic) - ROC AUC(subset);
small subsets are drawn several times and averaged. The metric is the mean lift over the
sizes: positive means the synthetic data helps, negative means it hurts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.utility.models import Family, fit_predict, label_codes, macro_roc_auc
from synthgen.evaluate.utility.tstr import holdout_needed

SUBSET_SIZES = (50, 200, 1000, 5000)
REPEATS_SMALL = 3  # subsets of at most SMALL rows are drawn this many times
SMALL = 200
MAX_SYNTHETIC_ROWS = 10_000  # synthetic rows added to each subset (a random sample beyond)


def subset_sizes(n_train: int, sizes: Sequence[int] = SUBSET_SIZES) -> list[int]:
    chosen = [s for s in sizes if s < n_train]
    return chosen or ([n_train // 2] if n_train >= 4 else [])


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
        reason = holdout_needed(inputs)
        if reason:
            return self.unavailable(reason)
        assert inputs.target is not None and inputs.holdout is not None
        enc, target = inputs.encoding, inputs.target
        sizes = subset_sizes(len(inputs.train), self.sizes)
        if not sizes:
            return self.unavailable("the training split is too small for subsets")
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
                self.model_family, train, label_codes(enc, train, target), inputs.holdout,
                encoding=enc, columns=features, n_classes=n_classes, seed=inputs.seed,
            )
            return macro_roc_auc(y_test, proba)

        rng = inputs.rng("augmentation subsets")
        points = []
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
            points.append({
                "real_rows": size,
                "repeats": len(real_aucs),
                "roc_auc_real": float(np.mean(real_aucs)),
                "roc_auc_augmented": float(np.mean(augmented_aucs)),
                "lift": float(np.mean(augmented_aucs) - np.mean(real_aucs)),
            })
        return self.result(
            float(np.mean([p["lift"] for p in points])),
            details={
                "points": points,
                "model_family": self.model_family,
                "synthetic_rows_added": len(synthetic),
                "tested_on": "holdout",
            },
        )
