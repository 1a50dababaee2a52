"""Train on synthetic, test on real (TSTR), against train on real, test on real (TRTR).

For each model family, one model is trained on the synthetic table and one on the real
training split, with identical fixed settings, and both predict the label of the real
holdout split, which neither saw. The metric is the mean over families of
ROC AUC(TSTR) / ROC AUC(TRTR): 1 means a model built on synthetic data is as good as one
built on the real data. Multiclass labels use one-vs-rest AUC averaged over classes; F1 is
macro-averaged. (Esteban, Hyland and Rätsch 2017 introduced TSTR for synthetic data.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.utility.models import (
    FAMILIES,
    Family,
    classification_scores,
    fit_predict,
    label_codes,
)

MAX_TRAINING_ROWS = 50_000


def holdout_needed(inputs: TabularInputs) -> str | None:
    """Why a utility metric cannot run on these inputs, or None."""
    if inputs.target is None:
        return "the schema declares no label column"
    if inputs.holdout is None or len(inputs.holdout) == 0:
        return "there is no real holdout split to test on"
    y = label_codes(inputs.encoding, inputs.holdout, inputs.target)
    if len(np.unique(y)) < 2:
        return "the holdout split holds a single class"
    return None


class TrainSyntheticTestReal(TabularMetric):
    name = "tstr_auc_ratio"
    title = "Utility: ROC AUC train-on-synthetic / train-on-real"
    family = "utility"
    direction = "higher_is_better"
    bounds = (0.0, 2.0)
    ideal = 1.0
    description = (
        "mean over model families of AUC(train synthetic) / AUC(train real), tested on real holdout"
    )

    def __init__(self, families: Sequence[Family] = FAMILIES):
        self.families = tuple(families)

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        reason = holdout_needed(inputs)
        if reason:
            return self.unavailable(reason)
        assert inputs.target is not None and inputs.holdout is not None
        enc, target = inputs.encoding, inputs.target
        features = [c for c in enc.columns if c != target]
        n_classes = len(enc.vocabulary[target]) + 1
        holdout = inputs.holdout
        y_test = label_codes(enc, holdout, target)
        rows: list[dict[str, Any]] = []
        ratios = []
        for family in self.families:
            scores = {}
            for source in ("real", "synthetic"):
                table = inputs.train if source == "real" else inputs.synthetic
                if len(table) > MAX_TRAINING_ROWS:
                    pick = inputs.rng(f"tstr {source}").choice(
                        len(table), MAX_TRAINING_ROWS, replace=False
                    )
                    table = table.iloc[np.sort(pick)].reset_index(drop=True)
                proba = fit_predict(
                    family,
                    table,
                    label_codes(enc, table, target),
                    holdout,
                    encoding=enc,
                    columns=features,
                    n_classes=n_classes,
                    seed=inputs.seed,
                )
                scores[source] = classification_scores(y_test, proba)
                rows.append(
                    {"family": family, "trained_on": source, "rows": len(table), **scores[source]}
                )
            ratios.append(scores["synthetic"]["roc_auc"] / max(scores["real"]["roc_auc"], 1e-9))
        return self.result(
            float(np.mean(ratios)),
            details={
                "rows": rows,
                "ratios": dict(zip(self.families, ratios, strict=True)),
                "tested_on": "holdout",
                "n_test": len(holdout),
                "classes": enc.vocabulary[target],
            },
        )
