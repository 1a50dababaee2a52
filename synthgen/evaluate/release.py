"""Validate a synthetic release: load, check, measure, judge.

``evaluate_release`` dispatches on the model's modality (``config.json``): image models go
to ``synthgen.evaluate.image_release``, tables stay here (what both share is in ``result``
and ``model_dir``, below them). For a table it reads the model directory (schema,
certificate, config, provenance), finds the private run directory the training run recorded in ``run.json``, loads the real
train and holdout splits from it, runs the data contract on the synthetic table, computes
every metric, applies the release policy and assembles the report sections. It writes
nothing: rendering the HTML/PDF/JSON report is ``reports.validate_release``'s job (imports
flow reports -> synthgen, never back).

Bad inputs raise typed errors before any work is done: a policy file that does not parse
(``PolicyError``), a model directory that is incomplete (``ModelLoadError``), a private
directory that is gone (``PrivateDataMissing``), a synthetic file that is empty
(``InputFileError``) or has the wrong columns or types (``SchemaMismatch``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from synthgen.artifacts import CONFIG, PREPROCESSING, RUN, read_provenance, utc_now
from synthgen.errors import (
    InputFileError,
    ModelLoadError,
    PrivateDataMissing,
    SchemaError,
    SchemaMismatch,
)
from synthgen.evaluate.gate import CheckResult, make_check, verdict
from synthgen.evaluate.image_release import evaluate_image_release
from synthgen.evaluate.images.inputs import ImageValidationOptions
from synthgen.evaluate.inputs import TabularInputs
from synthgen.evaluate.metric import MetricResult, evaluate_metrics
from synthgen.evaluate.model_dir import (
    model_modality,
    private_run_dir,
    read_certificate,
    read_model_json,
)
from synthgen.evaluate.model_statistics import ModelStatistics, read_model_statistics
from synthgen.evaluate.policy import Policy, load_policy
from synthgen.evaluate.registry import CONTRACT, tabular_metrics
from synthgen.evaluate.result import (
    NOTICE,
    ValidationResult,
    certificate_and_metric_checks,
    is_private,
    shared_provenance,
)
from synthgen.evaluate.tabular_report import build_sections
from synthgen.privacy.certificate import Certificate
from synthgen.progress import ProgressEvent
from synthgen.tabular.expectations import ExpectationResults, check_synthetic_table
from synthgen.tabular.io import read_table
from synthgen.tabular.schema import Schema

# re-exported: callers read the result type and the model-directory helpers from here
__all__ = [
    "NOTICE",
    "ModelFiles",
    "ValidationResult",
    "evaluate_release",
    "load_model_files",
    "model_modality",
    "private_run_dir",
    "read_synthetic",
]

SCHEMA = "schema.json"
TRAIN_SPLIT = "train.parquet"
HOLDOUT_SPLIT = "holdout.parquet"


@dataclass
class ModelFiles:
    """What validation reads from a model directory and its private run directory."""

    model_dir: Path
    schema: Schema
    certificate: Certificate
    certificate_json: dict[str, Any]
    config: dict[str, Any]
    run: dict[str, Any]
    private_dir: Path
    train: pd.DataFrame
    holdout: pd.DataFrame
    statistics: ModelStatistics | None = None  # preprocessing.json: classes, DP counts, bounds


def load_model_files(model_dir: str | Path, private_dir: str | Path | None = None) -> ModelFiles:
    model_dir = Path(model_dir)
    if model_modality(model_dir) != "tabular":
        raise ModelLoadError(
            f"{model_dir} is an image model; load it with synthgen.evaluate.images"
        )
    config = read_model_json(model_dir / CONFIG)
    try:
        schema = Schema.from_dict(
            read_model_json(model_dir / SCHEMA), source=str(model_dir / SCHEMA)
        )
    except SchemaError as exc:
        raise ModelLoadError(f"the model's schema is not valid: {exc}") from exc
    certificate, certificate_json = read_certificate(model_dir)
    run = read_model_json(model_dir / RUN)
    private_dir = private_run_dir(model_dir, run, private_dir)
    run = {**run, **read_provenance(private_dir)}  # source identity and counts live there
    splits = []
    for name in (TRAIN_SPLIT, HOLDOUT_SPLIT):
        path = private_dir / name
        if not path.is_file():
            raise PrivateDataMissing(
                f"the private run directory {private_dir} has no {name}: the real split "
                "validation needs is gone. Restore it, or retrain to validate a new model."
            )
        try:
            splits.append(pd.read_parquet(path))
        except Exception as exc:  # pyarrow raises its own hierarchy on damaged files
            raise PrivateDataMissing(f"{path} is damaged: {type(exc).__name__}") from exc
    expected = [c.name for c in schema.synthesized]
    for name, split in zip((TRAIN_SPLIT, HOLDOUT_SPLIT), splits, strict=True):
        missing = [c for c in expected if c not in split.columns]
        if missing:
            raise ModelLoadError(
                f"{private_dir / name} does not match the model's schema (missing column(s): {', '.join(missing)})"
            )
    if len(splits[0]) == 0:
        raise PrivateDataMissing(f"{private_dir / TRAIN_SPLIT} has no rows")
    if len(splits[1]) == 0:
        raise PrivateDataMissing(
            f"{private_dir / HOLDOUT_SPLIT} has no rows: the model was trained without a holdout, "
            "and validation compares the synthetic data with unseen real records"
        )
    return ModelFiles(
        model_dir,
        schema,
        certificate,
        certificate_json,
        config,
        run,
        private_dir,
        splits[0][expected],
        splits[1][expected],
        read_model_statistics(model_dir / PREPROCESSING, schema),
    )


def read_synthetic(path: str | Path, schema: Schema) -> pd.DataFrame:
    df = read_table(path, na_values=schema.na_values)
    if len(df) == 0:
        raise InputFileError(f"{path} has no rows: there is nothing to validate")
    return df


def evaluate_release(
    model_dir: str | Path,
    synthetic_path: str | Path,
    *,
    policy_path: str | Path | None = None,
    seed: int = 0,
    progress: Callable[[ProgressEvent], None] | None = None,
    image_options: ImageValidationOptions | None = None,
    private_dir: str | Path | None = None,
) -> ValidationResult:
    """Check, measure and judge a synthetic release against its model's real splits: a
    table (.csv/.parquet) for a tabular model, an .npz of images for an image model.

    ``image_options`` sets the cost of the image metrics (CNN steps and networks); the
    defaults keep a BreastMNIST-sized validation within about a minute on two cores.
    """
    if model_modality(model_dir) == "image":
        return evaluate_image_release(
            model_dir,
            synthetic_path,
            policy_path=policy_path,
            seed=seed,
            progress=progress,
            options=image_options,
            private_dir=private_dir,
        )
    timings: dict[str, float] = {}
    started = time.perf_counter()
    policy = load_policy(policy_path)
    files = load_model_files(model_dir, private_dir)
    synthetic_raw = read_synthetic(synthetic_path, files.schema)
    timings["load"] = time.perf_counter() - started

    metrics = tabular_metrics()
    total = len(metrics) + 1

    def report(step: int, message: str) -> None:
        if progress is not None:
            progress(ProgressEvent(stage="validate", step=step, total=total, message=message))

    report(0, "data contract (Great Expectations)")
    t = time.perf_counter()
    expectations = check_synthetic_table(synthetic_raw, files.schema)
    timings["expectations"] = time.perf_counter() - t
    structural = expectations.structural_problems()
    if structural:
        raise SchemaMismatch(
            f"the synthetic table {synthetic_path} does not match the model's schema, so it "
            "cannot be validated:\n  - " + "\n  - ".join(structural),
            structural,
        )

    inputs = TabularInputs.build(
        schema=files.schema,
        train=files.train,
        synthetic=synthetic_raw,
        holdout=files.holdout,
        seed=seed,
        model=files.statistics,
    )
    results = evaluate_metrics(metrics, inputs, timings=timings, on_metric=report, first_step=1)

    checks = _checks(files, expectations, results, policy)
    provenance = shared_provenance(
        files,
        synthetic_path,
        len(synthetic_raw),
        seed,
        schema_sha256_at_training=files.run.get("schema_sha256"),
        model_schema_sha256=files.schema.hash(),
        target=files.run.get("target"),
    )
    result = ValidationResult(
        verdict=verdict(checks),
        checks=checks,
        metrics=results,
        expectations=expectations,
        certificate=files.certificate_json,
        private=is_private(files.certificate),
        provenance=provenance,
        policy=policy,
        timings=timings,
        created_at=utc_now(),
    )
    result.sections = build_sections(result, inputs)
    timings["total"] = time.perf_counter() - started
    report(total, "done")
    return result


def _checks(
    files: ModelFiles, expectations: ExpectationResults, results: list[MetricResult], policy: Policy
) -> list[CheckResult]:
    failed = len(expectations.failed)
    contract = make_check(
        name=CONTRACT.name,
        title=CONTRACT.title,
        family=CONTRACT.family,
        value=float(failed),
        direction=CONTRACT.direction,
        policy=policy,
        note=f"{failed} of {len(expectations.outcomes)} expectations failed",
    )
    return [contract, *certificate_and_metric_checks(files.certificate, results, policy)]
