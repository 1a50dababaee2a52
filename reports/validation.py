"""Validate a synthetic release and write its report: the function the CLI and the
pipeline's validate/report stages call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reports.render import ReportPaths, check_report_dir, write_report
from synthgen.evaluate.release import ValidationResult, evaluate_release
from synthgen.progress import ProgressEvent

if TYPE_CHECKING:
    from synthgen.evaluate.images.inputs import ImageValidationOptions

__all__ = ["ReportPaths", "validate_release", "write_report"]


def validate_release(
    model_dir: str | Path,
    synthetic_path: str | Path,
    *,
    report_dir: str | Path,
    policy_path: str | Path | None = None,
    seed: int = 0,
    progress: Callable[[ProgressEvent], None] | None = None,
    image_options: ImageValidationOptions | None = None,
    private_dir: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
) -> ValidationResult:
    """Check ``synthetic_path`` (a table, or an .npz of images for an image model) against
    the model in ``model_dir`` and its real splits, judge it with the policy, and write
    report.html/.pdf/.json into ``report_dir``.

    Returns the result (``result.verdict`` is "pass", "warn" or "fail"). Bad inputs raise
    a ``SynthgenError`` before anything is written. Without Chromium the PDF is skipped and
    ``warn`` gets a message (``write_report``).
    """
    report_dir = Path(report_dir)
    check_report_dir(report_dir)
    result = evaluate_release(
        model_dir,
        synthetic_path,
        policy_path=policy_path,
        seed=seed,
        progress=progress,
        image_options=image_options,
        private_dir=private_dir,
    )
    write_report(result, report_dir, warn=warn)
    return result
