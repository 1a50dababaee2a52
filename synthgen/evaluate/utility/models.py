"""The model families used by utility and detection metrics, and how they are scored.

Two families, chosen to be standard, fast and hard to get wrong:
- ``gradient_boosting``: scikit-learn's HistGradientBoostingClassifier with native
  categorical splits, numerics as they are (nulls handled natively), fixed settings;
- ``logistic_regression``: one-hot categoricals, numerics standardised by the training
  set's mean and standard deviation with null indicators, L2-regularised.

Settings are fixed in advance (no tuning on real data) so that train-on-real and
train-on-synthetic get exactly the same treatment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from synthgen.evaluate.tables import TableEncoding

Family = Literal["gradient_boosting", "logistic_regression"]
FAMILIES: tuple[Family, ...] = ("gradient_boosting", "logistic_regression")
MAX_NATIVE_CATEGORIES = 250  # HistGradientBoosting allows at most 255 categories per feature


class ModelFeatures:
    """Design matrices for one family over fixed columns, fitted on a training table."""

    def __init__(self, family: Family, encoding: TableEncoding, columns: Sequence[str]):
        self.family = family
        self.encoding = encoding
        self.columns = list(columns)
        self.mean: dict[str, float] = {}
        self.std: dict[str, float] = {}

    def fit(self, df: pd.DataFrame) -> ModelFeatures:
        for name in self.columns:
            if name in self.encoding.scale:
                x = df[name].to_numpy(dtype=float)
                finite = x[np.isfinite(x)]
                self.mean[name] = float(finite.mean()) if finite.size else 0.0
                sd = float(finite.std()) if finite.size else 1.0
                self.std[name] = sd if sd > 0 else 1.0
        return self

    def categorical_mask(self) -> list[bool]:
        """Which columns of the gradient boosting matrix are categorical."""
        return [
            name in self.encoding.vocabulary
            and len(self.encoding.vocabulary[name]) < MAX_NATIVE_CATEGORIES
            for name in self.columns
        ]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        enc = self.encoding
        n = len(df)
        blocks: list[np.ndarray] = []
        for name in self.columns:
            if name in enc.scale:
                x = df[name].to_numpy(dtype=float)
                if self.family == "gradient_boosting":
                    blocks.append(x[:, None])
                else:
                    null = np.isnan(x)
                    z = np.where(null, 0.0, (x - self.mean[name]) / self.std[name])
                    blocks.append(z[:, None])
                    blocks.append(null.astype(float)[:, None])
            else:
                codes = enc.category_codes(df, name)
                if self.family == "gradient_boosting":
                    blocks.append(codes.astype(float)[:, None])
                else:
                    onehot = np.zeros((n, len(enc.vocabulary[name]) + 1))
                    onehot[np.arange(n), codes] = 1.0
                    blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((n, 0))


def make_classifier(family: Family, features: ModelFeatures, seed: int) -> Any:
    if family == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        mask = features.categorical_mask()
        return HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.1,
            early_stopping=False,
            random_state=seed,
            categorical_features=mask if any(mask) else None,
        )
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=500)


class ConstantClassifier:
    """Predicts the training class frequencies: what a model can do with one class."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> ConstantClassifier:
        self.classes_ = np.unique(y)
        self.p = np.array([(y == c).mean() for c in self.classes_])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self.p, (len(x), 1))


def fit_predict(
    family: Family,
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    *,
    encoding: TableEncoding,
    columns: Sequence[str],
    n_classes: int,
    seed: int,
) -> np.ndarray:
    """Fit on ``train`` and return class probabilities on ``test`` as an
    (n_test, n_classes) matrix (zero for classes the training set lacks)."""
    features = ModelFeatures(family, encoding, columns).fit(train)
    x_train, x_test = features.transform(train), features.transform(test)
    model: Any
    if len(np.unique(y_train)) < 2:
        model = ConstantClassifier().fit(x_train, y_train)
    else:
        model = make_classifier(family, features, seed).fit(x_train, y_train)
    proba = np.zeros((len(test), n_classes))
    proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(x_test)
    return proba


def macro_roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """One-vs-rest ROC AUC averaged over the classes present in ``y`` (for two classes this
    is the usual binary AUC); 0.5 when it is undefined."""
    from sklearn.metrics import roc_auc_score

    aucs = []
    for c in np.unique(y):
        positive = y == c
        if positive.all():
            continue
        aucs.append(roc_auc_score(positive, proba[:, c]))
    return float(np.mean(aucs)) if aucs else 0.5


def classification_scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = np.argmax(proba, axis=1)
    return {
        "roc_auc": macro_roc_auc(y, proba),
        "f1_macro": float(f1_score(y, predicted, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y, predicted)),
    }


def label_codes(encoding: TableEncoding, df: pd.DataFrame, target: str) -> np.ndarray:
    """Class index of each row (the label's vocabulary; null labels get the last code)."""
    return encoding.category_codes(df, target)
