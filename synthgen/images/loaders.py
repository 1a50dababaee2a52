"""Reading image sources: MedMNIST .npz files, PNG/JPEG class folders, DICOM + labels CSV.

Every loader returns a :class:`LoadedSource` whose images are already at the model size.
A file that cannot be read is skipped and reported by name in ``problems`` (never its
pixel values); only a source with nothing usable left is an error. Per-image operations
(DICOM rescale and windowing, centre crop, resize) use only that image, so they are part
of the per-example computation DP-SGD protects; nothing is estimated across images.

What the spec takes from where (the spec is shipped, so none of it may be an exact function
of the records):
- **channels and size** are declared (the ``channels`` / ``image_size`` options) or follow a
  fixed rule: folders and DICOM are 1 channel at 28 px, and every image of another mode is
  converted. One colour file therefore changes nothing but its own pixels. A plain
  ``.npz`` has one array shape for all its images; without a declaration the spec takes
  it, and ``assumptions`` says so (the certificate names it);
- **the class list** is declared (the ``classes`` option, the class folder names of a
  PNG/JPEG folder, MedMNIST's published class count), or it is a list of *candidates*
  found in the labels (``classes_declared`` false) that training releases with DP
  partition selection (``class_selection.py``) before anything else sees it.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import ConfigurationError, InputFileError, InsufficientData
from synthgen.images.data import ImageSet
from synthgen.images.entities import (
    EntityChoice,
    csv_column_by_row,
    read_entity_file,
    require_kind,
)
from synthgen.images.spec import SUPPORTED_SIZES, ImageSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_SUFFIXES = (".dcm", ".dicom", "")
LABEL_CSV_NAMES = ("labels.csv", "labels.tsv")
FILE_COLUMNS = ("file", "filename", "file_name", "path", "image", "dicom")
LABEL_COLUMNS = ("label", "class", "target", "diagnosis")

# Public metadata of the MedMNIST v2/v3 2D datasets (Yang et al. 2023, Table 1): number of
# classes of each multi-class task. Multi-label ChestMNIST is not supported.
MEDMNIST_CLASSES = {
    "pathmnist": 9,
    "dermamnist": 7,
    "octmnist": 4,
    "pneumoniamnist": 2,
    "retinamnist": 5,
    "breastmnist": 2,
    "bloodmnist": 8,
    "tissuemnist": 8,
    "organamnist": 11,
    "organcmnist": 11,
    "organsmnist": 11,
}
MEDMNIST_RGB = ("pathmnist", "dermamnist", "retinamnist", "bloodmnist")  # the rest: grayscale
DEFAULT_SIZE = 28  # folders and DICOM, unless declared
DEFAULT_CHANNELS = 1  # folders and DICOM, unless declared: medical images are mostly grayscale

Classes = int | tuple[str, ...] | None  # declared class count (.npz only) or class names


@dataclass
class LoadedSource:
    spec: ImageSpec
    train: ImageSet  # the training pool (a holdout may still be split off it)
    holdout: ImageSet | None = None  # the official validation split, where the source has one
    test: ImageSet | None = None  # the official test split, where the source has one
    problems: list[str] = field(default_factory=list)  # "file: reason" per skipped file

    @property
    def assumptions(self) -> list[str]:
        """What the spec read from the data without noise and without a declaration: the
        steward accepts each as public, and the certificate names it."""
        return list(self.spec.assumptions)

    @property
    def has_official_split(self) -> bool:
        return self.holdout is not None or self.test is not None


def load_image_source(
    path: str | Path,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    labels_csv: str | Path | None = None,
    classes: Classes = None,
    entity: EntityChoice | None = None,
) -> LoadedSource:
    """Load ``path`` (an .npz, a folder of class subfolders, or a DICOM folder).

    ``image_size``, ``channels`` and ``classes`` are the steward's declarations; see the
    module docstring for what each source uses without them. ``entity``: where each
    image's patient id comes from (``synthgen.images.entities``); None: record level."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"image source not found: {p}")
    if channels is not None and channels not in (1, 3):
        raise ConfigurationError(f"channels must be 1 or 3, got {channels}")
    if p.is_file():
        if p.suffix.lower() != ".npz":
            raise InputFileError(f"{p}: expected an .npz file or a folder of images")
        require_kind(entity, ("file",), "an .npz source")
        return load_npz(p, image_size=image_size, channels=channels, classes=classes, entity=entity)
    names = _declared_names(classes, "a folder")
    csv_path = Path(labels_csv) if labels_csv else _find_labels_csv(p)
    if csv_path is not None:
        require_kind(entity, ("dicom", "csv"), "a DICOM folder")
        return load_dicom_folder(
            p,
            labels_csv=csv_path,
            image_size=image_size or DEFAULT_SIZE,
            channels=channels or DEFAULT_CHANNELS,
            classes=names,
            entity=entity,
        )
    require_kind(entity, ("folder",), "a folder of class folders")
    return load_class_folders(
        p,
        image_size=image_size or DEFAULT_SIZE,
        channels=channels or DEFAULT_CHANNELS,
        classes=names,
        patient_folders=entity is not None,
    )


