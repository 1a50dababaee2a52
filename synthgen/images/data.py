"""Image sets in MedMNIST layout, splits, and conversions to the model's range.

An :class:`ImageSet` holds uint8 images, ``[N, H, W]`` (grayscale) or ``[N, H, W, C]``,
and integer labels ``[N]``; on disk it is an ``.npz`` with keys ``images`` and ``labels``
(``[N, 1]``), like MedMNIST. The model sees ``[N, C, H, W]`` floats in [-1, 1]; the mapping
is fixed (x / 127.5 - 1), never estimated from the data.

Patient-level runs (``synthgen.images.entities``) also carry ``entities``: the patient id
of each image, as text. Ids are private: they go to the private directory's
``train.npz`` (for a resumed run) and nowhere else.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthgen.errors import InputFileError

if TYPE_CHECKING:
    import torch


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, H, W] or [N, H, W, C]
    labels: np.ndarray  # int64 [N], model labels 0..num_classes-1
    entities: np.ndarray | None = None  # str [N]: each image's patient id (private)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels).reshape(-1).astype(np.int64)
        if self.entities is not None:
            self.entities = np.asarray(self.entities).reshape(-1).astype(str)
            if len(self.entities) != len(self.labels):
                raise InputFileError(
                    f"expected one patient id per image, got {len(self.entities)} ids for "
                    f"{len(self.labels)} images"
                )
        if self.images.dtype != np.uint8:
            raise InputFileError(f"images must be uint8, got {self.images.dtype}")
        if self.images.ndim not in (3, 4) or len(self.images) != len(self.labels):
            raise InputFileError(
                f"expected images [N, H, W] or [N, H, W, C] and N labels, got "
                f"{self.images.shape} and {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else int(self.images.shape[-1])

    def subset(self, index: np.ndarray) -> ImageSet:
        entities = self.entities[index] if self.entities is not None else None
        return ImageSet(self.images[index], self.labels[index], entities)

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)[:num_classes]

    def save(self, path: Path) -> None:
        save_npz(path, self.images, self.labels, entities=self.entities)

    @classmethod
    def load(cls, path: Path) -> ImageSet:
        try:
            with np.load(path, allow_pickle=False) as f:
                entities = np.asarray(f["entities"]) if "entities" in f.files else None
                return cls(np.asarray(f["images"]), np.asarray(f["labels"]), entities)
        except FileNotFoundError as exc:
            raise InputFileError(f"file not found: {path}") from exc
        except (KeyError, ValueError, OSError) as exc:
            raise InputFileError(f"{path} is not an image set (.npz with images, labels)") from exc


def save_npz(
    path: Path, images: np.ndarray, labels: np.ndarray, *, entities: np.ndarray | None = None
) -> None:
    """Write ``images`` and ``labels`` ([N, 1], MedMNIST layout) atomically; ``entities``
    (patient ids) only into the private directory's files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels).reshape(-1, 1)
    label_dtype = np.uint8 if labels.size == 0 or labels.max() < 256 else np.int64
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp.npz")
    try:
        arrays = {"images": images, "labels": labels.astype(label_dtype)}
        if entities is not None:
            arrays["entities"] = np.asarray(entities, dtype=str)
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def to_model_range(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W(, C)] -> float32 [N, C, H, W] in [-1, 1]."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x.contiguous() / 127.5 - 1.0


def from_model_range(x: torch.Tensor) -> np.ndarray:
    """float [N, C, H, W] in [-1, 1] -> uint8 [N, H, W] (C = 1) or [N, H, W, C]."""
    import torch

    pixels = ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    if pixels.shape[1] == 1:
        return pixels[:, 0].numpy()
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()
