"""The feasibility estimate: predicts the run's refusals and its noise from public facts."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgen.errors import InsufficientData
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.record_count import (
    DP_ESTIMATE,
    MAX_RECORD_COUNT_SHARE,
    RecordCount,
    declared_record_count,
)
from synthgen.privacy.secure_random import NoiseSource
from synthgen.requests import TrainRequest
from synthgen.tabular import feasibility
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.conform import conform
from synthgen.tabular.preprocess import estimate_statistics
from synthgen.tabular.schema import Schema
from synthgen.tabular.train import train_tabular


def without_bounds(schema: Schema, *names: str) -> Schema:
    cols = tuple(
        replace(c, minimum=None, maximum=None) if c.name in names else c for c in schema.columns
    )
    return replace(schema, columns=cols)


def test_heart_with_its_schema_at_epsilon_10_is_feasible(heart_schema_obj: Schema) -> None:
    found = feasibility.estimate(
        heart_schema_obj, epsilon=10.0, delta=None, record_count=declared_record_count(242)
    )
    assert found.verdict == feasibility.FEASIBLE, found.reasons
    assert found.count_epsilon == 0.0 and found.noise_multiplier is not None


@pytest.mark.slow
def test_small_epsilon_is_infeasible_with_reasons_and_suggestions(
    heart_schema_obj: Schema,
) -> None:
    # the large-table preprocessing share (0.1): the class proportions drown in noise
    found = feasibility.estimate(
        heart_schema_obj,
        epsilon=0.5,
        delta=None,
        record_count=declared_record_count(242),
        config=TabularTrainingConfig(preprocessing_share=0.1),
    )
    assert found.verdict == feasibility.INFEASIBLE
    assert any("class proportions" in r for r in found.reasons)
    assert any(s.startswith("epsilon >= ") for s in found.suggestions)
    assert any("fewer columns" in s for s in found.suggestions)

    # the small-table default share buys class proportions that are more than noise:
    # at epsilon 0.7 the large-table share still flags them, the default does not
    def class_reasons(config: TabularTrainingConfig | None) -> list[str]:
        found = feasibility.estimate(
            heart_schema_obj,
            epsilon=0.7,
            delta=None,
            record_count=declared_record_count(242),
            config=config,
        )
        return [r for r in found.reasons if "class proportions" in r]

    assert class_reasons(TabularTrainingConfig(preprocessing_share=0.1))
    assert not class_reasons(None)


@pytest.mark.slow
def test_the_estimate_predicts_the_bounds_refusal(
    heart_csv: Path, heart_schema_obj: Schema
) -> None:
    """A small table at a small epsilon without declared bounds for age: the estimate says
    the bounds cannot be estimated, and the preprocessing indeed refuses."""
    schema = without_bounds(heart_schema_obj, "age")
    epsilon, n = 0.5, 60
    found = feasibility.estimate(
        schema, epsilon=epsilon, delta=1e-5, record_count=declared_record_count(n)
    )
    assert found.verdict == feasibility.INFEASIBLE
    assert any("cannot estimate the bounds of age" in r for r in found.reasons)
    assert "declare min and max for age" in found.suggestions
    df = conform(pd.read_csv(heart_csv).head(n), schema)
    with pytest.raises(InsufficientData, match="cannot estimate the bounds of 'age'"):
        estimate_statistics(
            df,
            schema,
            epsilon=epsilon,
            delta=1e-5,
            preprocessing_share=0.1,
            accountant=RunAccountant(),
            noise=NoiseSource(secure=False),
            record_count=declared_record_count(n),
        )
    # with the bounds declared, that reason is gone
    declared = feasibility.estimate(
        heart_schema_obj, epsilon=epsilon, delta=1e-5, record_count=declared_record_count(n)
    )
    assert not any("bounds" in r for r in declared.reasons)


@pytest.mark.slow
def test_train_stops_before_spending_with_a_declared_count(
    heart_csv: Path, heart_schema_obj: Schema, tmp_path: Path
) -> None:
    schema = replace(without_bounds(heart_schema_obj, "age"), public_record_count=303)
    request = TrainRequest(
        source=heart_csv, table_schema=schema, epsilon=0.2, out=tmp_path / "m", max_steps=2
    )
    with pytest.raises(feasibility.Infeasible, match="cannot estimate the bounds of age") as exc:
        train_tabular(request)
    assert exc.value.estimate.count_epsilon == 0.0
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.private").exists()


def exact_dp_count(monkeypatch: pytest.MonkeyPatch, module: object = None) -> None:
    """The DP count's release (or ``module``'s releases), recorded and charged as usual,
    without its noise: a deterministic N-hat for the test (the noise std it reports is the
    real one)."""
    from synthgen.privacy import record_count

    module = module or record_count
    real = module.noisy_histograms  # type: ignore[attr-defined]

    def noiseless(hists, **kw):  # type: ignore[no-untyped-def]
        _, std = real(hists, **kw)
        return hists, std

    monkeypatch.setattr(module, "noisy_histograms", noiseless)


@pytest.mark.slow
def test_train_after_its_dp_count_keeps_only_that_spend(
    heart_csv: Path, heart_schema_obj: Schema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthgen.privacy.spend_log import restore_accountant

    exact_dp_count(monkeypatch)

    request = TrainRequest(
        source=heart_csv, table_schema=heart_schema_obj, epsilon=0.02, out=tmp_path / "m"
    )
    with pytest.raises(feasibility.Infeasible) as exc:
        train_tabular(request)
    # a small epsilon buys the count its largest share (synthgen.privacy.record_count)
    assert exc.value.estimate.count_epsilon == pytest.approx(0.02 * MAX_RECORD_COUNT_SHARE)
    accountant = restore_accountant(tmp_path / "m.private")
    assert [r["name"] for r in accountant.releases] == ["record count"]
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_accepting_an_infeasible_estimate_trains(
    heart_csv: Path, heart_schema: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthgen.tabular import preprocess

    # the statistics without their noise, so that the forced run finishes (at this epsilon
    # the noisy class counts are all negative one run in ten: the estimate was right)
    exact_dp_count(monkeypatch, preprocess)
    request = TrainRequest(
        source=heart_csv,
        table_schema=heart_schema,
        epsilon=0.5,
        out=tmp_path / "m",
        max_steps=2,
        public_record_count=303,
        accept_infeasible=True,
        preprocessing_share=0.1,  # the large-table share: infeasible at this epsilon
    )
    # Great Expectations turns on logging.captureWarnings when first imported; imported
    # inside pytest.warns (this test run alone), it would swallow the warning
    import great_expectations.expectations  # noqa: F401

    with pytest.warns(UserWarning, match="feasibility \\(infeasible\\)"):
        result = train_tabular(request)
    assert math.isclose(result.certificate.epsilon, 0.5, rel_tol=0.05) or (
        result.certificate.epsilon <= 0.5
    )


def test_non_private_runs_are_not_estimated(heart_schema_obj: Schema) -> None:
    found = feasibility.estimate(
        heart_schema_obj, epsilon=math.inf, delta=None, record_count=declared_record_count(10)
    )
    assert found.verdict == feasibility.FEASIBLE
    assert np.isfinite(found.cell_noise_std)


@pytest.mark.slow
def test_an_infeasible_verdict_must_hold_beyond_the_dp_counts_noise(
    heart_schema_obj: Schema,
) -> None:
    """Heart disease at epsilon 2: infeasible at a DP count that came out low, but not at
    that count plus two of its noise std: marginal, not a refusal."""
    low = RecordCount(value=80, source=DP_ESTIMATE, noise_std=74.0, epsilon_share=0.02)
    large_table_share = TabularTrainingConfig(preprocessing_share=0.1)  # infeasible at 80
    found = feasibility.estimate(
        heart_schema_obj, epsilon=2.0, delta=None, record_count=low, config=large_table_share
    )
    assert found.verdict == feasibility.MARGINAL
    assert any("infeasible at the DP record count 80, not at 228" in r for r in found.reasons)
    noise = RecordCount(value=30, source=DP_ESTIMATE, noise_std=74.0, epsilon_share=0.02)
    found = feasibility.estimate(
        heart_schema_obj, epsilon=2.0, delta=None, record_count=noise, config=large_table_share
    )
    assert found.verdict == feasibility.INFEASIBLE
    assert "the DP record count is noise" in found.reasons[0]