def _declared_names(classes: Classes, where: str) -> tuple[str, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, int):
        raise ConfigurationError(f"classes: {where} needs the class names, not a count")
    names = tuple(str(c) for c in classes)
    if not names or len(set(names)) != len(names):
        raise ConfigurationError("classes must be a non-empty list of distinct names")
    return names


# -- .npz -----------------------------------------------------------------------------------
def _medmnist_name(path: Path) -> str | None:
    stem = re.sub(r"_(28|64|128|224)$", "", path.stem.lower())
    return stem if stem in MEDMNIST_CLASSES else None


def load_npz(
    path: Path,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    classes: Classes = None,
    entity: EntityChoice | None = None,
) -> LoadedSource:
    """MedMNIST layout (``train_images``, ``train_labels``, ``val_*``, ``test_*``) or a plain
    ``images`` / ``labels`` file (for example one written by ``synthgen sample``).

    Labels are class indices. The class list is ``classes`` (a count, or one name per
    index), else the file's own ``class_names`` key (the steward's declaration, as folder
    names are), else MedMNIST's published count for a known file, else the distinct labels
    found (candidates for DP selection)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputFileError(f"{path} is not a readable .npz file ({type(exc).__name__})") from exc
    if "train_images" in arrays:
        splits = {s: (f"{s}_images", f"{s}_labels") for s in ("train", "val", "test")}
        source_format = "medmnist-npz"
    elif "images" in arrays:
        splits = {"train": ("images", "labels")}
        source_format = "npz"
    else:
        raise InputFileError(
            f"{path}: expected keys train_images/train_labels (MedMNIST) or images/labels"
        )
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, (ik, lk) in splits.items():
        if ik not in arrays:
            continue
        if lk not in arrays:
            raise InputFileError(f"{path}: {ik} has no matching {lk}")
        images, labels = arrays[ik], arrays[lk]
        if labels.ndim == 2 and labels.shape[1] > 1:
            raise InputFileError(
                f"{path}: {lk} has {labels.shape[1]} columns (multi-label); only single-label "
                "classification sources are supported"
            )
        raw[split] = (_check_npz_images(path, ik, images), labels.reshape(-1))
    all_labels = np.concatenate([lab for _, lab in raw.values()])
    if all_labels.size == 0:
        raise InsufficientData(f"{path} holds no images")
    if not np.issubdtype(all_labels.dtype, np.integer) or all_labels.min() < 0:
        raise InputFileError(f"{path}: labels must be non-negative integers")
    name = _medmnist_name(path)
    notes: list[str] = []
    in_file = arrays.get("class_names")
    declared_by = "the classes option"
    if classes is None and in_file is not None:  # the steward's declaration, like folder names
        if in_file.dtype.kind not in "US" or in_file.size == 0:
            raise InputFileError(f"{path}: class_names must be a non-empty array of names")
        classes = tuple(str(c) for c in in_file.reshape(-1))
        declared_by = "the file's class_names key"
    if classes is not None or name is not None:
        if classes is None:
            assert name is not None
            class_names = tuple(str(i) for i in range(MEDMNIST_CLASSES[name]))
            notes.append(f"class list: MedMNIST's published classes of {name} (public)")
        else:
            class_names = (
                tuple(str(i) for i in range(classes))
                if isinstance(classes, int)
                else _declared_names(classes, "an .npz") or ()
            )
            notes.append(f"class list: declared by the steward ({declared_by})")
        if not class_names:
            raise ConfigurationError("classes must be at least 1")
        if all_labels.max() >= len(class_names):
            raise InputFileError(
                f"{path}: a label is outside the {len(class_names)} declared "
                "classes (labels are class indices 0..k-1)"
            )
        declared = True
        to_model = np.arange(len(class_names))
    else:
        found = np.unique(all_labels)
        class_names = tuple(str(int(v)) for v in found)
        to_model = np.full(int(found.max()) + 1, -1)
        to_model[found] = np.arange(len(found))
        declared = False
        notes.append(
            "class list: candidates found in the labels, to be released with DP "
            "partition selection (declare the classes option to skip it)"
        )
    first = next(iter(raw.values()))[0]
    layout_channels = 1 if first.ndim == 3 else int(first.shape[3])
    assumptions: list[str] = []
    if name is not None:
        size_match = re.search(r"_(64|128|224)$", path.stem.lower())
        published = (
            int(size_match.group(1)) if size_match else 28,
            3 if name in MEDMNIST_RGB else 1,
        )
        size, n_channels = image_size or published[0], channels or published[1]
    else:
        size, n_channels = image_size or int(first.shape[1]), channels or layout_channels
        undeclared = [
            what
            for what, given in (("image size", image_size), ("channels", channels))
            if given is None
        ]
        if undeclared:
            assumptions.append(
                f"{' and '.join(undeclared)} ({size} px, {n_channels} channel"
                f"{'s' if n_channels > 1 else ''}) read from the .npz array shape, which all "
                "its images share; not declared by the steward"
            )
    spec = ImageSpec(
        image_size=size,
        channels=n_channels,
        class_names=class_names,
        source_format=source_format,
        classes_declared=declared,
        notes=tuple(notes),
        assumptions=tuple(assumptions),
    )
    sets = {
        s: ImageSet(_resize_all(_convert_channels(im, n_channels), size), to_model[lab])
        for s, (im, lab) in raw.items()
    }
    if "train" not in sets or len(sets["train"]) == 0:
        raise InsufficientData(f"{path} has no training images")
    if entity is not None and entity.path is not None:  # pseudo-patients: train, then val
        pool = [s for s in ("train", "val") if s in sets]
        ids = read_entity_file(entity.path, sum(len(sets[s]) for s in pool))
        start = 0
        for s in pool:
            part = sets[s]
            sets[s] = ImageSet(part.images, part.labels, ids[start : start + len(part)])
            start += len(part)
    return LoadedSource(
        spec=spec, train=sets["train"], holdout=sets.get("val"), test=sets.get("test")
    )


def _convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """[N, H, W] or [N, H, W, 3] uint8 to the spec's channels: RGB to luma (ITU-R 601, as
    PIL's "L"), grayscale repeated three times; per image, nothing estimated."""
    if (images.ndim == 3) == (channels == 1):
        return images
    if channels == 1:
        luma = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.round(luma).astype(np.uint8)
    return np.repeat(images[..., None], 3, axis=3)


