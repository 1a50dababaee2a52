"""Utility metrics: TSTR against TRTR, augmentation lift, and the scoring helpers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from synthgen.evaluate.inputs import TabularInputs
from synthgen.evaluate.utility.augmentation import AugmentationLift, subset_sizes
from synthgen.evaluate.utility.models import classification_scores, macro_roc_auc
from synthgen.evaluate.utility.tstr import TrainSyntheticTestReal


def test_macro_roc_auc_hand_cases():
    y = np.array([0, 0, 1, 1])
    perfect = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert macro_roc_auc(y, perfect) == 1.0
    assert macro_roc_auc(y, perfect[:, ::-1]) == 0.0
    # three classes, one-vs-rest: class 2 perfectly ranked, classes 0/1 swapped -> (0 + 0 + 1) / 3
    y3 = np.array([0, 1, 2])
    p3 = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 1.0]])
    assert macro_roc_auc(y3, p3) == pytest.approx(1 / 3)
    scores = classification_scores(y, perfect)
    assert scores["accuracy"] == 1.0 and scores["f1_macro"] == 1.0


def test_tstr_on_fresh_real_records_matches_trtr(adult_fresh):
    result = TrainSyntheticTestReal().evaluate(adult_fresh)
    assert result.value == pytest.approx(1.0, abs=0.03)
    families = {(r["family"], r["trained_on"]) for r in result.details["rows"]}
    assert families == {(f, s) for f in ("gradient_boosting", "logistic_regression") for s in ("real", "synthetic")}
    real_auc = [r["roc_auc"] for r in result.details["rows"] if r["trained_on"] == "real"]
    assert min(real_auc) > 0.85  # Adult's income is predictable; a sanity check of the models


def test_tstr_on_a_copy_of_train_is_exactly_trtr(adult_copy):
    result = TrainSyntheticTestReal().evaluate(adult_copy)
    assert result.value == pytest.approx(1.0, abs=1e-9)


def test_tstr_on_independent_columns_collapses(adult_independent):
    result = TrainSyntheticTestReal().evaluate(adult_independent)
    assert result.value < 0.75  # no feature carries information about the label any more


def test_tstr_with_one_synthetic_class_is_chance(adult):
    only_low = adult.fresh[adult.fresh["income"] == "<=50K"].reset_index(drop=True)
    result = TrainSyntheticTestReal().evaluate(adult.inputs(only_low))
    synthetic_rows = [r for r in result.details["rows"] if r["trained_on"] == "synthetic"]
    assert all(r["roc_auc"] == pytest.approx(0.5) for r in synthetic_rows)


def test_utility_without_a_label_is_not_applicable(adult):
    schema = adult.schema
    no_label = replace(schema, columns=tuple(replace(c, role="feature") for c in schema.columns))
    inputs = TabularInputs.build(schema=no_label, train=adult.train, synthetic=adult.fresh, holdout=adult.holdout)
    for metric in (TrainSyntheticTestReal(), AugmentationLift()):
        result = metric.evaluate(inputs)
        assert result.value is None
        assert "label" in result.note


def test_subset_sizes_stay_below_the_training_size():
    assert subset_sizes(24000) == [50, 200, 1000, 5000]
    assert subset_sizes(212) == [50, 200]
    assert subset_sizes(40) == [20]


@pytest.mark.slow
def test_augmentation_with_real_records_helps_and_with_noise_hurts(adult_fresh, adult_independent):
    helpful = AugmentationLift().evaluate(adult_fresh)
    assert [p["real_rows"] for p in helpful.details["points"]] == [50, 200, 1000]
    assert helpful.value > 0.0
    assert helpful.details["points"][0]["lift"] > 0.02  # 2,000 extra real rows help 50 rows a lot
    harmful = AugmentationLift().evaluate(adult_independent)
    assert harmful.value < 0.0
