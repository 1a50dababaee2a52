"""Which patient each image belongs to: the steward's explicit choice of id source.

Patient-level privacy (``synthgen.privacy.contribution``) needs the patient of every
training image. Where it comes from is never guessed; the steward names it:

- ``dicom:KEYWORD`` (usually ``dicom:PatientID``): the DICOM attribute of each file;
- ``csv:COLUMN``: a column of the DICOM folder's labels CSV;
- ``folder``: the layout ``class/patient/image.png`` (the folder under each class folder;
  the same patient folder name under two classes is one patient with mixed labels);
- an entity file (``entity_file``, for ``.npz`` sources): ``.npy`` or one-column ``.csv``
  with one id per image, for the training images then the validation images, in file
  order (MedMNIST has no patient ids; a benchmark can declare pseudo-patients this way).

Without a choice the unit stays one image (record level). Ids are identifiers: they are
never synthesised, never written to the model directory, and only ``describe()`` (the kind
of source, never a path or an id) reaches the certificate.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from synthgen.errors import ConfigurationError, InputFileError
from synthgen.privacy.contribution import DEFAULT_MAX_RECORDS_PER_ENTITY
from synthgen.requests import IMAGE_ENTITY_FORMS as ENTITY_FORMS
from synthgen.requests import TrainRequest, check_image_entity

EntityKind = Literal["dicom", "csv", "folder", "file"]


@dataclass(frozen=True)
class EntityChoice:
    kind: EntityKind
    name: str = ""  # the DICOM keyword or CSV column; empty for folder and file
    path: Path | None = None  # the entity file (private: never shipped)

    def describe(self) -> str:
        """The id source as the certificate states it: public words, no path."""
        if self.kind == "file":
            return "entity file (one patient id per image)"
        return self.kind if self.kind == "folder" else f"{self.kind}:{self.name}"


def parse_entity(entity: str | None, entity_file: Path | None) -> EntityChoice | None:
    """``--entity`` and ``--entity-file`` of an image run as one choice (None: record level)."""
    if entity is not None and entity_file is not None:
        raise ConfigurationError("give --entity or --entity-file, not both")
    if entity_file is not None:
        return EntityChoice("file", path=Path(entity_file))
    if entity is None:
        return None
    try:
        text = check_image_entity(entity)
    except ValueError:
        raise ConfigurationError(
            f"--entity for images must be {ENTITY_FORMS}, got {entity!r} "
            "(an .npz source takes --entity-file)"
        ) from None
    if text == "folder":
        return EntityChoice("folder")
    kind, _, name = text.partition(":")
    return EntityChoice(kind, name=name)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PatientOptions:
    """A patient-level run's choices (``synthgen.privacy.contribution``): where the ids come
    from, the cap on images per patient, and the declared public number of patients."""

    entity: EntityChoice
    max_records: int
    public_count: int | None


def patient_options(request: TrainRequest) -> PatientOptions | None:
    entity = parse_entity(request.entity, request.entity_file)
    if entity is None:
        if request.max_records_per_entity is not None or request.public_entity_count is not None:
            raise ConfigurationError(
                "--max-records-per-entity and --public-entity-count need a patient id source "
                "(--entity dicom:PatientID | csv:COLUMN | folder, or --entity-file)"
            )
        return None
    return PatientOptions(
        entity,
        request.max_records_per_entity or DEFAULT_MAX_RECORDS_PER_ENTITY,
        request.public_entity_count,
    )


def require_kind(choice: EntityChoice | None, allowed: tuple[str, ...], source: str) -> None:
    if choice is not None and choice.kind not in allowed:
        forms = {"dicom": "dicom:KEYWORD", "csv": "csv:COLUMN", "folder": "folder"}
        given = "--entity-file" if choice.kind == "file" else f"--entity {choice.describe()}"
        wanted = " or ".join(forms.get(k, "--entity-file") for k in allowed)
        raise ConfigurationError(f"{given} does not apply to {source}; use {wanted}")


def read_entity_file(path: Path, n_images: int) -> np.ndarray:
    """One id per image from ``.npy`` (any 1-D array) or ``.csv`` (one column, a header)."""
    try:
        if path.suffix.lower() == ".npy":
            ids = np.load(path, allow_pickle=False).reshape(-1).astype(str)
        elif path.suffix.lower() == ".csv":
            rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
            ids = np.array([row[0].strip() for row in rows[1:] if row], dtype=str)
        else:
            raise InputFileError(f"{path}: an entity file is .npy or .csv")
    except FileNotFoundError as exc:
        raise InputFileError(f"entity file not found: {path}") from exc
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(
            f"{path} is not a readable entity file ({type(exc).__name__})"
        ) from exc
    if len(ids) != n_images:
        raise InputFileError(
            f"{path}: expected one patient id per training and validation image, "
            f"got {len(ids)} ids for {n_images} images"
        )
    if (np.char.str_len(ids) == 0).any():
        raise InputFileError(f"{path}: every image needs a patient id (an empty id was found)")
    return ids


def csv_column_by_row(csv_path: Path, column: str) -> dict[int, str]:
    """``column`` of a labels CSV, by row number (as ``loaders.read_labels_csv`` counts)."""
    delimiter = "\t" if csv_path.suffix.lower() == ".tsv" else ","
    text = csv_path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    names = {h.strip(): h for h in reader.fieldnames or []}
    if column not in names:
        raise InputFileError(f"{csv_path.name}: no column {column!r} (--entity csv:{column})")
    ids: dict[int, str] = {}
    for row in reader:
        ids[reader.line_num] = (row.get(names[column]) or "").strip()
    return ids
