"""Shared real-data fixtures for the validation tests (small slices of real tables)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from dataclasses import dataclass

import pandas as pd
import pytest

from synthgen.evaluate.inputs import TabularInputs
from synthgen.tabular.schema import Schema
from tests.evaluate.builders import (
    adult_schema,
    adult_table,
    heart_schema,
    heart_table,
    independent_columns,
    split,
)

N_TRAIN, N_HOLDOUT, N_FRESH = 2000, 1000, 2000


@dataclass
class Splits:
    schema: Schema
    train: pd.DataFrame
    holdout: pd.DataFrame
    fresh: pd.DataFrame  # other real records of the same population: an ideal generator

    def inputs(self, synthetic: pd.DataFrame, seed: int = 0) -> TabularInputs:
        return TabularInputs.build(
            schema=self.schema, train=self.train, synthetic=synthetic, holdout=self.holdout, seed=seed
        )


@pytest.fixture(scope="session")
def adult() -> Splits:
    """2,000 training and 1,000 holdout rows of adult_train; 2,000 fresh rows of adult_test."""
    table = adult_table("train").sample(n=N_TRAIN + N_HOLDOUT, random_state=0).reset_index(drop=True)
    fresh = adult_table("test").sample(n=N_FRESH, random_state=0).reset_index(drop=True)
    return Splits(adult_schema(), table.iloc[:N_TRAIN].reset_index(drop=True),
                  table.iloc[N_TRAIN:].reset_index(drop=True), fresh)


@pytest.fixture(scope="session")
def adult_fresh(adult: Splits) -> TabularInputs:
    return adult.inputs(adult.fresh)


@pytest.fixture(scope="session")
def adult_copy(adult: Splits) -> TabularInputs:
    return adult.inputs(adult.train)


@pytest.fixture(scope="session")
def adult_independent(adult: Splits) -> TabularInputs:
    return adult.inputs(independent_columns(adult.train, seed=1))


@pytest.fixture(scope="session")
def heart() -> Splits:
    """Cleveland: 212 training rows, 91 holdout rows; no fresh rows (too small)."""
    train, holdout = split(heart_table(), 0.3)
    return Splits(heart_schema(), train, holdout, holdout.iloc[:0])