def _check_npz_images(path: Path, key: str, images: np.ndarray) -> np.ndarray:
    ok_shape = images.ndim == 3 or (images.ndim == 4 and images.shape[3] in (1, 3))
    if not ok_shape or images.shape[1] != images.shape[2]:
        raise InputFileError(
            f"{path}: {key} must be square images [N, H, W] or [N, H, W, 1|3], got "
            f"shape {images.shape}"
        )
    if images.dtype != np.uint8:
        raise InputFileError(f"{path}: {key} must be uint8 (0..255), got {images.dtype}")
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    return images


# -- resizing -------------------------------------------------------------------------------
def _resize_one(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize with an antialiasing filter (one image)."""
    from synthgen.extras import require

    Image = require("PIL.Image", feature="resizing images")

    h, w = image.shape[:2]
    if h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top : top + side, left : left + side]
    if image.shape[0] == size:
        return np.ascontiguousarray(image)
    pil = Image.fromarray(image)
    return np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS))


def _resize_all(images: np.ndarray, size: int) -> np.ndarray:
    if size not in SUPPORTED_SIZES:
        raise InputFileError(f"image size {size} is not supported ({SUPPORTED_SIZES})")
    if images.shape[1] == size and images.shape[2] == size:
        return images
    out = np.empty((len(images), size, size, *images.shape[3:]), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = _resize_one(image, size)
    return out


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale one image's values to 0..255 by its own range (16-bit PNG, float DICOM)."""
    if array.dtype == np.uint8:
        return array
    a = array.astype(np.float64)
    lo, hi = float(np.min(a)), float(np.max(a))
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError("non-finite pixel values")
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.round((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)


# -- PNG / JPEG class folders ---------------------------------------------------------------
def _read_picture(path: Path, channels: int) -> np.ndarray:
    from synthgen.extras import require

    Image = require("PIL.Image", feature="reading PNG/JPEG class folders")

    with Image.open(path) as im:
        im.load()
        if channels == 1:
            if im.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit or float: the image's range
                return _to_uint8(np.asarray(im))
            return np.asarray(im.convert("L"))
        return np.asarray(im.convert("RGB"))


def load_class_folders(
    root: Path,
    *,
    image_size: int = DEFAULT_SIZE,
    channels: int = DEFAULT_CHANNELS,
    classes: tuple[str, ...] | None = None,
    patient_folders: bool = False,
) -> LoadedSource:
    """One subfolder per class (its name is the class name); PNG and JPEG files inside.

    The class folders are the steward's layout, so their names are a declaration (or
    ``classes`` lists them, in model order; a folder outside it is an error). ``channels``
    is declared or 1: a file of another mode is converted, whatever the other files are.
    ``patient_folders`` (``--entity folder``): the layout is ``class/patient/image.png``
    and the patient folder's name is the image's patient id."""
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise InputFileError(
            f"{root}: expected one subfolder per class with PNG/JPEG images, or DICOM files "
            f"with a {LABEL_CSV_NAMES[0]}"
        )
    if classes is not None:
        unknown = [d.name for d in class_dirs if d.name not in classes]
        if unknown:
            raise InputFileError(
                f"{root}: folder {unknown[0]!r} is not one of the declared classes"
            )
        class_names = classes
        note = "class list: declared by the steward (classes option)"
    else:
        class_names = tuple(d.name for d in class_dirs)
        note = "class list: the names of the class folders (the steward's layout, public)"
    problems: list[str] = []
    files: list[tuple[Path, int]] = []
    for d in class_dirs:
        label = class_names.index(d.name)
        for f in sorted(d.rglob("*")):
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES:
                files.append((f, label))
    images, labels, patients = [], [], []
    for f, label in files:
        in_class = f.relative_to(root).parts[1:]
        if patient_folders and len(in_class) < 2:
            problems.append(f"{f.relative_to(root)}: not in a patient folder (class/patient/image)")
            continue
        try:
            images.append(_resize_one(_read_picture(f, channels), image_size))
            labels.append(label)
            patients.append(in_class[0])
        except Exception as exc:  # PIL raises many types for damaged files
            problems.append(f"{f.relative_to(root)}: unreadable image ({type(exc).__name__})")
    if not images:
        raise InsufficientData(
            f"{root}: no readable PNG/JPEG images in the class folders"
            + (f" ({len(problems)} unreadable)" if problems else "")
        )
    spec = ImageSpec(
        image_size=image_size,
        channels=channels,
        class_names=class_names,
        source_format="folder",
        classes_declared=True,
        notes=(note,),
    )
    entities = np.array(patients, dtype=str) if patient_folders else None
    return LoadedSource(
        spec=spec,
        train=ImageSet(np.stack(images), np.array(labels), entities),
        problems=problems,
    )


# -- DICOM + labels CSV ---------------------------------------------------------------------
def _find_labels_csv(root: Path) -> Path | None:
    for name in LABEL_CSV_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def _pick_column(
    header: Iterable[str], candidates: tuple[str, ...], what: str, csv_path: Path
) -> str:
    lowered = {h.strip().lower(): h for h in header}
    for c in candidates:
        if c in lowered:
            return lowered[c]
    raise InputFileError(f"{csv_path}: no {what} column (expected one of {', '.join(candidates)})")


def read_labels_csv(csv_path: Path) -> list[tuple[int, str, str]]:
    """(row number, file, label) of each row of a CSV with a file column and a label column
    (row numbers count the header as row 1, as a spreadsheet shows them)."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{csv_path} is not a readable CSV ({type(exc).__name__})") from exc
    delimiter = "\t" if csv_path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    if not reader.fieldnames:
        raise InputFileError(f"{csv_path} is empty")
    file_col = _pick_column(reader.fieldnames, FILE_COLUMNS, "file", csv_path)
    label_col = _pick_column(reader.fieldnames, LABEL_COLUMNS, "label", csv_path)
    rows = []
    for row in reader:
        f, lab = (row.get(file_col) or "").strip(), (row.get(label_col) or "").strip()
        if f and lab:
            rows.append((reader.line_num, f, lab))
    return rows


def _file_identity(path: Path) -> tuple[Any, ...]:
    """The same key for every name of one file (``a.dcm``, ``./a.dcm``, ``x/../a.dcm``, a
    link to it): device and inode where the file exists, else the normalised path."""
    try:
        st = path.stat()
    except OSError:
        return ("path", os.path.normpath(os.path.abspath(path)))
    return ("inode", st.st_dev, st.st_ino)


def one_row_per_file(
    root: Path, rows: list[tuple[int, str, str]], csv_name: str
) -> tuple[list[tuple[int, str, str]], list[str]]:
    """Keep the first row of each image file. The unit of privacy is one image: a file
    listed twice would be two records, two clipped gradients per step from one image,
    and the guarantee for it would silently halve. A file listed with two different labels
    is an input error; the message names the rows, never the file or the labels."""
    first: dict[tuple[Any, ...], tuple[int, str]] = {}
    kept: list[tuple[int, str, str]] = []
    notes: list[str] = []
    for row, rel, label in rows:
        key = _file_identity(root / rel)
        if key in first:
            first_row, first_label = first[key]
            if label != first_label:
                raise InputFileError(
                    f"{csv_name}: rows {first_row} and {row} list the same image file with "
                    "different labels; one image is one record and has one label"
                )
            notes.append(f"row {row}: the image file of row {first_row} again (counted once)")
            continue
        first[key] = (row, label)
        kept.append((row, rel, label))
    return kept, notes


def dicom_to_uint8(ds: Any, channels: int) -> np.ndarray:
    """Pixel data of one DICOM dataset as uint8: modality LUT (RescaleSlope/Intercept),
    then the file's VOI window (WindowCenter/Width) or, without one, the image's own range;
    MONOCHROME1 is inverted so that higher means brighter."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        raise ValueError("multi-frame DICOM is not supported")
    pixels = ds.pixel_array
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if int(getattr(ds, "SamplesPerPixel", 1)) == 3:
        rgb = _to_uint8(np.asarray(pixels))
        if channels == 3:
            return rgb
        return np.round(rgb.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    values = apply_modality_lut(pixels, ds)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        values = apply_voi_lut(values, ds)
    image = _to_uint8(np.asarray(values, dtype=np.float64))
    if photometric == "MONOCHROME1":
        image = 255 - image
    return image if channels == 1 else np.repeat(image[..., None], 3, axis=2)


def load_dicom_folder(
    root: Path,
    *,
    labels_csv: Path,
    image_size: int = DEFAULT_SIZE,
    channels: int = DEFAULT_CHANNELS,
    classes: tuple[str, ...] | None = None,
    entity: EntityChoice | None = None,
) -> LoadedSource:
    """DICOM files under ``root`` listed in ``labels_csv`` (file path relative to ``root``,
    label), one record per image file. The class list is ``classes`` (declared; rows with
    another label are skipped), else the distinct labels of the CSV as candidates for DP
    partition selection: the labels are data, not a declaration."""
    from synthgen.extras import require

    pydicom = require("pydicom", feature="reading DICOM")

    rows = read_labels_csv(labels_csv)
    if not rows:
        raise InsufficientData(f"{labels_csv} lists no (file, label) rows")
    rows, problems = one_row_per_file(root, rows, labels_csv.name)
    if classes is not None:
        class_names = classes
        problems += [
            f"row {row}: its label is not one of the declared classes"
            for row, _, lab in rows
            if lab not in classes
        ]
        rows = [r for r in rows if r[2] in classes]
        note = "class list: declared by the steward (classes option)"
    else:
        class_names = tuple(sorted({lab for _, _, lab in rows}, key=_natural_key))
        note = (
            "class list: candidates found in the labels CSV, to be released with DP "
            "partition selection (declare the classes option to skip it)"
        )
    index = {name: i for i, name in enumerate(class_names)}
    csv_ids = (
        csv_column_by_row(labels_csv, entity.name)
        if entity is not None and entity.kind == "csv"
        else {}
    )
    images, labels, patients = [], [], []
    for row, rel, lab in rows:
        f = root / rel
        try:
            if not f.is_file():
                raise FileNotFoundError
            ds = pydicom.dcmread(f)
            patient = ""
            if entity is not None:
                patient = csv_ids.get(row, "") if entity.kind == "csv" else _dicom_id(ds, entity)
                if not patient:  # an image of no known patient cannot be bounded: skipped
                    problems.append(f"row {row}: no patient id ({entity.describe()})")
                    continue
            images.append(_resize_one(dicom_to_uint8(ds, channels), image_size))
            labels.append(index[lab])
            patients.append(patient)
        except FileNotFoundError:
            problems.append(f"{rel}: listed in {labels_csv.name} but not found")
        except Exception as exc:  # pydicom raises many types for damaged or odd files
            problems.append(f"{rel}: unreadable DICOM ({type(exc).__name__})")
    if not images:
        raise InsufficientData(f"{root}: no readable DICOM images ({len(problems)} problems)")
    spec = ImageSpec(
        image_size=image_size,
        channels=channels,
        class_names=class_names,
        source_format="dicom",
        classes_declared=classes is not None,
        notes=(note,),
    )
    entities = np.array(patients, dtype=str) if entity is not None else None
    return LoadedSource(
        spec=spec,
        train=ImageSet(np.stack(images), np.array(labels), entities),
        problems=problems,
    )


def _dicom_id(ds: Any, entity: EntityChoice) -> str:
    """The patient id a DICOM attribute holds (``dicom:PatientID``), as text."""
    value = ds.get(entity.name)
    return "" if value is None else str(getattr(value, "value", value)).strip()


def _natural_key(text: str) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))
