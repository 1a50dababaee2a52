"""What every image metric shares: the real-data bundle and the result type."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from synthgen.errors import InsufficientData
from synthgen.images.data import ImageSet


@dataclass
class RealImages:
    """The real side of a comparison (from the private run directory)."""

    train: ImageSet
    holdout: ImageSet | None = None
    test: ImageSet | None = None
    num_classes: int = 2
    seed: int = 0  # seeds every classifier trained for the metrics
    classifier_steps: int = 1200  # training steps of the feature classifier
    classifier_width: int = 16  # its base width
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_private_dir(cls, private_dir: str | Path, *, num_classes: int | None = None,
                         seed: int = 0) -> RealImages:
        p = Path(private_dir)
        train = ImageSet.load(p / "train.npz")
        holdout = ImageSet.load(p / "holdout.npz") if (p / "holdout.npz").exists() else None
        test = ImageSet.load(p / "test.npz") if (p / "test.npz").exists() else None
        k = num_classes or int(max(s.labels.max() for s in (train, holdout, test) if s) + 1)
        return cls(train=train, holdout=holdout, test=test, num_classes=k, seed=seed)

    @property
    def evaluation_set(self) -> ImageSet:
        """Where utility is measured: the official test split, else the holdout."""
        chosen = self.test if self.test is not None else self.holdout
        if chosen is None or len(chosen) == 0:
            raise InsufficientData("utility metrics need a test split or a holdout")
        return chosen

    def feature_classifier(self) -> Any:
        """The CNN trained on the real training images (cached): the TRTR reference and the
        feature space of the Frechet distance and the k-NN metrics."""
        if "classifier" not in self._cache:
            from synthgen.images.metrics.classifier import train_classifier

            self._cache["classifier"] = train_classifier(
                self.train, num_classes=self.num_classes, seed=self.seed,
                steps=self.classifier_steps, width=self.classifier_width)
        return self._cache["classifier"]


@dataclass
class MetricResult:
    name: str
    value: float
    higher_is_better: bool | None  # None: a check (see ``passed``) or a reference value
    details: dict[str, Any] = field(default_factory=dict)
    passed: bool | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "higher_is_better": self.higher_is_better,
                "passed": self.passed, "details": self.details}


class ImageMetric(ABC):
    """A metric: a name, a direction, bounds, and ``compute(real, synthetic)``."""

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool | None] = True
    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)

    @abstractmethod
    def compute(self, real: RealImages, synthetic: ImageSet) -> list[MetricResult]: ...
