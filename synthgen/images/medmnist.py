"""MedMNIST files: the user's cache, and download from the official location with its MD5.

Resolution order for ``resolve_medmnist(name)``: a path the user gives; else a verified
copy in synthgen's cache (``$SYNTHGEN_CACHE``, else ``$XDG_CACHE_HOME/synthgen``, else
``~/.cache/synthgen``) or in MedMNIST's own default root (``~/.medmnist``); else a download
from the official Zenodo record of MedMNIST v3, checked against the MD5 the ``medmnist``
package lists (the 28 px files are identical in v2 and v3). A file whose checksum does not
match is never used.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from synthgen.errors import InputFileError
from synthgen.progress import ProgressCallback, ProgressEvent, ignore_progress

ZENODO_RECORD = "https://zenodo.org/records/10519652/files"


@dataclass(frozen=True)
class MedMNISTFile:
    name: str  # e.g. "breastmnist"
    size: int  # 28, 64, 128 or 224
    md5: str

    @property
    def filename(self) -> str:
        return f"{self.name}.npz" if self.size == 28 else f"{self.name}_{self.size}.npz"

    @property
    def url(self) -> str:
        return f"{ZENODO_RECORD}/{self.filename}?download=1"


# Official checksums (medmnist package INFO, v2.0.1 to v3.0.2).
KNOWN_FILES: dict[tuple[str, int], MedMNISTFile] = {
    (f.name, f.size): f
    for f in (
        MedMNISTFile("breastmnist", 28, "750601b1f35ba3300ea97c75c52ff8f6"),
        MedMNISTFile("breastmnist", 64, "742edef2a1fd1524b2efff4bd7ba9364"),
        MedMNISTFile("pneumoniamnist", 28, "28209eda62fecd6e6a2d98b1501bb15f"),
    )
}


def known_file(name: str, size: int = 28) -> MedMNISTFile:
    try:
        return KNOWN_FILES[(name.lower(), size)]
    except KeyError:
        known = ", ".join(f"{n} ({s} px)" for n, s in sorted(KNOWN_FILES))
        raise InputFileError(
            f"no official checksum known for {name} at {size} px ({known})"
        ) from None


def cache_dir() -> Path:
    """synthgen's per-user cache folder for downloaded datasets."""
    if os.environ.get("SYNTHGEN_CACHE"):
        return Path(os.environ["SYNTHGEN_CACHE"]) / "medmnist"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "synthgen" / "medmnist"


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_cached(name: str, size: int = 28, *, cache: Path | None = None) -> Path | None:
    """A cached copy whose MD5 is the official one, or None."""
    spec = known_file(name, size)
    candidates = [(cache or cache_dir()) / spec.filename, Path.home() / ".medmnist" / spec.filename]
    for path in candidates:
        if path.is_file() and md5_of(path) == spec.md5:
            return path
    return None


def download_medmnist(
    name: str,
    size: int = 28,
    *,
    cache: Path | None = None,
    url: str | None = None,
    progress: ProgressCallback = ignore_progress,
    timeout_s: float = 60.0,
) -> Path:
    """Download into the cache (a temporary file renamed once its MD5 matches)."""
    spec = known_file(name, size)
    folder = cache or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.filename
    tmp = folder / f".{spec.filename}.{uuid.uuid4().hex[:8]}.part"
    source = url or spec.url
    try:
        with urllib.request.urlopen(source, timeout=timeout_s) as response, tmp.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                done += len(block)
                progress(ProgressEvent("download", done >> 10, total >> 10, message=spec.filename))
        got = md5_of(tmp)
        if got != spec.md5:
            raise InputFileError(
                f"downloaded {spec.filename} has MD5 {got}, expected {spec.md5}; not used"
            )
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InputFileError(
            f"cannot download {spec.filename} from {source} ({type(exc).__name__}); pass the "
            f"file's path instead, or place it in {folder}"
        ) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def resolve_medmnist(
    data: Path | None,
    name: str = "breastmnist",
    size: int = 28,
    *,
    cache: Path | None = None,
    url: str | None = None,
    progress: ProgressCallback = ignore_progress,
) -> Path:
    """The path given, else the verified cached copy, else a verified download."""
    if data is not None:
        if not Path(data).is_file():
            raise InputFileError(f"file not found: {data}")
        return Path(data)
    cached = find_cached(name, size, cache=cache)
    if cached is not None:
        return cached
    return download_medmnist(name, size, cache=cache, url=url, progress=progress)
