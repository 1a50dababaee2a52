"""The whole-patient membership audit (issue 25): canary patients of k near-duplicate
records, trained through the production sampling, clipping and noise.

Patient-level training must keep the one-run bound below the claimed epsilon; record-level
training at the same epsilon (same N, q, noise multiplier and steps) must be flagged,
because each of a canary patient's records is clipped on its own and the patient moves the
summed gradient by up to k * C."""

import numpy as np
import pytest
import torch

from synthgen.demo import breast_cancer_schema_path, breast_cancer_table
from synthgen.errors import PrivacyParameterError
from synthgen.tabular.audit import audit_tabular
from synthgen.tabular.entity_table import EntityTable
from synthgen.tabular.schema import Schema
from tests.conftest import repeatable_privacy_noise

ROWS = 150  # the table's rows are patients of one record; the canaries do the auditing
K = 8  # records per canary patient
STEPS = 25


@pytest.fixture(scope="module")
def public_table():
    return breast_cancer_table().iloc[:ROWS], Schema.load(breast_cancer_schema_path())


def _audit(public_table, unit: str, **options):
    table, schema = public_table
    with repeatable_privacy_noise(7):  # the bound holds in 95% of runs; pin this one
        return audit_tabular(
            table,
            schema,
            epsilon=1.0,
            canaries=1000,
            steps=STEPS,
            unit=unit,
            records_per_patient=K,
            **options,
        )


@pytest.fixture(scope="module")
def patient_level(public_table):
    return _audit(public_table, "patient")


@pytest.mark.slow
def test_patient_level_is_consistent_where_record_level_is_flagged(
    public_table, patient_level
) -> None:
    """Why this fails if patient-level training clipped a patient's records separately: the
    canary patients' records each carry a gradient of norm 1e4 * C on the canary's own
    coordinate, so the released sum on that coordinate counts the clipped *examples* of
    the canary. One clip per patient gives C per sampled step, which the patient-level
    noise hides (bound near 0); a clip per record gives k * C per sampled step, the same
    signal that flags the record-level run below (bound far above the claim)."""
    record_level = _audit(public_table, "record")
    for report in (patient_level, record_level):  # the same mechanism parameters and claim
        assert report.steps == STEPS and report.canaries == 1000 and report.records_per_patient == K
        assert report.claimed_epsilon <= 1.0
    assert record_level.noise_multiplier == patient_level.noise_multiplier
    assert record_level.sample_rate == patient_level.sample_rate
    assert record_level.claimed_epsilon == patient_level.claimed_epsilon

    assert patient_level.unit == "patient" and not patient_level.violation
    assert patient_level.bound.epsilon < patient_level.claimed_epsilon / 2
    assert patient_level.verdict == "consistent"

    assert record_level.unit == "record" and record_level.violation
    assert record_level.bound.epsilon > 1.5 * record_level.claimed_epsilon
    assert (
        record_level.verdict
        == f"VIOLATION: record-level DP does not protect a patient of {K} records"
    )


@pytest.mark.slow
def test_a_patient_level_run_that_clips_records_separately_is_caught(
    public_table, monkeypatch, patient_level
) -> None:
    """The bug the test above guards against, put in on purpose: patients are still
    Poisson-sampled, but their records reach the clipper as separate examples."""

    def records_as_examples(self, indices):
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.records.__getitems__(self.index[idx][self.mask[idx] > 0].tolist())

    monkeypatch.setattr(EntityTable, "__getitems__", records_as_examples)
    buggy = _audit(public_table, "patient")
    assert buggy.claimed_epsilon == patient_level.claimed_epsilon
    assert buggy.violation and buggy.verdict == "VIOLATION: bug"
    assert buggy.bound.epsilon > 1.5 * buggy.claimed_epsilon


@pytest.mark.parametrize("unit, per_sampled_canary", [("patient", 1), ("record", K)])
def test_without_noise_a_canary_adds_c_per_clipped_example(
    public_table, unit, per_sampled_canary
) -> None:
    """Ground truth for the canary contribution (noise off, audit only): a score is the
    number of clipped examples of the canary over the run, a whole number. Patient-level:
    at most one per step; record-level: each of the k records sampled at q on its own."""
    from synthgen.privacy import audit as audit_module

    scores = {}
    original = audit_module.PatientCanaries.bound

    def keep_scores(self, **options):
        scores["value"], scores["included"] = self.scores.copy(), self.included.copy()
        return original(self, **options)

    table, schema = public_table
    steps = 8
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit_module.PatientCanaries, "bound", keep_scores)
        report = audit_tabular(
            table.iloc[:40],
            schema,
            epsilon=1.0,
            canaries=200,
            steps=steps,
            unit=unit,
            records_per_patient=K,
            noise_scale=0.0,
        )
    counts, included = scores["value"], scores["included"]
    assert counts == pytest.approx(np.round(counts), abs=1e-3)
    assert counts[~included] == pytest.approx(0.0, abs=1e-3)
    assert counts.max() <= steps * per_sampled_canary + 1e-3
    expected = steps * report.sample_rate * per_sampled_canary
    assert counts[included].mean() == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"unit": "row"}, "--unit must be one of record, patient"),
        ({"records_per_patient": 0}, "--records-per-patient must be a whole number >= 1"),
        ({"records_per_patient": 2.5}, "--records-per-patient must be a whole number >= 1"),
    ],
)
def test_bad_patient_audit_options_are_refused(public_table, options, fragment) -> None:
    table, schema = public_table
    with pytest.raises(PrivacyParameterError, match=fragment):
        audit_tabular(table, schema, epsilon=1.0, **options)


@pytest.mark.slow
def test_audit_cli_flags_record_level_training_for_a_patient() -> None:
    from typer.testing import CliRunner

    from synthgen.cli import commands  # noqa: F401  (registers the commands)
    from synthgen.cli.app import app

    with repeatable_privacy_noise(7):
        result = CliRunner().invoke(
            app, ["audit", "--unit", "record", "--records-per-patient", str(K), "--steps", "10"]
        )
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert (
        "unit of privacy: record" in out and f"canary patients of {K} near-duplicate records" in out
    )
    assert f"VIOLATION: record-level DP does not protect a patient of {K} records" in out
    claimed = float(out.split("claimed epsilon")[1].split()[0])
    assert float(out.split("empirical epsilon (lower)")[1].split()[0]) > claimed


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--unit", "row"], "--unit must be one of record, patient"),
        (["--records-per-patient", "0"], "--records-per-patient must be a whole number >= 1"),
    ],
)
def test_audit_cli_bad_unit_options_are_one_error_line(args: list[str], fragment: str) -> None:
    from typer.testing import CliRunner

    from synthgen.cli import commands  # noqa: F401
    from synthgen.cli.app import app

    result = CliRunner().invoke(app, ["audit", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], (
        result.stderr
    )
