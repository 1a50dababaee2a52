"""Reading a model directory, whatever the modality: its JSON files, its modality, its
certificate, and the private run directory that belongs to it (typed errors on bad input).

The readers every modality shares (``read_model_json``, ``model_modality``) live in
``synthgen.artifacts``; they are re-exported here for the validation code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.artifacts import (
    CERTIFICATE,
    RUN,
    default_private_dir,
    model_modality,
    read_model_json,
    read_provenance,
)
from synthgen.errors import ModelLoadError, PrivateDataMissing
from synthgen.privacy.certificate import Certificate

__all__ = ["model_modality", "private_run_dir", "read_certificate", "read_model_json"]


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
