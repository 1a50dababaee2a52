"""Validate a synthetic release: load, check, measure, judge.

``evaluate_release`` dispatches on the model's modality (``config.json``): image models go
to ``synthgen.evaluate.images.release``, tables stay here. For a table it reads the model directory (schema, certificate, config, provenance),
finds the private run directory the training run recorded in ``run.json``, loads the real
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

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from synthgen import __version__
from synthgen.artifacts import (
    CERTIFICATE,
    CONFIG,
    PREPROCESSING,
    RUN,
    default_private_dir,
    file_sha256,
    read_provenance,
    utc_now,
)
from synthgen.errors import (
    InputFileError,
    ModelLoadError,
    PrivateDataMissing,
    SchemaError,
    SchemaMismatch,
)
from synthgen.evaluate.gate import CheckResult, make_check, verdict
from synthgen.evaluate.inputs import TabularInputs
from synthgen.evaluate.metric import MetricResult, evaluate_metrics, json_safe
from synthgen.evaluate.model_statistics import ModelStatistics, read_model_statistics
from synthgen.evaluate.policy import Policy, load_policy
from synthgen.evaluate.registry import CERTIFICATE as CERTIFICATE_CHECK
from synthgen.evaluate.registry import CONTRACT, tabular_metrics
from synthgen.evaluate.sections import Section
from synthgen.privacy.certificate import Certificate
from synthgen.progress import ProgressEvent
from synthgen.tabular.expectations import ExpectationResults, check_synthetic_table
from synthgen.tabular.io import read_table
from synthgen.tabular.schema import Schema

if TYPE_CHECKING:
    from synthgen.evaluate.images.inputs import ImageValidationOptions

SCHEMA = "schema.json"
TRAIN_SPLIT = "train.parquet"
HOLDOUT_SPLIT = "holdout.parquet"
NOTICE = (
    "This report contains statistics computed on real data (the training and holdout "
    "splits of the source). It is for the data steward and auditors only: never ship it, "
    "or any number in it, with a synthetic release."
)


@dataclass
class ValidationResult:
    verdict: str  # "pass", "warn" or "fail"
    checks: list[CheckResult]
    metrics: list[MetricResult]
    expectations: ExpectationResults | None  # the data contract (tables; None for images)
    certificate: dict[str, Any]
    private: bool
    provenance: dict[str, Any]
    policy: Policy
    sections: list[Section] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    created_at: str = ""
    modality: str = "tabular"  # "tabular" or "image"

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.name == name)

    def to_json_dict(self) -> dict[str, Any]:
        return json_safe({
            "verdict": self.verdict,
            "modality": self.modality,
            "notice": NOTICE,
            "created_at": self.created_at,
            "private": self.private,
            "checks": [c.to_json_dict() for c in self.checks],
            "metrics": {m.name: m.to_json_dict() for m in self.metrics},
            "expectations": self.expectations.to_json_dict() if self.expectations else None,
            "certificate": self.certificate,
            "provenance": self.provenance,
            "policy": self.policy.to_json_dict(),
            "sections": [s.to_json_dict() for s in self.sections],
            "timings_seconds": self.timings,
        })


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


def read_model_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path.parent} is not a complete synthgen model (no {path.name})") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is damaged: {type(exc).__name__}") from exc


def model_modality(model_dir: str | Path) -> str:
    """``"tabular"`` or ``"image"``, from the model's ``config.json``."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory not found: {model_dir}")
    config = read_model_json(model_dir / CONFIG)
    modality = config.get("modality") if isinstance(config, dict) else None
    if modality not in ("tabular", "image"):
        raise ModelLoadError(f"{model_dir / CONFIG}: unknown modality {modality!r}")
    return str(modality)


