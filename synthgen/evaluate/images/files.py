"""What an image validation reads, checked before any work is done.

From the model directory: ``config.json`` (modality "image"), ``spec.json`` (size,
channels, classes: public metadata), ``certificate.json`` and ``run.json``, which records
the private run directory. From there: ``train.npz`` and ``holdout.npz`` (the split the
model was trained and not trained on) and, for MedMNIST sources, ``test.npz`` (the
official test split, where utility is measured).

The synthetic file is the ``.npz`` that ``synthgen sample`` writes: ``images`` uint8
``[N, H, W]`` (grayscale) or ``[N, H, W, C]``, ``labels`` ``[N]`` or ``[N, 1]`` with the
model's class indices. Anything else is refused with a typed error that lists every
problem (``SchemaMismatch``) or names the file (``InputFileError``): shapes, dtypes,
image size and channels against the spec, labels outside the model's classes, an empty
file. Messages never quote pixel values.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.artifacts import read_provenance
from synthgen.errors import (
    ConfigurationError,
    InputFileError,
    ModelLoadError,
    PrivateDataMissing,
    SchemaMismatch,
)
from synthgen.evaluate.model_dir import (
    private_run_dir,
    read_certificate,
    read_model_json,
)
from synthgen.images.data import ImageSet
from synthgen.images.spec import ImageSpec
from synthgen.privacy.certificate import Certificate

SPEC = "spec.json"
SPLITS = ("train.npz", "holdout.npz", "test.npz")


@dataclass
class ImageModelFiles:
    model_dir: Path
    spec: ImageSpec
    certificate: Certificate
    certificate_json: dict[str, Any]
    config: dict[str, Any]
    run: dict[str, Any]
    private_dir: Path
    train: ImageSet
    holdout: ImageSet
    test: ImageSet | None


def load_image_model_files(
    model_dir: str | Path, private_dir: str | Path | None = None
) -> ImageModelFiles:
    model_dir = Path(model_dir)
    config = read_model_json(model_dir / "config.json")
    if not isinstance(config, dict) or config.get("modality") != "image":
        raise ModelLoadError(f"{model_dir} is not an image model")
    try:
        spec = ImageSpec.from_json_dict(read_model_json(model_dir / SPEC))
    except (KeyError, TypeError, ValueError, ConfigurationError) as exc:
        raise ModelLoadError(f"{model_dir / SPEC} is not a valid image spec: {exc}") from exc
    certificate, certificate_json = read_certificate(model_dir)
    run = read_model_json(model_dir / "run.json")
    private_dir = private_run_dir(model_dir, run, private_dir)
    run = {**run, **read_provenance(private_dir)}  # source identity and counts live there
    train, holdout, test = (_read_split(private_dir, name, spec) for name in SPLITS)
    if train is None or len(train) == 0:
        raise PrivateDataMissing(
            f"the private run directory {private_dir} has no training images (train.npz): the "
            "real split validation needs is gone. Restore it, or retrain to validate a new model."
        )
    if holdout is None or len(holdout) < 2:
        raise PrivateDataMissing(
            f"{private_dir} has no holdout images (holdout.npz): the model was trained without "
            "a holdout, and validation compares the synthetic images with unseen real ones"
        )
    return ImageModelFiles(
        model_dir,
        spec,
        certificate,
        certificate_json,
        config,
        run,
        private_dir,
        train,
        holdout,
        test,
    )


def _read_split(private_dir: Path, name: str, spec: ImageSpec) -> ImageSet | None:
    path = private_dir / name
    if not path.is_file():
        return None
    try:
        images = ImageSet.load(path)
    except InputFileError as exc:
        raise PrivateDataMissing(f"{path} is damaged: {exc}") from exc
    problems = _image_problems(images.images, spec) + _label_problems(
        images.labels, len(images), spec
    )
    if problems:
        raise ModelLoadError(f"{path} does not match the model's image spec: {'; '.join(problems)}")
    return ImageSet(_as_model_layout(images.images, spec), images.labels)


def read_synthetic_images(path: str | Path, spec: ImageSpec) -> ImageSet:
    """The synthetic ``.npz``, checked against the model's spec."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(
            f"{path} is a folder: image validation reads the .npz file `synthgen sample` writes "
            "(--out NAME.npz)"
        )
    if not path.is_file():
        raise InputFileError(f"synthetic file not found: {path}")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path} is empty: there is nothing to validate")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputFileError(f"{path} is a single array, not an .npz with images and labels")
        with loaded as f:
            names = set(f.files)
            missing = [k for k in ("images", "labels") if k not in names]
            if missing:
                raise SchemaMismatch(
                    f"the synthetic file {path} cannot be validated:\n  - "
                    + "\n  - ".join(f"no '{k}' array" for k in missing),
                    [
                        f"no '{k}' array (keys: {', '.join(sorted(names)) or 'none'})"
                        for k in missing
                    ],
                )
            images, labels = np.asarray(f["images"]), np.asarray(f["labels"])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path} is not a readable .npz file ({type(exc).__name__})") from exc
    problems = _image_problems(images, spec)
    n = int(images.shape[0]) if images.ndim >= 1 else 0
    problems += _label_problems(labels, n, spec)
    if problems:
        raise SchemaMismatch(
            f"the synthetic images {path} do not match the model's image spec, so they cannot "
            "be validated:\n  - " + "\n  - ".join(problems),
            problems,
        )
    if n == 0:
        raise InputFileError(f"{path} holds no images: there is nothing to validate")
    return ImageSet(_as_model_layout(images, spec), labels.reshape(-1))


def _image_problems(images: np.ndarray, spec: ImageSpec) -> list[str]:
    problems = []
    s, c = spec.image_size, spec.channels
    expected = f"[N, {s}, {s}]" if c == 1 else f"[N, {s}, {s}, {c}]"
    if images.dtype != np.uint8:
        problems.append(f"images must be uint8 (0-255), got {images.dtype}")
    if images.ndim not in (3, 4):
        problems.append(f"images must be {expected}, got an array of shape {tuple(images.shape)}")
        return problems
    channels = 1 if images.ndim == 3 else int(images.shape[3])
    if images.shape[1:3] != (s, s):
        problems.append(
            f"images are {images.shape[1]}x{images.shape[2]} pixels; this model makes {s}x{s}"
        )
    if channels != c:
        problems.append(f"images have {channels} channel(s); this model makes {c} ({expected})")
    return problems


def _label_problems(labels: np.ndarray, n: int, spec: ImageSpec) -> list[str]:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        return [f"labels must be [N] or [N, 1], got an array of shape {tuple(labels.shape)}"]
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        return [f"labels must be integer class indices, got {labels.dtype}"]
    problems = []
    if len(labels) != n:
        problems.append(f"{len(labels)} labels for {n} images")
    outside = int(((labels < 0) | (labels >= spec.num_classes)).sum())
    if outside:
        problems.append(
            f"{outside} label(s) are not classes of this model (it has {spec.num_classes}: "
            f"0 to {spec.num_classes - 1}, {', '.join(spec.class_names)})"
        )
    return problems


def _as_model_layout(images: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Grayscale as [N, H, W] (a trailing channel of 1 is dropped), as the sampler writes."""
    if spec.channels == 1 and images.ndim == 4:
        return images[..., 0]
    return images
