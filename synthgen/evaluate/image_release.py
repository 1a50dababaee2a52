"""Validate a synthetic image release: load, check, measure, judge (writes nothing).

``evaluate_image_release`` is what ``synthgen.evaluate.release.evaluate_release`` calls for
an image model. Bad input raises a typed error before any metric runs: the policy
(``PolicyError``), the model directory (``ModelLoadError``), its private split
(``PrivateDataMissing``), the synthetic file (``InputFileError``, ``SchemaMismatch``).
The result has the same shape as a tabular one (checks, metrics, certificate, provenance,
policy, sections), so the gate, ``report.json`` and the templates are shared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthgen.artifacts import utc_now
from synthgen.evaluate.gate import verdict
from synthgen.evaluate.image_report import build_sections
from synthgen.evaluate.images.files import (
    ImageModelFiles,
    load_image_model_files,
    read_synthetic_images,
)
from synthgen.evaluate.images.inputs import ImageInputs, ImageValidationOptions
from synthgen.evaluate.metric import evaluate_metrics
from synthgen.evaluate.policy import load_policy
from synthgen.evaluate.registry import image_metrics
from synthgen.evaluate.result import (
    ValidationResult,
    certificate_and_metric_checks,
    is_private,
    shared_provenance,
)
from synthgen.images.data import ImageSet
from synthgen.progress import ProgressEvent


def evaluate_image_release(
    model_dir: str | Path,
    synthetic_path: str | Path,
    *,
    policy_path: str | Path | None = None,
    seed: int = 0,
    progress: Callable[[ProgressEvent], None] | None = None,
    options: ImageValidationOptions | None = None,
    private_dir: str | Path | None = None,
) -> ValidationResult:
    """Check, measure and judge synthetic images against their model's real splits."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    policy = load_policy(policy_path)
    files = load_image_model_files(model_dir, private_dir)
    synthetic = read_synthetic_images(synthetic_path, files.spec)
    timings["load"] = time.perf_counter() - started

    metrics = image_metrics()
    total = len(metrics) + 1

    def report(step: int, message: str) -> None:
        if progress is not None:
            progress(ProgressEvent(stage="validate", step=step, total=total, message=message))

    inputs = ImageInputs.build(
        spec=files.spec,
        train=files.train,
        holdout=files.holdout,
        test=files.test,
        synthetic=synthetic,
        seed=seed,
        options=options,
    )
    results = evaluate_metrics(metrics, inputs, timings=timings, on_metric=report)

    checks = certificate_and_metric_checks(files.certificate, results, policy)
    result = ValidationResult(
        verdict=verdict(checks),
        checks=checks,
        metrics=results,
        expectations=None,
        certificate=files.certificate_json,
        private=is_private(files.certificate),
        provenance=_provenance(files, synthetic_path, synthetic, seed),
        policy=policy,
        timings=timings,
        created_at=utc_now(),
        modality="image",
    )
    t = time.perf_counter()
    result.sections = build_sections(result, inputs)
    timings["sections"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    report(total, "done")
    return result


def _provenance(
    files: ImageModelFiles, synthetic_path: str | Path, synthetic: ImageSet, seed: int
) -> dict[str, Any]:
    import hashlib
    import json

    spec_json = files.spec.to_json_dict()
    return shared_provenance(
        files,
        synthetic_path,
        len(synthetic),
        seed,
        spec_sha256_at_training=files.run.get("schema_sha256"),
        model_spec_sha256=hashlib.sha256(
            json.dumps(spec_json, sort_keys=True).encode()
        ).hexdigest(),
        spec=spec_json,
        n_test=len(files.test) if files.test is not None else 0,
    )
