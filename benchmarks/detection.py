"""Detection AUC: how well a classifier tells synthetic rows from real ones.

Gradient boosting on real training rows (label 1) against as many synthetic rows (label 0),
ROC AUC from 5-fold stratified cross-validation. 0.5: indistinguishable; 1.0: every
synthetic row is recognisable. For the benchmarks only (it reads the real rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from benchmarks.tabular_metrics import _features
from synthgen.tabular.schema import Schema


def detection_auc(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, seed: int = 0
) -> float:
    """Cross-validated ROC AUC of real-versus-synthetic (every synthesised column, the label
    included; categorical columns as categories, numbers as numbers)."""
    n = min(len(real), len(synthetic))
    rng = np.random.default_rng(seed)
    columns = [spec.name for spec in schema.synthesized]
    both = pd.concat(
        [
            real.iloc[rng.choice(len(real), n, replace=False)][columns],
            synthetic.iloc[rng.choice(len(synthetic), n, replace=False)][columns],
        ],
        ignore_index=True,
    )
    for spec in schema.synthesized:
        if not spec.is_numeric:
            both[spec.name] = (
                both[spec.name].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
            )
    both["__real__"] = np.r_[np.ones(n), np.zeros(n)].astype(int)
    x = _features(both, "__real__", both)
    clf = HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=100, random_state=seed
    )
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_predict(clf, x, both["__real__"], cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(both["__real__"], scores))
