"""The image spec: the image equivalent of a table schema.

It fixes what the model generates (size, channels) and the class list the model is
conditioned on. Like a schema it is public metadata: it is written to the model directory
(``spec.json``) and shipped with releases, so it must not be computed from the images
beyond what the steward declares. Where a class list is read from the data (labels of a
labels CSV or of an ``.npz`` without a declaration), ``classes_declared`` is false: training
releases it with DP partition selection (``class_selection.py``) and ``notes`` says how.
What is still read from the data without noise is listed in ``assumptions``; the
certificate names each one as accepted by the steward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synthgen.errors import ConfigurationError, SamplingError

SUPPORTED_SIZES = (28, 32, 64, 128)


@dataclass(frozen=True)
class ImageSpec:
    image_size: int  # height = width of the model's images, in pixels
    channels: int  # 1 (grayscale) or 3 (RGB)
    class_names: tuple[str, ...]  # index i is the model's label i
    source_format: str = ""  # "medmnist-npz", "npz", "folder", "dicom"
    classes_declared: bool = False  # class list from public metadata, not from the data
    notes: tuple[str, ...] = field(default_factory=tuple)  # where each value came from
    # values read from the data without noise or declaration (the certificate names them)
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.image_size not in SUPPORTED_SIZES:
            raise ConfigurationError(
                f"image size {self.image_size} is not supported (choose one of {SUPPORTED_SIZES})"
            )
        if self.channels not in (1, 3):
            raise ConfigurationError(f"images must have 1 or 3 channels, got {self.channels}")
        if len(self.class_names) < 1:
            raise ConfigurationError("an image spec needs at least one class")
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigurationError("class names must be unique")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image as stored (MedMNIST layout): [H, W] or [H, W, C]."""
        s = self.image_size
        return (s, s) if self.channels == 1 else (s, s, self.channels)

    def label_of(self, name: str | int) -> int:
        """Model label of a class given by name (or by index written as text)."""
        key = str(name)
        if key in self.class_names:
            return self.class_names.index(key)
        raise SamplingError(
            f"unknown class {key!r}; this model's classes are {', '.join(self.class_names)}"
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "image_size": self.image_size,
            "channels": self.channels,
            "class_names": list(self.class_names),
            "source_format": self.source_format,
            "classes_declared": self.classes_declared,
            "notes": list(self.notes),
            "assumptions": list(self.assumptions),
        }

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> ImageSpec:
        return cls(
            image_size=int(d["image_size"]),
            channels=int(d["channels"]),
            class_names=tuple(str(c) for c in d["class_names"]),
            source_format=str(d.get("source_format", "")),
            classes_declared=bool(d.get("classes_declared", False)),
            notes=tuple(d.get("notes", ())),
            assumptions=tuple(d.get("assumptions", ())),
        )
