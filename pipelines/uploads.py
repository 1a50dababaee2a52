"""Untrusted uploads: bounded copies, type sniffing and safe archive extraction.

Nothing here trusts a client's file name, content type or an archive's declared sizes:
sizes are counted while bytes are copied, types are read from the content, and archive
members are checked for path traversal, links, encryption and compression bombs before
and while they are written.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from pipelines.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

CHUNK = 1 << 20
UploadType = Literal["csv", "tsv", "parquet", "npz", "zip"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# a member this large must not be compressed better than max_ratio (small files may be)
RATIO_CHECK_MIN_BYTES = 1 << 20


def copy_limited(src: BinaryIO, dest: Path, *, limit: int, what: str = "upload") -> int:
    """Copy ``src`` to ``dest``; refuse (and delete ``dest``) past ``limit`` bytes."""
    written = 0
    try:
        with dest.open("wb") as out:
            while True:
                block = src.read(CHUNK)
                if not block:
                    break
                written += len(block)
                if written > limit:
                    raise PayloadTooLarge(f"the {what} is larger than the limit of {limit} bytes")
                out.write(block)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return written


def sniff(path: Path, filename: str) -> UploadType:
    """The upload's type, read from its content (the file name only picks TSV over CSV)."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidRequest("the uploaded file is empty")
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if head.startswith(b"PAR1"):
        if tail != b"PAR1":
            raise InvalidRequest("the Parquet file is truncated (no footer)")
        return "parquet"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path)
    if head.startswith(b"\x1f\x8b"):
        raise UnsupportedMediaType(
            "compressed (gzip) uploads are not accepted; upload the plain CSV"
        )
    if b"\x00" in head:
        raise UnsupportedMediaType("not a CSV, Parquet, NPZ or ZIP file (binary content)")
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the 64 KiB window is fine; anything else is not
        if exc.start < len(text) - 4:
            raise UnsupportedMediaType("a CSV upload must be UTF-8 text") from None
    return "tsv" if filename.lower().endswith(".tsv") else "csv"


def _zip_kind(path: Path) -> UploadType:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidRequest(f"the archive cannot be read: {type(exc).__name__}") from None
    if names and all(n.endswith(".npy") and "/" not in n for n in names):
        return "npz"
    return "zip"


def _member_path(name: str) -> PurePosixPath:
    if "\\" in name or "\x00" in name:
        raise InvalidRequest("archive member names may not contain backslashes or NUL")
    p = PurePosixPath(name)
    if p.is_absolute() or (p.parts and ":" in p.parts[0]):
        raise InvalidRequest("archive members must have relative paths")
    if any(part == ".." for part in p.parts):
        raise InvalidRequest("archive members may not leave the archive folder ('..')")
    return p


def safe_extract(
    archive: Path,
    dest: Path,
    *,
    max_members: int,
    max_total_bytes: int,
    max_ratio: float,
) -> list[Path]:
    """Extract ``archive`` into the empty directory ``dest``; return the files written.

    Refuses (and leaves ``dest`` empty) on: too many members, absolute or ``..`` paths,
    symbolic links and other special files, encrypted members, a declared or actual total
    size over ``max_total_bytes``, a member compressed more than ``max_ratio`` to one.
    """
    written: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > max_members:
                raise PayloadTooLarge(f"the archive has more than {max_members} members")
            declared = 0
            for info in infos:
                _member_path(info.filename)
                kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded none
                if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                    raise InvalidRequest(
                        "archives may contain only plain files and folders (no links)"
                    )
                if info.flag_bits & 0x1:
                    raise InvalidRequest("encrypted archive members are not accepted")
                declared += info.file_size
                if info.file_size > RATIO_CHECK_MIN_BYTES and info.file_size > max_ratio * max(
                    info.compress_size, 1
                ):
                    raise PayloadTooLarge(
                        "an archive member is compressed suspiciously well (zip bomb?)"
                    )
            if declared > max_total_bytes:
                raise PayloadTooLarge(f"the archive expands to more than {max_total_bytes} bytes")
            root = dest.resolve()
            total = 0
            for info in infos:
                rel = _member_path(info.filename)
                target = (root / rel).resolve()
                if not target.is_relative_to(root):
                    raise InvalidRequest("archive members may not leave the archive folder")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as out:
                    count = 0
                    while True:
                        # never trust the declared size: count what decompresses
                        block = src.read(CHUNK)
                        if not block:
                            break
                        count += len(block)
                        total += len(block)
                        if count > info.file_size or total > max_total_bytes:
                            raise PayloadTooLarge("the archive expands to more than it declares")
                        out.write(block)
                written.append(target)
    except zipfile.BadZipFile as exc:
        _empty(dest)
        raise InvalidRequest(f"the archive cannot be read: {exc.__class__.__name__}") from None
    except BaseException:
        _empty(dest)
        raise
    return written


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
