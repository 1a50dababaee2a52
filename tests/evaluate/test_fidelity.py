"""Fidelity metrics on hand-checkable tables and on slices of real tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthgen.evaluate.fidelity.associations import PairwiseAssociationSimilarity, cramers_v
from synthgen.evaluate.fidelity.column_shapes import ColumnShapeSimilarity, ks_statistic
from synthgen.evaluate.fidelity.contingency import PairwiseContingencySimilarity
from synthgen.evaluate.fidelity.detection import DetectionAUC
from synthgen.tabular.schema import Schema

TOY = Schema.from_dict({"columns": [
    {"name": "x", "kind": "continuous", "min": 0, "max": 10, "nullable": True},
    {"name": "c", "kind": "categorical", "categories": ["a", "b"]},
]})


def toy(x: list[float], c: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"x": np.array(x, dtype=float), "c": pd.Series(c, dtype=object)})


def test_column_shapes_identical_tables_score_exactly_one(heart):
    result = ColumnShapeSimilarity().compute(heart.train, heart.train.copy(), schema=heart.schema)
    assert result.value == 1.0
    assert all(c["score"] == 1.0 for c in result.details["columns"].values())


def test_column_shapes_hand_computed_ks_and_total_variation():
    real = toy([1, 2, 3, 4], ["a", "a", "b", "b"])
    synthetic = toy([1, 2, 3, 9], ["a", "a", "a", "b"])
    result = ColumnShapeSimilarity().compute(real, synthetic, schema=TOY)
    # KS: at x = 4 the real CDF is 1.0 and the synthetic 0.75; TVD: |0.5 - 0.75| = 0.25
    assert result.details["columns"]["x"]["score"] == pytest.approx(0.75)
    assert result.details["columns"]["c"]["score"] == pytest.approx(0.75)
    assert result.value == pytest.approx(0.75)


def test_column_shapes_nulls_are_a_point_mass_below_every_value():
    assert ks_statistic(np.array([np.nan, np.nan, 1, 2]), np.array([1.0, 2, 1, 2])) == pytest.approx(0.5)
    assert ks_statistic(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) == 0.0


def test_column_shapes_disjoint_distributions_score_zero():
    real = toy([1, 1, 2, 2], ["a", "a", "a", "a"])
    synthetic = toy([8, 9, 9, 8], ["b", "b", "b", "b"])
    assert ColumnShapeSimilarity().compute(real, synthetic, schema=TOY).value == 0.0


def test_cramers_v_perfect_and_independent_tables():
    assert cramers_v(np.array([[10.0, 0], [0, 10]])) == pytest.approx(1.0)
    assert cramers_v(np.array([[5.0, 5], [5, 5]])) == pytest.approx(0.0)
    assert cramers_v(np.array([[10.0, 3]])) == 0.0  # a single level: no association


def test_associations_lost_dependency_hand_computed():
    schema = Schema.from_dict({"columns": [
        {"name": "x", "kind": "categorical", "categories": [0, 1]},
        {"name": "y", "kind": "categorical", "categories": [0, 1]},
    ]})
    real = pd.DataFrame({"x": [0, 0, 1, 1] * 5, "y": [0, 0, 1, 1] * 5})  # y = x: V = 1
    synthetic = pd.DataFrame({"x": [0, 0, 1, 1] * 5, "y": [0, 1, 0, 1] * 5})  # independent: V = 0
    assoc = PairwiseAssociationSimilarity().compute(real, synthetic, schema=schema)
    assert assoc.value == pytest.approx(0.0)
    # joint frequencies: real {00: .5, 11: .5}, synthetic .25 each -> TVD .5
    joint = PairwiseContingencySimilarity().compute(real, synthetic, schema=schema)
    assert joint.value == pytest.approx(0.5)


def test_associations_identical_tables_score_one(heart):
    assert PairwiseAssociationSimilarity().compute(heart.train, heart.train, schema=heart.schema).value == pytest.approx(1.0)
    assert PairwiseContingencySimilarity().compute(heart.train, heart.train, schema=heart.schema).value == pytest.approx(1.0)


def test_independent_columns_keep_marginals_but_lose_associations(adult_independent, adult_fresh):
    shapes = ColumnShapeSimilarity().evaluate(adult_independent)
    assert shapes.value == pytest.approx(1.0)  # a per-column shuffle keeps every marginal
    independent = PairwiseAssociationSimilarity().evaluate(adult_independent).value
    fresh = PairwiseAssociationSimilarity().evaluate(adult_fresh).value
    assert fresh > 0.95
    assert independent < 0.8  # below the default warning threshold
    assert PairwiseContingencySimilarity().evaluate(adult_independent).value < PairwiseContingencySimilarity().evaluate(adult_fresh).value


@pytest.mark.slow
def test_detection_auc_half_for_real_data_and_high_for_broken_data(adult_fresh, adult_independent):
    fresh = DetectionAUC().evaluate(adult_fresh)
    assert abs(fresh.value - 0.5) < 0.06
    assert fresh.details["rows_per_side"] == 1000
    assert DetectionAUC().evaluate(adult_independent).value > 0.85


def test_detection_auc_spots_a_shifted_column(heart):
    shifted = heart.train.copy()
    shifted["chol"] = shifted["chol"] + 200  # every synthetic cholesterol is far off
    result = DetectionAUC().compute(heart.train, shifted, schema=heart.schema, holdout=heart.holdout)
    assert result.value > 0.95
