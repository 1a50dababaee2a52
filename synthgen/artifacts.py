"""Model directories and private run directories: layout, atomic writes, provenance.

See docs/architecture.md for what each file holds. A model directory is built in a hidden
staging directory next to its destination and renamed into place only when complete, so a
failed or interrupted run never leaves a half-written model behind.

The private run directory holds real data. Whoever writes in it (CLI, library, service,
worker) goes through the helpers of the "private area on disk" section below: directories
0700 and files 0600 whatever the process's umask, so another local user can read nothing
of it (the default umask 022 would leave the split world-readable).
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
from typing import IO, TYPE_CHECKING, Any

from synthgen import __version__
from synthgen.errors import ModelLoadError, OutputError
from synthgen.privacy.certificate import Certificate

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


# -- the private area on disk ---------------------------------------------------------------------
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700, also when it existed.

    ``mkdir(mode=...)`` alone is not enough: the umask can only remove bits, and an existing
    directory keeps its mode. Parents are created with the usual mode; the leaf is what
    keeps other users out of everything below it.
    """
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def restrict_private(path: Path) -> None:
    """Make a private file 0600, or a private directory and everything under it 0700
    (directories) and 0600 (files). For files written by other libraries (Parquet, npz,
    safetensors, torch), right after they are written. Links are left alone (never
    followed)."""
    path = Path(path)
    if path.is_symlink() or not path.exists():
        return
    if not path.is_dir():
        os.chmod(path, PRIVATE_FILE_MODE)
        return
    os.chmod(path, PRIVATE_DIR_MODE)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, PRIVATE_DIR_MODE)
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, PRIVATE_FILE_MODE)


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """Open a private text file for writing (``"a"`` appends, ``"w"`` truncates); a new
    file is created 0600, an existing one is made 0600."""
    if mode not in ("a", "w"):
        raise ValueError(f"open_private writes only: mode 'a' or 'w', got {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


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
