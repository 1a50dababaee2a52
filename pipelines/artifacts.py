"""The artifact store: content-addressed files in a local data directory.

Layout under ``Settings.data_dir``::

    (the data directory, when synthgen creates it, and every store below are mode 0700,
    their files 0600: pending and rejected releases are no one else's business either)
    private/            real data and what is computed on it without noise
      blobs/ab/<sha256><suffix>     uploaded sources and schemas
      sources/<sha256>/             extracted image archives (named by the archive's hash)
      runs/<job_id>/                a training job's private directory (split, checkpoint,
                                    accountant state, training log)
      reports/<job_id>/             validation reports (computed on real data)
      tmp/                          staging for uploads and outputs; emptied on refusal
    models/<job_id>/    model directories (differentially private; not served)
    releases/ab/<sha256><suffix>    synthetic data, served once a release is approved

The store (database) keeps only references (paths relative to the data directory) and
sha256 hashes. Blobs are written to a temporary name and renamed into place, so a reader
never sees half a file, and a blob's name is its content's hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import Settings
from synthgen.artifacts import make_private_dir, restrict_private

CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    ref: str  # path relative to the data directory

    def as_dict(self) -> dict[str, str | int]:
        return {"sha256": self.sha256, "size": self.size, "ref": self.ref}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


class BlobStore:
    """Files named by the sha256 of their content, under ``root``."""

    def __init__(self, root: Path, data_dir: Path) -> None:
        self.root = root
        self.data_dir = data_dir

    def path_for(self, sha256: str, suffix: str = "") -> Path:
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def put(self, path: Path, *, suffix: str = "") -> tuple[Blob, bool]:
        """Move ``path`` into the store. Returns the blob and whether it is new (an equal
        blob already stored is kept and ``path`` is deleted)."""
        sha = sha256_file(path)
        size = path.stat().st_size
        dest = self.path_for(sha, suffix)
        ref = str(dest.relative_to(self.data_dir))
        if dest.exists():
            path.unlink()
            return Blob(sha, size, ref), False
        make_private_dir(dest.parent)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        shutil.move(str(path), tmp)  # a rename when staging is on the same filesystem
        restrict_private(tmp)
        os.replace(tmp, dest)
        return Blob(sha, size, ref), True

    def put_directory(self, path: Path, sha256: str) -> tuple[str, bool]:
        """Move a staged directory to ``root/<sha256>``; returns its reference and whether
        it is new."""
        dest = self.root / sha256
        ref = str(dest.relative_to(self.data_dir))
        if dest.exists():
            shutil.rmtree(path, ignore_errors=True)
            return ref, False
        make_private_dir(dest.parent)
        restrict_private(path)
        os.replace(path, dest)
        return ref, True


class ArtifactStore:
    """Where every file of the service lives (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = settings.data_dir
        self.private_root = settings.private_dir
        self.models_root = settings.models_dir
        self.private_blobs = BlobStore(self.private_root / "blobs", self.data_dir)
        self.source_dirs = BlobStore(self.private_root / "sources", self.data_dir)
        self.release_blobs = BlobStore(settings.release_dir, self.data_dir)

    def ensure_layout(self) -> None:
        """Create the stores, each 0700 whatever the umask (also when they existed): the
        private area holds real data, and models and releases (pending and rejected ones
        too) are for the service's roles, not for the machine's other users."""
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700, parents=True)
            os.chmod(self.data_dir, 0o700)
        for root in (self.private_root, self.models_root, self.release_blobs.root):
            make_private_dir(root)
        for sub in ("blobs", "sources", "runs", "reports", "tmp"):
            make_private_dir(self.private_root / sub)

    def seal(self, path: Path) -> None:
        """Make what a job wrote under ``path`` (a run, model or report directory)
        0700/0600, whoever wrote it (the ML library, a fake, a report renderer)."""
        restrict_private(path)

    # -- locations -------------------------------------------------------------------------
    def resolve(self, ref: str) -> Path:
        """The absolute path of a stored reference; refuses references that leave the
        data directory."""
        path = (self.data_dir / ref).resolve()
        if not path.is_relative_to(self.data_dir.resolve()):
            raise ValueError(f"reference outside the data directory: {ref}")
        return path

    def ref(self, path: Path) -> str:
        return str(path.relative_to(self.data_dir))

    def run_dir(self, job_id: str) -> Path:
        return self.private_root / "runs" / job_id

    def report_dir(self, job_id: str) -> Path:
        return self.private_root / "reports" / job_id

    def model_dir(self, job_id: str) -> Path:
        return self.models_root / job_id

    @contextmanager
    def staging(self, prefix: str = "upload-") -> Iterator[Path]:
        """A private temporary directory, removed with everything in it at the end
        (whatever was not moved into the store is not kept)."""
        root = self.private_root / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def delete_ref(self, ref: str | None) -> None:
        if not ref:
            return
        path = self.resolve(ref)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
