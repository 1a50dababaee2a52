"""Model directories and private run directories: layout, atomic writes, provenance.

See docs/architecture.md for what each file holds. A model directory is built in a hidden
staging directory next to its destination and renamed into place only when complete, so a
failed or interrupted run never leaves a half-written model behind.

The private run directory holds real data: write in it with the helpers of
``synthgen.private_files`` (re-exported here), which keep it 0700/0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthgen import __version__
from synthgen.errors import ModelLoadError, OutputError
from synthgen.privacy.certificate import Certificate
from synthgen.private_files import make_private_dir as make_private_dir
from synthgen.private_files import open_private
from synthgen.private_files import restrict_private as restrict_private

if TYPE_CHECKING:
    from torch import nn

CERTIFICATE = "certificate.json"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
ACCOUNTANT = "accountant.json"
RUN = "run.json"
PREPROCESSING = "preprocessing.json"
TRAINING_LOG = "training_log.jsonl"
CHECKPOINT_DIR = "checkpoint"  # the trainer's resumable checkpoint in the private directory
CHECKPOINT_STATE = "state.json"  # written last: its presence means the checkpoint is complete


@dataclass
class TrainingResult:
    model_dir: Path
    private_dir: Path
    certificate: Certificate


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, or of every file under a folder (sorted relative paths)."""
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def write_json(path: Path, obj: Any, *, private: bool = False) -> None:
    """Write JSON atomically (temporary file, then rename); ``private=True`` for files of
    the private area (created 0600)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    if private:
        with open_private(tmp, "w") as fh:
            fh.write(text)
    else:
        tmp.write_text(text)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"missing file: {path}") from exc
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc


def default_private_dir(model_dir: Path) -> Path:
    return model_dir.with_name(model_dir.name + ".private")


def check_new_output(out: Path) -> None:
    if out.exists():
        raise OutputError(f"{out} exists already; choose a new model directory")
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write in {parent}")


@contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """Yield a hidden staging directory; rename it to ``out`` only if the block succeeds."""
    check_new_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
        if out.exists():
            raise OutputError(f"{out} appeared while training; the new model was not written")
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def save_weights(module: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt", "synthgen": __version__})


def read_weights(path: Path) -> dict[str, Any]:
    """The tensors of a ``.safetensors`` file (ModelLoadError when missing or corrupt)."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"missing weights: {path}") from exc
    except Exception as exc:  # safetensors raises its own error type on corrupt files
        raise ModelLoadError(f"cannot read weights {path}: {exc}") from exc


def load_weights(module: nn.Module, path: Path) -> None:
    state = read_weights(path)
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelLoadError(
            f"{path} does not fit this model (missing {len(missing)}, unexpected {len(unexpected)} tensors)"
        )


def load_certificate(model_dir: Path) -> Certificate:
    return Certificate.load(model_dir / CERTIFICATE)


PROVENANCE = "provenance.json"  # in the private run directory


def new_run_id() -> str:
    """A random identity shared by ``run.json`` and the private ``provenance.json``: it
    pairs a model directory with its private run directory and says nothing about the data."""
    return uuid.uuid4().hex


def run_record(
    *,
    run_id: str,
    schema_sha256: str | None,
    seed: int,
    holdout_fraction: float | str,
    target: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Public provenance written to ``run.json`` in the model directory.

    Only public values: under add/remove adjacency a count of records, a hash of the source
    and a path on the steward's machine are all private (see ``private_provenance``).
    """
    record = {
        "run_id": run_id,
        "schema_sha256": schema_sha256,
        "code_version": __version__,
        "seed": seed,
        "created_at": utc_now(),
        "holdout_fraction": holdout_fraction,
        "target": target,
    }
    record.update(extra or {})
    return record


def private_provenance(
    *,
    run_id: str,
    source: Path | None,
    n_train: int,
    n_holdout: int,
    private_dir: Path,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Provenance that needs the source's identity or exact counts: ``provenance.json`` in
    the private run directory, for the steward's and auditors' tools only."""
    record = {
        "run_id": run_id,
        "source": str(source.resolve()) if source is not None else None,
        "source_sha256": file_sha256(source) if source is not None and source.exists() else None,
        "n_train": n_train,
        "n_holdout": n_holdout,
        "private_dir": str(private_dir.resolve()),
        "created_at": utc_now(),
    }
    record.update(extra or {})
    return record


def read_provenance(private_dir: Path) -> dict[str, Any]:
    """The private ``provenance.json`` of a run ({} when the run predates it or it is gone)."""
    path = private_dir / PROVENANCE
    if not path.is_file():
        return {}
    data = read_json(path)
    return data if isinstance(data, dict) else {}


def read_model_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(
            f"{path.parent} is not a complete synthgen model (no {path.name})"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is damaged: {type(exc).__name__}") from exc


def model_modality(model_dir: str | Path) -> str:
    """``"tabular"`` or ``"image"``, from the model's ``config.json``."""
    model_dir = Path(model_dir)
    if model_dir.is_file():
        raise ModelLoadError(
            f"{model_dir} is a file, not a model directory (the directory `synthgen train "
            f"--out` wrote)"
        )
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory not found: {model_dir}")
    config = read_model_json(model_dir / CONFIG)
    modality = config.get("modality") if isinstance(config, dict) else None
    if modality not in ("tabular", "image"):
        raise ModelLoadError(f"{model_dir / CONFIG}: unknown modality {modality!r}")
    return str(modality)
