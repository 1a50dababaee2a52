"""evaluate_release / validate_release end to end on hand-built model directories."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from reports import validate_release
from synthgen.errors import (
    InputFileError,
    ModelLoadError,
    PolicyError,
    PrivateDataMissing,
    SchemaMismatch,
)
from synthgen.evaluate.release import evaluate_release
from tests.evaluate.builders import to_csv_like_sampler, write_model


@pytest.fixture
def heart_model(tmp_path, heart):
    return write_model(tmp_path, heart.schema, heart.train, heart.holdout)


def synthetic_csv(tmp_path, heart, df=None, name="synthetic.csv"):
    return to_csv_like_sampler(heart.train if df is None else df, heart.schema, tmp_path / name)


def leftovers(tmp_path):
    """Report directories or staging directories that a failed run must not leave."""
    return sorted(p.name for p in tmp_path.iterdir() if "report" in p.name)


@pytest.mark.slow
def test_copy_of_train_fails_the_privacy_checks(tmp_path, heart, heart_model):
    result = evaluate_release(heart_model, synthetic_csv(tmp_path, heart))
    assert result.verdict == "fail"
    failed = {c.name for c in result.checks if c.status == "fail"}
    assert {"exact_copy_share", "dcr_closer_to_train_share", "membership_inference_auc"} <= failed
    assert result.check("data_contract_failed_expectations").status == "pass"
    assert result.metric("exact_copy_share").details["copies"] == len(heart.train)
    assert result.provenance["n_train"] == len(heart.train)
    assert [s.key for s in result.sections] == [
        "summary", "certificate", "provenance", "expectations", "fidelity", "utility", "privacy", "thresholds",
    ]
    json.dumps(result.to_json_dict(), allow_nan=False)  # every number is JSON-safe


@pytest.mark.slow
def test_a_contract_violation_fails_but_is_still_measured(tmp_path, heart, heart_model):
    df = heart.holdout.copy()
    df.loc[0, "age"] = 150  # outside the declared bounds [18, 100]
    result = evaluate_release(heart_model, synthetic_csv(tmp_path, heart, df))
    contract = result.check("data_contract_failed_expectations")
    assert (contract.status, contract.value) == ("fail", 1.0)
    assert result.expectations.problems() == [
        "column 'age': 1 of 91 values (1.1%) lie outside the declared bounds [18, 100]"
    ]
    assert result.verdict == "fail"
    # measured on the table as given, the out-of-bounds value included
    expected = hand_column_shapes(heart.train, df, heart.schema)
    assert result.metric("column_shape_similarity").value == pytest.approx(expected, abs=1e-9)
    assert 0.5 < expected < 1.0


def hand_column_shapes(real, synthetic, schema):
    """Ground truth for column_shape_similarity, computed apart from the metric's code: the
    mean over columns of 1 - KS (scipy's, numeric features) or 1 - total variation
    (categorical columns and labels, null as a category)."""
    from scipy.stats import ks_2samp

    def level(v):
        if pd.isna(v):
            return None
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

    scores = []
    for spec in schema.synthesized:
        a, b = real[spec.name], synthetic[spec.name]
        if spec.kind in ("integer", "continuous") and spec.role != "label":  # a label is a class
            assert not a.isna().any() and not b.isna().any()  # KS with nulls is not scipy's
            scores.append(1.0 - ks_2samp(a.astype(float), b.astype(float)).statistic)
        else:
            p = a.map(level).value_counts(normalize=True, dropna=False)
            q = b.map(level).value_counts(normalize=True, dropna=False)
            scores.append(1.0 - 0.5 * p.subtract(q, fill_value=0.0).abs().sum())
    return sum(scores) / len(scores)


@pytest.mark.slow
def test_a_policy_can_relax_a_check(tmp_path, heart, heart_model):
    policy = tmp_path / "policy.yaml"
    policy.write_text("checks:\n  exact_copy_share: {warn: null, fail: null}\n")
    result = evaluate_release(heart_model, synthetic_csv(tmp_path, heart), policy_path=policy)
    assert result.check("exact_copy_share").status == "info"
    assert result.check("exact_copy_share").warn is None


def test_the_private_directory_is_gone(tmp_path, heart, heart_model):
    shutil.rmtree(tmp_path / "model.private")
    with pytest.raises(PrivateDataMissing) as info:
        evaluate_release(heart_model, synthetic_csv(tmp_path, heart))
    message = str(info.value)
    assert "gone" in message and str((tmp_path / "model.private").resolve()) in message


def test_the_holdout_split_is_gone(tmp_path, heart, heart_model):
    (tmp_path / "model.private" / "holdout.parquet").unlink()
    with pytest.raises(PrivateDataMissing, match=r"no holdout\.parquet"):
        evaluate_release(heart_model, synthetic_csv(tmp_path, heart))


def test_a_model_trained_without_holdout_cannot_be_validated(tmp_path, heart):
    model = write_model(tmp_path, heart.schema, heart.train, heart.holdout.iloc[:0])
    with pytest.raises(PrivateDataMissing, match="without a holdout"):
        evaluate_release(model, synthetic_csv(tmp_path, heart))


def test_model_directory_problems(tmp_path, heart, heart_model):
    with pytest.raises(ModelLoadError, match="model directory not found"):
        evaluate_release(tmp_path / "nope", synthetic_csv(tmp_path, heart))
    (heart_model / "config.json").write_text('{"modality": "image"}')  # validated as images
    with pytest.raises(ModelLoadError, match=r"not a complete synthgen model \(no spec\.json\)"):
        evaluate_release(heart_model, synthetic_csv(tmp_path, heart))
    (heart_model / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        evaluate_release(heart_model, synthetic_csv(tmp_path, heart))


# -- bad input: a clear error and no report at all ------------------------------------------
def test_wrong_synthetic_columns_write_no_report(tmp_path, heart, heart_model):
    path = synthetic_csv(tmp_path, heart, heart.train.drop(columns=["thal"]).assign(visit=1))
    with pytest.raises(SchemaMismatch) as info:
        validate_release(heart_model, path, report_dir=tmp_path / "report")
    assert info.value.problems == [
        "missing column(s) declared in the schema: thal; column(s) not in the schema: visit"
    ]
    assert leftovers(tmp_path) == []


def test_wrong_synthetic_types_write_no_report(tmp_path, heart, heart_model):
    path = synthetic_csv(tmp_path, heart)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    chol = header.index("chol")
    for i in range(1, 11):  # ten rows where cholesterol is a word
        cells = lines[i].split(",")
        cells[chol] = "high"
        lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaMismatch, match="column 'chol': 10 of 212 values are not numbers"):
        validate_release(heart_model, path, report_dir=tmp_path / "report")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("content", ["", "age,sex\n"])
def test_empty_synthetic_file_writes_no_report(tmp_path, heart_model, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(InputFileError, match=r"empty|no rows"):
        validate_release(heart_model, path, report_dir=tmp_path / "report")
    assert leftovers(tmp_path) == []


def test_invalid_policy_writes_no_report(tmp_path, heart, heart_model):
    policy = tmp_path / "policy.yaml"
    policy.write_text("checks:\n  membership_inference_auc: {fail: 2}\n")
    with pytest.raises(PolicyError, match="outside the check's range"):
        validate_release(heart_model, synthetic_csv(tmp_path, heart), policy_path=policy, report_dir=tmp_path / "report")
    assert leftovers(tmp_path) == []
