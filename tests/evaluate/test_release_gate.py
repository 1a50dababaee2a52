"""The default gate fails releases worse than useless to downstream users (issue 27), and
the checks behind it measure what they claim."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthgen.evaluate.fidelity.bound_pileup import BoundShareExcess, share_on_bounds
from synthgen.evaluate.model_statistics import ModelStatistics
from synthgen.evaluate.release import evaluate_release
from synthgen.evaluate.utility.augmentation import bootstrap_interval, macro_weighted_auc
from synthgen.evaluate.utility.class_coverage import MissingDeclaredClasses
from synthgen.evaluate.utility.models import macro_roc_auc
from synthgen.requests import SampleOptions, TrainRequest
from tests.evaluate.builders import independent_columns, to_csv_like_sampler, write_model


@pytest.fixture
def heart_model(tmp_path, heart):
    return write_model(tmp_path, heart.schema, heart.train, heart.holdout)


@pytest.mark.slow
def test_single_class_release_fails_the_default_gate(tmp_path, heart, heart_model):
    synthetic = independent_columns(heart.holdout, seed=3)  # no copies of training rows
    synthetic["num"] = 0  # every row the majority class
    path = to_csv_like_sampler(synthetic, heart.schema, tmp_path / "one_class.csv")
    result = evaluate_release(heart_model, path)
    assert result.verdict == "fail"
    missing = result.check("missing_declared_classes")
    assert missing.status == "fail"
    assert missing.value == 4  # num declares 0..4
    assert result.metric("missing_declared_classes").details["missing"] == ["1", "2", "3", "4"]
    assert result.check("tstr_auc_ratio").status == "fail"  # a constant model: AUC 0.5
    json.dumps(result.to_json_dict(), allow_nan=False)


def test_missing_classes_counts_the_models_classes_too(heart):
    synthetic = heart.holdout.copy()
    model = ModelStatistics(("0", "1", "2", "3", "4", "9"), (50.0,) * 6, 20.0, {})
    inputs = heart.inputs(synthetic)
    inputs.model = model
    result = MissingDeclaredClasses().evaluate(inputs)
    assert result.details["missing"] == ["9"]  # known to the model only, never sampled here
    shares = [r["default_sampling_share"] for r in result.details["classes"]]
    assert sum(shares) == pytest.approx(1.0)
    assert MissingDeclaredClasses().evaluate(heart.inputs(heart.holdout)).value == 0


def test_bound_share_excess_sees_values_piled_on_a_bound(heart):
    assert BoundShareExcess().evaluate(heart.inputs(heart.train)).value == pytest.approx(0.0)
    piled = heart.holdout.copy()
    rows = np.arange(len(piled)) < len(piled) // 3  # a third of the rows at chol's minimum
    piled.loc[rows, "chol"] = 80.0
    result = BoundShareExcess().evaluate(heart.inputs(piled))
    assert result.details["worst_column"] == "chol"
    assert result.details["columns"]["chol"]["worst_bound"] == "minimum"
    assert result.value == pytest.approx(rows.mean(), abs=0.01)


def test_share_on_bounds_counts_real_values_beyond_a_bound_and_ignores_nulls():
    values = np.array([0.0, 0.0, 5.0, 12.0, np.nan])
    assert share_on_bounds(values, 0.0, 10.0) == (0.5, 0.25)
    assert share_on_bounds(np.array([np.nan]), 0.0, 1.0) == (0.0, 0.0)


def test_macro_weighted_auc_is_the_auc_of_the_resample_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=60)
    proba = np.round(rng.random((60, 4)), 1)  # coarse scores: many ties
    rows = rng.integers(0, 60, size=(5, 60))
    weights = np.stack([np.bincount(r, minlength=60) for r in rows]).astype(float)
    fast = macro_weighted_auc(y, proba, weights)
    for b in range(5):
        assert fast[b] == pytest.approx(macro_roc_auc(y[rows[b]], proba[rows[b]]))
    assert macro_weighted_auc(y, proba, np.ones((1, 60)))[0] == pytest.approx(macro_roc_auc(y, proba))


def test_bootstrap_interval_of_identical_arms_is_zero_and_of_a_clear_harm_is_below_zero():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=120)
    good = np.stack([1 - (y + rng.normal(0, 0.5, 120)), y + rng.normal(0, 0.5, 120)], axis=1)
    noise = rng.random((120, 2))
    same = [[(good, good)] * 3]
    assert bootstrap_interval(y, same, rng=np.random.default_rng(0)) == (0.0, 0.0)
    harmful = [[(good, noise)] * 3, [(good, noise)]]
    low, high = bootstrap_interval(y, harmful, rng=np.random.default_rng(0))
    lift = macro_roc_auc(y, noise) - macro_roc_auc(y, good)
    assert low < lift < high < 0


@pytest.mark.slow
def test_negative_augmentation_lift_is_never_labelled_pass(tmp_path, heart, heart_model):
    synthetic = independent_columns(heart.holdout, seed=5)
    path = to_csv_like_sampler(synthetic, heart.schema, tmp_path / "shuffled.csv")
    result = evaluate_release(heart_model, path)
    lift = result.check("augmentation_auc_lift")
    assert lift.value < 0 and lift.status == "warn"
    upper = result.metric("augmentation_auc_lift_upper_95")
    low, high = result.metric("augmentation_auc_lift").details["interval_95"]
    assert upper.value == pytest.approx(high) and low < lift.value < high


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_a_sound_epsilon_10_release_does_not_fail_the_default_gate(tmp_path, heart, seed):
    """Train for real on 212 Cleveland rows at epsilon 10 and validate 212 sampled rows: no
    utility or fidelity check fails (issue 27), while the single-class release above fails.

    Until the bound fixes (bins never decode onto a bound) and the small-table floor of 8
    bins, 11-18% of some column's values piled on a bound here and ``bound_share_excess``
    failed this release (docs/research/2026-12-05-class-shares-and-release-gate.md).
    The privacy checks are attacks on the release, not on the gate's thresholds: with seed
    1 the attribute-inference attack on ``thal`` reads training targets better than
    holdout ones (advantage 0.21, standard error 0.08, at epsilon 10) and fails it, which
    is the gate doing its job; seed 0's release passes whole."""
    from synthgen.tabular.sample import sample_tabular
    from synthgen.tabular.train import train_tabular
    from tests.conftest import repeatable_privacy_noise

    data = pd.concat([heart.train, heart.holdout], ignore_index=True)
    with warnings.catch_warnings(), repeatable_privacy_noise(seed):
        warnings.simplefilter("ignore")
        trained = train_tabular(TrainRequest(
            source=data, table_schema=heart.schema, epsilon=10.0, out=tmp_path / "model",
            holdout=0.3, max_steps=150, seed=seed,
        ))
    synthetic = sample_tabular(trained.model_dir, SampleOptions(
        rows=212, seed=seed,
    ), out=tmp_path / "synthetic.csv")
    result = evaluate_release(trained.model_dir, synthetic)
    failed = {c.name for c in result.checks if c.status == "fail" and c.family != "privacy"}
    assert not failed, failed
    assert result.check("missing_declared_classes").value == 0
    assert result.check("bound_share_excess").value <= 0.10
    assert result.check("tstr_auc_ratio").value > 0.7
    if seed == 0:
        assert result.verdict != "fail"
