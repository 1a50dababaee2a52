"""What a validation returns, whatever the modality: the verdict, the checks, the metrics
and the report sections, with the checks every modality shares (the certificate's epsilon,
then one check per metric).

Both ``release`` (tables) and ``images.release`` build a ``ValidationResult`` from here;
neither imports the other's module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthgen import __version__
from synthgen.artifacts import file_sha256
from synthgen.evaluate.gate import CheckResult, make_check
from synthgen.evaluate.metric import MetricResult, json_safe
from synthgen.evaluate.policy import Policy
from synthgen.evaluate.registry import CERTIFICATE as CERTIFICATE_CHECK
from synthgen.evaluate.registry import NEVER_PASS_BELOW
from synthgen.evaluate.sections import Section
from synthgen.privacy.certificate import Certificate

if TYPE_CHECKING:
    from synthgen.tabular.expectations import ExpectationResults

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
        return json_safe(
            {
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
            }
        )


def is_private(certificate: Certificate) -> bool:
    eps = certificate.epsilon
    return bool(certificate.private) and eps is not None and math.isfinite(float(eps))


def certificate_and_metric_checks(
    certificate: Certificate, results: list[MetricResult], policy: Policy
) -> list[CheckResult]:
    """The checks every modality has: the certificate's epsilon (a model trained without
    DP always fails), then one check per metric."""
    private = is_private(certificate)
    checks = [
        make_check(
            name=CERTIFICATE_CHECK.name,
            title=CERTIFICATE_CHECK.title,
            family=CERTIFICATE_CHECK.family,
            value=float(certificate.epsilon) if private else math.inf,
            direction=CERTIFICATE_CHECK.direction,
            policy=policy,
            note=""
            if private
            else "NOT PRIVATE: trained without differential privacy; never releasable",
            force=None if private else "fail",
        )
    ]
    for r in results:
        checks.append(
            make_check(
                name=r.name,
                title=r.title,
                family=r.family,
                value=r.value,
                direction=r.direction,
                policy=policy,
                note=r.note,
                never_pass_below=NEVER_PASS_BELOW.get(r.name),
            )
        )
    return checks


def shared_provenance(
    files: Any, synthetic_path: str | Path, n_synthetic: int, seed: int, **modality: Any
) -> dict[str, Any]:
    """The provenance every report shows (the model and private directories, the run,
    the synthetic file), plus the ``modality`` entries (schema or image spec)."""
    run = files.run
    return {
        "model_dir": str(files.model_dir.resolve()),
        "private_dir": str(files.private_dir),
        "source": run.get("source"),
        "source_sha256": run.get("source_sha256"),
        "code_version_at_training": run.get("code_version"),
        "code_version_of_validation": __version__,
        "training_seed": run.get("seed"),
        "validation_seed": seed,
        "trained_at": run.get("created_at"),
        "holdout_fraction": run.get("holdout_fraction"),
        "n_train": len(files.train),
        "n_holdout": len(files.holdout),
        "synthetic_file": str(Path(synthetic_path).resolve()),
        "synthetic_sha256": file_sha256(synthetic_path),
        "n_synthetic": n_synthetic,
        "config": files.config,
        **modality,
    }
