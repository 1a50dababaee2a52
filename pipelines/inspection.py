"""What an upload holds: a bounded copy to private staging, its type read from the
content, size/row/column limits, safe archive extraction, and (tables) parsing and the
schema checks of ``synthgen.tabular.conform``. Runs in the API process with pandas only;
raises a ServiceError or a library error (messages name columns and counts, never
values) and leaves everything it wrote in the staging directory, which the caller removes.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipelines.artifacts import sha256_file
from pipelines.errors import InvalidRequest, PayloadTooLarge
from pipelines.settings import Settings
from pipelines.uploads import (
    IMAGE_SUFFIXES,
    check_declared,
    copy_limited,
    copy_upload,
    expansion_limit,
    safe_extract,
    scan_csv,
    sniff,
)
from synthgen.errors import InputFileError, SchemaError

DICOM_SUFFIXES = (".dcm", ".dicom")


@dataclass(frozen=True)
class UploadForm:
    name: str
    target: str | None
    epsilon_budget: float
    delta_budget: float | None
    filename: str
    schema_filename: str | None = None
    # images, patient-level privacy: where each image's patient id comes from
    # (dicom:KEYWORD, csv:COLUMN or folder) and the cap on images per patient; checked
    # into ``synthgen.requests.ImagePatients`` by ``sources.register_source``
    entity: str | None = None
    max_records_per_entity: int | None = None


@dataclass
class Inspected:
    modality: str
    file_format: str
    n_records: int
    columns: list[str] | None
    suffix: str
    data: Path  # a file, or a directory (extracted image archive)
    schema: Path | None = None
    inner: str = ""  # the folder inside an extracted archive that holds the images
    dicom: bool = False  # an image archive of DICOM files (with a labels CSV)


def inspect_upload(
    staging: Path,
    settings: Settings,
    form: UploadForm,
    data: BinaryIO,
    schema_data: BinaryIO | None,
) -> Inspected:
    raw = staging / "upload"
    copy_upload(
        data,
        raw,
        table_limit=settings.max_upload_bytes,
        image_limit=settings.max_image_upload_bytes,
    )
    kind = sniff(raw, form.filename)
    if kind in ("csv", "tsv", "parquet") and raw.stat().st_size > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"the table is larger than the limit of {settings.max_upload_bytes} bytes"
        )
    schema_path = None
    if schema_data is not None:
        suffix = ".json" if (form.schema_filename or "").lower().endswith(".json") else ".yaml"
        schema_path = staging / f"schema{suffix}"
        copy_limited(schema_data, schema_path, limit=settings.max_schema_bytes, what="schema file")
        if schema_path.stat().st_size == 0:
            schema_path.unlink()
            schema_path = None
    if kind in ("csv", "tsv", "parquet"):
        suffix = f".{kind}"
        table = raw.rename(staging / f"table{suffix}")
        n, columns = _inspect_table(table, kind, settings, form.target, schema_path)
        return Inspected(
            "tabular", "csv" if kind == "tsv" else kind, n, columns, suffix, table, schema_path
        )
    if schema_path is not None:
        raise InvalidRequest("a schema file describes a table; image uploads take none")
    if kind == "npz":
        npz = raw.rename(staging / "images.npz")
        n = _inspect_npz(npz, settings)
        return Inspected("image", "npz", n, None, ".npz", npz)
    return _inspect_image_zip(staging, raw, settings)


# -- tables ----------------------------------------------------------------------------------
def _csv_header(path: Path, delimiter: str) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        first = next(csv.reader(fh, delimiter=delimiter), [])
    return [c.strip() for c in first]


def _inspect_table(
    path: Path, kind: str, settings: Settings, target: str | None, schema_path: Path | None
) -> tuple[int, list[str]]:
    from synthgen.tabular.io import read_table
    from synthgen.tabular.schema import DEFAULT_NA_VALUES, Schema

    if not target:
        raise InvalidRequest("target (the label column) is required for a table")
    # refuse oversized tables before parsing them
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as exc:  # pyarrow raises its own hierarchy on corrupt files
            raise InvalidRequest(
                f"the upload is not a readable Parquet file: {type(exc).__name__}"
            ) from None
        if meta.num_rows > settings.max_rows:
            raise PayloadTooLarge(f"the table has more than {settings.max_rows} rows")
        if meta.num_columns > settings.max_columns:
            raise PayloadTooLarge(f"the table has more than {settings.max_columns} columns")
        # Parquet pages are compressed: a few KB may decode to one cell of hundreds of MB.
        # The same expansion limits as an archive, on the sizes its footer declares.
        expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if expanded > expansion_limit(
            path.stat().st_size,
            max_total_bytes=settings.max_extracted_bytes,
            max_ratio=settings.max_compression_ratio,
        ):
            raise PayloadTooLarge(
                "the Parquet file is compressed suspiciously well (it would expand more "
                f"than {settings.max_compression_ratio:g} times its size)"
            )
    else:
        delimiter = "\t" if kind == "tsv" else ","
        scan_csv(
            path,
            delimiter,
            max_rows=settings.max_rows,
            max_cell_bytes=settings.max_csv_cell_bytes,
        )
        header = _csv_header(path, delimiter)
        if len(header) > settings.max_columns:
            raise PayloadTooLarge(f"the table has more than {settings.max_columns} columns")
        if len(set(header)) != len(header):  # pandas would rename them silently ("a.1")
            raise InvalidRequest("the table has duplicate column names")

    schema = None
    if schema_path is not None:
        schema = Schema.load(
            schema_path, name="the schema file", max_bytes=settings.max_schema_bytes
        )
        if schema.draft:
            raise SchemaError(
                "the schema is still a draft (draft: true): review its bounds and categories, "
                "then set draft: false"
            )
    try:
        df = read_table(path, na_values=schema.na_values if schema else DEFAULT_NA_VALUES)
    except InputFileError as exc:
        # the library names the file by its path; the client knows it by its own name
        raise InputFileError(str(exc).replace(str(path), "the uploaded table")) from None
    if df.shape[1] > settings.max_columns:
        raise PayloadTooLarge(f"the table has more than {settings.max_columns} columns")
    if len(df) > settings.max_rows:
        raise PayloadTooLarge(f"the table has more than {settings.max_rows} rows")
    if len(df) == 0:
        raise InvalidRequest("the table has a header but no rows")
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns):
        raise InvalidRequest("the table has duplicate column names")
    if target not in columns:
        raise InvalidRequest(f"target column {target!r} is not in the table")
    if schema is not None:
        from synthgen.tabular.conform import conform

        schema = schema.with_target(target)
        conform(df, schema)  # raises SchemaMismatch listing every problem (no values)
    return len(df), columns


# -- images ----------------------------------------------------------------------------------
def _check_archive_declared(path: Path, settings: Settings) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise InvalidRequest("the archive cannot be read") from None
    check_declared(
        infos,
        path.stat().st_size,
        max_members=settings.max_archive_members,
        max_total_bytes=settings.max_extracted_bytes,
        max_ratio=settings.max_compression_ratio,
    )
    return infos


def _inspect_npz(path: Path, settings: Settings) -> int:
    import numpy as np

    _check_archive_declared(path, settings)
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.removesuffix(".npy") for n in zf.namelist()}
            for images, labels in (("images", "labels"), ("train_images", "train_labels")):
                if images in names and labels in names:
                    shapes = {}
                    for key in (images, labels):
                        with zf.open(f"{key}.npy") as fh:
                            version = np.lib.format.read_magic(fh)
                            read_header = (
                                np.lib.format.read_array_header_1_0
                                if version == (1, 0)
                                else np.lib.format.read_array_header_2_0
                            )
                            shapes[key] = read_header(fh)[0]
                    break
            else:
                raise InvalidRequest(
                    "an image .npz needs arrays 'images' and 'labels' (or MedMNIST's "
                    "'train_images' and 'train_labels')"
                )
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise InvalidRequest(f"the .npz file cannot be read: {type(exc).__name__}") from None
    img, lab = shapes[images], shapes[labels]
    if len(img) not in (3, 4) or not lab or lab[0] != img[0]:
        raise InvalidRequest("images must be (N, H, W[, C]) with one label per image")
    if img[0] == 0:
        raise InvalidRequest("the .npz file holds no images")
    if img[0] > settings.max_rows:
        raise PayloadTooLarge(f"the upload has more than {settings.max_rows} images")
    return int(img[0])


def _inspect_image_zip(staging: Path, raw: Path, settings: Settings) -> Inspected:
    sha = sha256_file(raw)
    out = staging / sha
    out.mkdir()
    files = safe_extract(
        raw,
        out,
        max_members=settings.max_archive_members,
        max_total_bytes=settings.max_extracted_bytes,
        max_ratio=settings.max_compression_ratio,
    )
    raw.unlink()
    images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES + DICOM_SUFFIXES]
    if not images:
        shutil.rmtree(out, ignore_errors=True)
        raise InvalidRequest(
            "the archive holds no images: expected one folder per class of PNG/JPEG files "
            "(or DICOM files with a labels CSV)"
        )
    if len(images) > settings.max_rows:
        raise PayloadTooLarge(f"the upload has more than {settings.max_rows} images")
    # an archive of one folder (``data/<class>/...``): the images are in that folder
    inner = out
    while True:
        children = [c for c in inner.iterdir() if not c.name.startswith((".", "__MACOSX"))]
        if len(children) == 1 and children[0].is_dir() and _has_subfolders(children[0]):
            inner = children[0]
        else:
            break
    relative = "" if inner == out else str(inner.relative_to(out))
    dicom = any(f.suffix.lower() in DICOM_SUFFIXES for f in images)
    return Inspected("image", "image_zip", len(images), None, "", out, inner=relative, dicom=dicom)


def _has_subfolders(path: Path) -> bool:
    return any(c.is_dir() for c in path.iterdir())
