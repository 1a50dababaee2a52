"""Modality-independent entry points: train a model on a source, sample from a model.

The CLI and the service's workers call these; each dispatches to the tabular or image
implementation by the source's file type (or an explicit ``modality``) and, for sampling,
by the ``modality`` recorded in the model directory's ``config.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, cast

from synthgen.errors import ConfigurationError, InputFileError, ModelLoadError

Modality = Literal["tabular", "image"]
IMAGE_SUFFIXES = (".npz",)


def detect_modality(source: str | Path) -> Modality:
    """Tables are CSV/Parquet files; images are .npz files or folders (PNG/JPEG per class,
    or DICOM with a labels CSV)."""
    p = Path(source)
    if p.is_dir() or p.name.lower().endswith(IMAGE_SUFFIXES):
        return "image"
    return "tabular"


def model_modality(model_dir: str | Path) -> Modality:
    config_path = Path(model_dir) / "config.json"
    if not Path(model_dir).is_dir():
        raise ModelLoadError(f"model directory not found: {model_dir}")
    try:
        modality = json.loads(config_path.read_text())["modality"]
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{model_dir} is not a synthgen model (no config.json)") from exc
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(f"{config_path} is damaged: {exc}") from exc
    if modality not in ("tabular", "image"):
        raise ModelLoadError(f"{config_path}: unknown modality {modality!r}")
    return cast(Modality, modality)


def train(source: str | Path, *, modality: Modality | None = None, **kwargs: Any) -> Any:
    """Train a DP model on ``source``; keyword arguments go to the modality's trainer
    (``synthgen.tabular.train.train_tabular`` or ``synthgen.images.train.train_images``)."""
    modality = modality or detect_modality(source)
    if modality == "tabular":
        from synthgen.tabular.train import train_tabular

        return train_tabular(source, **kwargs)
    if modality == "image":
        from synthgen.images.train import train_images

        return train_images(source, **kwargs)
    raise InputFileError(f"unknown modality {modality!r}")


def sample(model_dir: str | Path, **kwargs: Any) -> Any:
    """Sample from a trained model (post-processing: no privacy budget is spent)."""
    if model_modality(model_dir) == "tabular":
        from synthgen.tabular.sample import sample_tabular

        if kwargs.pop("sampler", None) is not None:
            raise ConfigurationError("--sampler applies to image models")
        for option in ("candidates", "critic_guidance"):
            if kwargs.pop(option, None) is not None:
                raise ConfigurationError(f"--{option.replace('_', '-')} applies to image models")
        return sample_tabular(model_dir, **kwargs)
    kwargs.pop("spreadsheet_safe", None)  # images have no CSV
    from synthgen.images.sample import sample_images

    return sample_images(model_dir, **kwargs)
