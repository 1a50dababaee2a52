"""Detection: can a classifier tell real records from synthetic ones?

Equal numbers of real holdout rows (the model never saw them, so memorised training rows
cannot help the detector) and synthetic rows are labelled 1/0, and a gradient boosting
classifier is scored by 3-fold cross-validated ROC AUC. 0.5 means the two are
indistinguishable to this classifier; 1.0 means every synthetic row can be spotted. The
metric reports the AUC itself, so lower is better down to 0.5 (below 0.5 is chance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.utility.models import ModelFeatures, make_classifier

MAX_ROWS_PER_SIDE = 10_000
FOLDS = 3


class DetectionAUC(TabularMetric):
    name = "detection_auc"
    title = "Detection ROC AUC (real holdout vs synthetic)"
    family = "fidelity"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    ideal = 0.5
    description = "cross-validated ROC AUC of a classifier separating real from synthetic rows"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        real_name = "holdout" if inputs.holdout is not None and len(inputs.holdout) else "train"
        real, syn = inputs.table(real_name), inputs.synthetic
        n = min(len(real), len(syn), MAX_ROWS_PER_SIDE)
        if n < 2 * FOLDS:
            return self.unavailable(f"too few rows to train a detector ({n} per side)")
        rng = inputs.rng("detection")
        both = pd.concat(
            [
                real.iloc[rng.choice(len(real), n, replace=False)],
                syn.iloc[rng.choice(len(syn), n, replace=False)],
            ],
            ignore_index=True,
        )
        is_real = np.repeat([1, 0], n)
        features = ModelFeatures("gradient_boosting", inputs.encoding, inputs.encoding.columns)
        x = features.fit(both).transform(both)
        auc = cross_validated_auc(
            x,
            is_real,
            folds=FOLDS,
            seed=inputs.seed,
            make_model=lambda: make_classifier("gradient_boosting", features, inputs.seed),
        )
        return self.result(
            auc, details={"real_table": real_name, "rows_per_side": n, "folds": FOLDS}
        )


def cross_validated_auc(
    x: np.ndarray, is_real: np.ndarray, *, folds: int, seed: int, make_model: Callable[[], Any]
) -> float:
    """ROC AUC of out-of-fold scores: each row is scored by a model fitted on the other
    folds (stratified, shuffled by ``seed``), so no row is scored by a model that saw it."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros(len(is_real))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splits.split(x, is_real):
        model = make_model()
        model.fit(x[train_idx], is_real[train_idx])
        scores[test_idx] = model.predict_proba(x[test_idx])[:, 1]
    return float(roc_auc_score(is_real, scores))
