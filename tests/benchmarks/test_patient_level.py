"""Helpers of the patient-level benchmark: the Adult pseudo-patients, the derived
telemonitoring target, person folds and the group-privacy bound of record-level runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.patient_level import (
    SCHEMAS,
    group_guarantee,
    person_folds,
    pseudo_patients,
    updrs_target,
)
from synthgen.tabular.schema import Schema


def test_pseudo_patients_are_deterministic_groups_of_1_to_10_rows() -> None:
    ids = pseudo_patients(5_000, seed=7)
    assert np.array_equal(ids, pseudo_patients(5_000, seed=7))
    assert not np.array_equal(ids, pseudo_patients(5_000, seed=8))
    sizes = np.bincount(ids)
    assert sizes.sum() == 5_000 and sizes.min() >= 1 and sizes.max() <= 10
    # every size of 1..10 occurs, about equally often (the last group may be cut short)
    counts = np.bincount(sizes[:-1], minlength=11)[1:]
    assert (counts > 0).all()
    assert counts.max() < 2 * counts.min()
    # the rows of one pseudo-patient are scattered, not consecutive
    assert (np.diff(ids) != 0).mean() > 0.5


def test_updrs_target_is_above_the_median_and_drops_what_defines_it() -> None:
    df = pd.DataFrame(
        {
            "subject#": [1, 1, 2, 2, 3],
            "motor_UPDRS": [5.0, 6.0, 20.0, 21.0, 30.0],
            "total_UPDRS": [10.0, 12.0, 30.0, 31.0, 40.0],
            "HNR": [20.0, 21.0, 22.0, 23.0, 24.0],
        }
    )
    out = updrs_target(df)
    assert list(out["updrs_high"]) == [0, 0, 0, 1, 1]  # median 30: strictly above is high
    assert "total_UPDRS" not in out and "motor_UPDRS" not in out
    assert list(out["HNR"]) == list(df["HNR"])


def test_the_telemonitoring_schema_names_the_person_and_the_derived_label() -> None:
    schema = Schema.load(SCHEMAS / "parkinsons_telemonitoring.yaml")
    assert schema.target is not None and schema.target.name == "updrs_high"
    assert schema.with_entity("subject#").entity is not None
    assert not {"motor_UPDRS", "total_UPDRS"} & set(schema.names)
    assert all(c.has_bounds for c in schema.synthesized if c.is_numeric)


def test_person_folds_never_split_a_person() -> None:
    persons = pd.Series(np.repeat(np.arange(30), 5).astype(str))
    fold = person_folds(persons, 4, seed=3)
    assert pd.DataFrame({"p": persons, "f": fold}).groupby("p")["f"].nunique().max() == 1
    assert sorted(set(fold)) == [0, 1, 2, 3]
    assert not np.array_equal(fold, person_folds(persons, 4, seed=4))


def test_group_privacy_of_a_record_level_guarantee() -> None:
    assert group_guarantee(1.0, 1e-5, 1) == pytest.approx((1.0, 1e-5))
    epsilon, delta = group_guarantee(1.0, 1e-5, 7)
    assert epsilon == pytest.approx(7.0)
    assert delta == pytest.approx(7 * math.exp(6) * 1e-5)
    assert group_guarantee(10.0, 1e-5, 168) == (1680.0, math.inf)  # no overflow: no bound
