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
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a ZIP file (an .npz is one too)
UploadType = Literal["csv", "tsv", "parquet", "npz", "zip"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# a member this large must not be compressed better than max_ratio (small files may be)
RATIO_CHECK_MIN_BYTES = 1 << 20
# the whole archive may always expand to this much, whatever its ratio (a few small files
# of text compress far better than 200:1)
RATIO_FLOOR_BYTES = 1 << 20


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


class _Prefixed:
    """A stream with its first bytes read already (to choose the upload's size limit)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._rest.read(size)


def copy_upload(src: BinaryIO, dest: Path, *, table_limit: int, image_limit: int) -> int:
    """Copy an upload to ``dest`` under the size limit of its kind, read from its first
    bytes while it streams: a ZIP container (an image .zip or .npz) or a table. Refuses
    (and deletes ``dest``) as soon as the limit is passed."""
    head = src.read(4)
    if head.startswith(ZIP_MAGIC):
        limit, what = image_limit, "image archive"
    else:
        limit, what = table_limit, "table"
    return copy_limited(_Prefixed(head, src), dest, limit=limit, what=what)  # type: ignore[arg-type]


def scan_csv(path: Path, delimiter: str, *, max_rows: int, max_cell_bytes: int) -> int:
    """Count the lines of a CSV file and refuse one with more than ``max_rows`` + 1 lines
    or a cell of more than ``max_cell_bytes``, reading ``CHUNK`` bytes at a time (pandas
    would hold a huge cell several times over). Cells are delimited by the delimiter or a
    line break outside double quotes; quote parity is carried from chunk to chunk."""
    import numpy as np

    sep, newline, cr, quote = ord(delimiter), ord("\n"), ord("\r"), ord('"')
    lines = 0
    run = 0  # bytes of the current cell seen in earlier chunks
    quoted = False
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            a = np.frombuffer(block, dtype=np.uint8)
            # lines end in \n, \r\n or (old Mac files, which pandas reads too) \r alone
            lines += max(int(np.count_nonzero(a == newline)), int(np.count_nonzero(a == cr)))
            if lines > max_rows + 1:
                raise PayloadTooLarge(f"the table has more than {max_rows} rows")
            # inside quotes after each byte: the parity of the quotes so far ("" escapes a
            # quote and flips twice); uint8 sums wrap at 256, which keeps the parity
            inside = np.cumsum(a == quote, dtype=np.uint8) & 1
            if quoted:
                inside ^= 1
            ends = np.flatnonzero(((a == sep) | (a == newline) | (a == cr)) & (inside == 0))
            if ends.size:
                longest = max(run + int(ends[0]), int(np.diff(ends).max(initial=1)) - 1)
                run = len(a) - int(ends[-1]) - 1
            else:
                longest = run = run + len(a)
            if max(longest, run) > max_cell_bytes:
                raise PayloadTooLarge(
                    f"a CSV cell is larger than the limit of {max_cell_bytes} bytes"
                )
            quoted = bool(inside[-1])
    return lines


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
    if head.startswith(ZIP_MAGIC):
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


def expansion_limit(archive_bytes: int, *, max_total_bytes: int, max_ratio: float) -> int:
    """How many bytes an archive of ``archive_bytes`` may expand to in all: the size limit,
    and ``max_ratio`` times its own size (at least ``RATIO_FLOOR_BYTES``)."""
    by_ratio = max(RATIO_FLOOR_BYTES, int(max_ratio * archive_bytes))
    return min(max_total_bytes, by_ratio)


def check_declared(
    infos: list[zipfile.ZipInfo],
    archive_bytes: int,
    *,
    max_members: int,
    max_total_bytes: int,
    max_ratio: float,
) -> None:
    """Refuse an archive by its central directory, before anything is extracted: too many
    members, a declared total over the size limit, the whole archive (not only each
    member) compressed more than ``max_ratio`` to one, or one large member that is."""
    if len(infos) > max_members:
        raise PayloadTooLarge(f"the archive has more than {max_members} members")
    declared = sum(i.file_size for i in infos)
    if declared > max_total_bytes:
        raise PayloadTooLarge(f"the archive expands to more than {max_total_bytes} bytes")
    if declared > expansion_limit(
        archive_bytes, max_total_bytes=max_total_bytes, max_ratio=max_ratio
    ):
        raise PayloadTooLarge(
            f"the archive is compressed suspiciously well (it would expand more than "
            f"{max_ratio:g} times its size; zip bomb?)"
        )
    for info in infos:
        if info.file_size > RATIO_CHECK_MIN_BYTES and info.file_size > max_ratio * max(
            info.compress_size, 1
        ):
            raise PayloadTooLarge("an archive member is compressed suspiciously well (zip bomb?)")


def safe_extract(
    archive: Path,
    dest: Path,
    *,
    max_members: int,
    max_total_bytes: int,
    max_ratio: float,
) -> list[Path]:
    """Extract ``archive`` into the empty directory ``dest``; return the files written.

    Refuses before writing anything (``check_declared``) on: too many members, absolute or
    ``..`` paths, symbolic links and other special files, encrypted members, a declared
    total over ``max_total_bytes`` or over ``max_ratio`` times the archive's size, a large
    member compressed more than ``max_ratio`` to one. While extracting, it counts what
    actually decompresses (never trusting the declared sizes) against the same limits.
    On any refusal ``dest`` is left empty.
    """
    written: list[Path] = []
    try:
        limit = expansion_limit(
            archive.stat().st_size, max_total_bytes=max_total_bytes, max_ratio=max_ratio
        )
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > max_members:
                raise PayloadTooLarge(f"the archive has more than {max_members} members")
            for info in infos:
                _member_path(info.filename)
                kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded none
                if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                    raise InvalidRequest(
                        "archives may contain only plain files and folders (no links)"
                    )
                if info.flag_bits & 0x1:
                    raise InvalidRequest("encrypted archive members are not accepted")
            check_declared(
                infos,
                archive.stat().st_size,
                max_members=max_members,
                max_total_bytes=max_total_bytes,
                max_ratio=max_ratio,
            )
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
                        if count > info.file_size or total > limit:
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
