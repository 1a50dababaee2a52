"""Empirical privacy checks: a copy of train must light every detector; fresh records from
the same population (an ideal generator) must not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthgen.evaluate.privacy.attribute_inference import AttributeInferenceAdvantage
from synthgen.evaluate.privacy.dcr import DCRCloserToTrainShare, closer_share, equal_size_share
from synthgen.evaluate.privacy.exact_copies import ExactCopyShare
from synthgen.evaluate.privacy.membership import MembershipInferenceAUC, auc_standard_error
from synthgen.evaluate.privacy.nndr import NearestNeighbourDistanceRatio, distance_ratio
from synthgen.tabular.schema import Schema


def test_equal_size_share_maps_the_null_to_one_half():
    # 3 times more training than holdout records: without memorisation 3/4 are closer to train
    assert equal_size_share(0.75, 3000, 1000) == pytest.approx(0.5)
    assert equal_size_share(1.0, 3000, 1000) == 1.0
    assert equal_size_share(0.0, 3000, 1000) == 0.0
    assert equal_size_share(0.6, 1000, 1000) == pytest.approx(0.6)


def test_closer_share_counts_ties_with_their_weight():
    d_train = np.array([0.0, 1.0, 2.0, 3.0])
    d_holdout = np.array([1.0, 1.0, 1.0, 1.0])
    assert closer_share(d_train, d_holdout) == pytest.approx((1 + 0.5) / 4)
    assert closer_share(d_train, d_holdout, tie_weight=0.75) == pytest.approx((1 + 0.75) / 4)


def test_distance_ratio_of_a_copy_is_zero():
    assert distance_ratio(np.array([[0.0, 2.0], [1.0, 2.0], [0.0, 0.0]])).tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_auc_standard_error_shrinks_with_more_records_and_vanishes_at_one():
    assert auc_standard_error(1.0, 50, 50) == 0.0
    assert auc_standard_error(0.7, 1000, 1000) < auc_standard_error(0.7, 100, 100)
    # ground truth by simulation: binormal scores with AUC 0.9, 50 positives, 50 negatives
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    shift = np.sqrt(2) * norm.ppf(0.9)
    positives = rng.normal(shift, 1.0, size=(4000, 50))
    negatives = rng.normal(0.0, 1.0, size=(4000, 50))
    aucs = (positives[:, :, None] > negatives[:, None, :]).mean(axis=(1, 2))
    assert aucs.mean() == pytest.approx(0.9, abs=0.005)
    assert auc_standard_error(0.9, 50, 50) == pytest.approx(aucs.std(), rel=0.15)


# -- a copy of the training split --------------------------------------------------------
def test_copy_of_train_every_row_is_an_exact_copy(adult_copy):
    result = ExactCopyShare().evaluate(adult_copy)
    assert result.value == 1.0
    assert result.details["copies"] == result.details["synthetic_rows"] == 2000


def test_copy_of_train_is_closer_to_train_than_holdout(adult_copy):
    result = DCRCloserToTrainShare().evaluate(adult_copy)
    assert result.value > 0.99
    assert result.details["zero_distance_train"] == result.details["synthetic_rows_measured"]


def test_copy_of_train_membership_inference_wins(adult_copy):
    result = MembershipInferenceAUC().evaluate(adult_copy)
    assert result.value > 0.97
    assert result.details["members"] == result.details["nonmembers"] == 500


def test_copy_of_train_sits_on_training_records(adult_copy):
    assert NearestNeighbourDistanceRatio().evaluate(adult_copy).value < 0.01


def test_copy_of_train_attribute_inference_has_an_advantage(adult_copy):
    result = AttributeInferenceAdvantage().evaluate(adult_copy)
    assert result.details["worst_column"] == "race"
    assert result.value > 0.05
    assert result.details["columns"]["race"]["accuracy_training_targets"] > 0.95


# -- fresh records of the same population (what an ideal generator would give) -------------
def test_fresh_records_are_no_closer_to_train(adult_fresh):
    assert ExactCopyShare().evaluate(adult_fresh).value < 0.005
    dcr = DCRCloserToTrainShare().evaluate(adult_fresh)
    assert dcr.value == pytest.approx(0.5, abs=0.05)
    assert dcr.details["expected_raw_share_without_memorisation"] == pytest.approx(2 / 3)


def test_fresh_records_defeat_membership_inference(adult_fresh):
    result = MembershipInferenceAUC().evaluate(adult_fresh)
    assert result.value == pytest.approx(0.5, abs=0.07)
    for attack in result.details["attacks"].values():
        assert len(attack["roc"]["fpr"]) == len(attack["roc"]["tpr"]) == 101


def test_fresh_records_give_no_attribute_inference_advantage(adult_fresh):
    assert abs(AttributeInferenceAdvantage().evaluate(adult_fresh).value) < 0.06


def test_fresh_records_have_the_nndr_of_unseen_records(adult_fresh):
    result = NearestNeighbourDistanceRatio().evaluate(adult_fresh)
    assert result.value == pytest.approx(result.details["holdout_median"], abs=0.05)


# -- the holdout itself as "synthetic" data: nothing from train, all from holdout ----------
def test_holdout_copy_is_closer_to_holdout(heart):
    inputs = heart.inputs(heart.holdout)
    assert DCRCloserToTrainShare().evaluate(inputs).value < 0.05
    copies = ExactCopyShare().evaluate(inputs)
    assert copies.value == 0.0
    assert copies.details["holdout_match_share"] == 1.0


def test_membership_inference_needs_a_holdout(heart):
    result = MembershipInferenceAUC().compute(heart.train, heart.train, schema=heart.schema)
    assert result.value is None and "holdout" in result.note


def test_attribute_inference_needs_a_sensitive_column(adult):
    schema = Schema.from_dict({"columns": [
        {"name": "a", "kind": "categorical", "categories": [0, 1]},
        {"name": "b", "kind": "categorical", "categories": [0, 1]},
    ]})
    df = pd.DataFrame({"a": [0, 1] * 10, "b": [1, 0] * 10})
    result = AttributeInferenceAdvantage().compute(df, df, schema=schema, holdout=df)
    assert result.value is None and "sensitive" in result.note


def test_exact_copies_survive_a_csv_round_trip(heart, tmp_path):
    path = tmp_path / "copy.csv"
    heart.train.to_csv(path, index=False)
    from synthgen.tabular.io import read_table

    raw = read_table(path, na_values=heart.schema.na_values)
    assert ExactCopyShare().evaluate(heart.inputs(raw)).value == 1.0