def read_certificate(model_dir: Path) -> tuple[Certificate, dict[str, Any]]:
    certificate_json = read_model_json(model_dir / CERTIFICATE)
    try:
        return Certificate.from_json_dict(certificate_json), certificate_json
    except (TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{model_dir / CERTIFICATE} is not a valid certificate") from exc


def private_run_dir(model_dir: Path, run: Any, private_dir: str | Path | None = None) -> Path:
    """The model's private run directory: ``private_dir`` when given, else the default
    sibling ``MODEL_DIR.private`` (older model directories recorded its path in run.json).
    ``run.json`` holds no path (it leaves the private area), so the pairing is checked
    through the random ``run_id`` both directories record. ``PrivateDataMissing`` when gone."""
    if not isinstance(run, dict):
        raise ModelLoadError(f"{model_dir / RUN} is not a run record")
    if private_dir is not None:
        found = Path(private_dir)
    elif run.get("private_dir"):  # written before run.json held public values only
        found = Path(run["private_dir"])
    else:
        found = default_private_dir(model_dir)
    if not found.is_dir():
        raise PrivateDataMissing(
            f"the private run directory of this model is gone: {found}. Validation needs the "
            "train/holdout split it held; it was deleted or moved. Restore it, pass its path "
            "(--private-dir), or retrain to validate a new model."
        )
    provenance = read_provenance(found)
    if run.get("run_id") and provenance.get("run_id") != run["run_id"]:
        raise ModelLoadError(
            f"{found} is not the private run directory of {model_dir} (their run ids differ): "
            "pass the right one with --private-dir"
        )
    return found


def load_model_files(model_dir: str | Path, private_dir: str | Path | None = None) -> ModelFiles:
    model_dir = Path(model_dir)
    if model_modality(model_dir) != "tabular":
        raise ModelLoadError(f"{model_dir} is an image model; load it with synthgen.evaluate.images")
    config = read_model_json(model_dir / CONFIG)
    try:
        schema = Schema.from_dict(read_model_json(model_dir / SCHEMA), source=str(model_dir / SCHEMA))
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
        model_dir, schema, certificate, certificate_json, config, run, private_dir,
        splits[0][expected], splits[1][expected],
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
        from synthgen.evaluate.images.release import evaluate_image_release

        return evaluate_image_release(
            model_dir, synthetic_path, policy_path=policy_path, seed=seed, progress=progress,
            options=image_options, private_dir=private_dir,
        )
    from synthgen.evaluate.tabular_report import build_sections

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
        schema=files.schema, train=files.train, synthetic=synthetic_raw,
        holdout=files.holdout, seed=seed, model=files.statistics,
    )
    results = evaluate_metrics(metrics, inputs, timings=timings, on_metric=report, first_step=1)

    checks = _checks(files, expectations, results, policy)
    provenance = _provenance(files, synthetic_path, synthetic_raw, seed)
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


def is_private(certificate: Certificate) -> bool:
    eps = certificate.epsilon
    return bool(certificate.private) and eps is not None and math.isfinite(float(eps))


def certificate_and_metric_checks(
    certificate: Certificate, results: list[MetricResult], policy: Policy
) -> list[CheckResult]:
    """The checks every modality has: the certificate's epsilon (a model trained without
    DP always fails), then one check per metric."""
    private = is_private(certificate)
    checks = [make_check(
        name=CERTIFICATE_CHECK.name, title=CERTIFICATE_CHECK.title, family=CERTIFICATE_CHECK.family,
        value=float(certificate.epsilon) if private else math.inf, direction=CERTIFICATE_CHECK.direction,
        policy=policy, note="" if private else "NOT PRIVATE: trained without differential privacy; never releasable",
        force=None if private else "fail",
    )]
    for r in results:
        checks.append(make_check(
            name=r.name, title=r.title, family=r.family, value=r.value, direction=r.direction,
            policy=policy, note=r.note,
        ))
    return checks


def _checks(
    files: ModelFiles, expectations: ExpectationResults, results: list[MetricResult], policy: Policy
) -> list[CheckResult]:
    failed = len(expectations.failed)
    contract = make_check(
        name=CONTRACT.name, title=CONTRACT.title, family=CONTRACT.family, value=float(failed),
        direction=CONTRACT.direction, policy=policy,
        note=f"{failed} of {len(expectations.outcomes)} expectations failed",
    )
    return [contract, *certificate_and_metric_checks(files.certificate, results, policy)]


def _provenance(
    files: ModelFiles, synthetic_path: str | Path, synthetic: pd.DataFrame, seed: int
) -> dict[str, Any]:
    run = files.run
    return {
        "model_dir": str(files.model_dir.resolve()),
        "private_dir": str(files.private_dir),
        "source": run.get("source"),
        "source_sha256": run.get("source_sha256"),
        "schema_sha256_at_training": run.get("schema_sha256"),
        "model_schema_sha256": files.schema.hash(),
        "code_version_at_training": run.get("code_version"),
        "code_version_of_validation": __version__,
        "training_seed": run.get("seed"),
        "validation_seed": seed,
        "trained_at": run.get("created_at"),
        "holdout_fraction": run.get("holdout_fraction"),
        "n_train": len(files.train),
        "n_holdout": len(files.holdout),
        "target": run.get("target"),
        "synthetic_file": str(Path(synthetic_path).resolve()),
        "synthetic_sha256": file_sha256(synthetic_path),
        "n_synthetic": len(synthetic),
        "config": files.config,
    }
