"""The source of an image run, loaded and split into train, holdout and test.

Train and holdout are the official split where asked and present, else a per-image split
(each image's side set by that image and the seed alone, ``synthgen.privacy.record_split``).
Patient-level runs keep at most ``max_records`` images per patient, chosen at random
independently of the pixels, and split by patient (each patient's side set by their id and
the seed alone): never a patient on both sides. The official validation split of an .npz
is split by image, so it joins the pool. Exact sizes are private.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthgen.artifacts import restrict_private, write_json
from synthgen.errors import ConfigurationError, InsufficientData
from synthgen.images.config import ImageRecipe
from synthgen.images.data import ImageSet
from synthgen.images.entities import PatientOptions
from synthgen.privacy.contribution import bound_contributions
from synthgen.privacy.record_count import RecordCount, declared_training_count
from synthgen.privacy.record_split import holdout_mask
from synthgen.training.log import TrainingLog

if TYPE_CHECKING:
    from synthgen.images.class_selection import ClassSelection
    from synthgen.images.loaders import LoadedSource

LOAD_REPORT = "load_report.json"


@dataclass
class SourceSplit:
    loaded: LoadedSource
    train: ImageSet
    hold: ImageSet | None
    test: ImageSet | None
    official: bool
    holdout_fraction: float

    def keep_classes(self, selection: ClassSelection) -> None:
        """Only the images of the classes DP partition selection kept, in every part."""
        train, self.hold, self.test = (
            selection.apply(p) for p in (self.train, self.hold, self.test)
        )
        assert train is not None
        if len(train) < 2:
            raise InsufficientData("fewer than 2 training images have a selected class")
        self.train = train

    def declared_count(
        self, recipe: ImageRecipe, holdout: float, patients: PatientOptions | None
    ) -> RecordCount | None:
        """N-hat from the steward's public_record_count, or a patient-level run's
        public_entity_count, checked to bound the pool; None where none is declared."""
        loaded = self.loaded
        if patients is None:
            declared, what, unit = (
                recipe.source.public_record_count,
                "public_record_count",
                "images",
            )
            pool = len(loaded.train) + (
                len(loaded.holdout) if loaded.holdout is not None and not self.official else 0
            )
        else:  # a patient-level split is never the official one
            declared, what, unit = patients.public_count, "public_entity_count", "patients"
            pool = count_patients(*(p for p in (self.train, self.hold) if p is not None))
        if declared is None:
            return None
        if pool > declared:
            raise ConfigurationError(
                f"the source has more {unit} than {what}, which must be their number or an "
                "upper bound on it"
            )
        share = 1.0 if self.official else 1.0 - holdout
        return declared_training_count(declared, training_share=share, what=what)

    def save(self, private: Path, source: Path) -> None:
        """The parts and the load report, in the private directory only (0700 / 0600)."""
        self.train.save(private / "train.npz")
        for name, part in (("holdout", self.hold), ("test", self.test)):
            path = private / f"{name}.npz"
            if part is not None:
                part.save(path)
            elif path.exists():
                path.unlink()
        write_json(
            private / LOAD_REPORT,
            {"source": str(source), "skipped_files": self.loaded.problems},
            private=True,
        )
        TrainingLog(private).start()
        restrict_private(private)


def load_and_split(
    source: Path,
    recipe: ImageRecipe,
    *,
    holdout: float,
    seed: int,
    patients: PatientOptions | None = None,
) -> SourceSplit:
    from synthgen.images.loaders import load_image_source

    opts = recipe.source
    loaded = load_image_source(
        source,
        image_size=opts.image_size,
        channels=opts.channels,
        labels_csv=opts.labels_csv,
        classes=opts.classes,
        entity=patients.entity if patients else None,
    )
    if opts.split not in ("official", "random"):
        raise ConfigurationError(f"split must be official or random, got {opts.split!r}")
    if patients is not None:
        return _patient_split(loaded, patients, holdout=holdout, seed=seed)
    official = loaded.has_official_split and opts.split == "official"
    if official and (loaded.holdout is not None or holdout == 0):
        hold = loaded.holdout if holdout > 0 else None
        fraction = (len(hold) / (len(hold) + len(loaded.train))) if hold is not None else 0.0
        return SourceSplit(loaded, loaded.train, hold, loaded.test, official, fraction)
    pool = loaded.train
    if loaded.holdout is not None:  # "random": the official val split joins the pool
        pool = ImageSet(
            np.concatenate([pool.images, loaded.holdout.images]),
            np.concatenate([pool.labels, loaded.holdout.labels]),
        )
    return _split_by_key(loaded, pool, _image_keys(pool), official, holdout=holdout, seed=seed)


def _patient_split(
    loaded: LoadedSource, patients: PatientOptions, *, holdout: float, seed: int
) -> SourceSplit:
    parts = [p for p in (loaded.train, loaded.holdout) if p is not None]
    pool = ImageSet(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.entities for p in parts]),
    )
    keys = entity_keys(pool)
    pool = pool.subset(
        np.flatnonzero(bound_contributions(keys, max_records=patients.max_records, seed=seed))
    )
    return _split_by_key(loaded, pool, entity_keys(pool), False, holdout=holdout, seed=seed)


def _split_by_key(
    loaded: LoadedSource,
    pool: ImageSet,
    keys: Iterable[bytes],
    official: bool,
    *,
    holdout: float,
    seed: int,
) -> SourceSplit:
    held = holdout_mask(keys, fraction=holdout, seed=seed)
    hold_idx = np.flatnonzero(held)
    hold = pool.subset(hold_idx) if len(hold_idx) else None
    train = pool.subset(np.flatnonzero(~held))
    return SourceSplit(loaded, train, hold, loaded.test, official, holdout)


def entity_keys(images: ImageSet) -> list[bytes]:
    """Each image's patient id as bytes (the same id, the same key)."""
    assert images.entities is not None
    return [str(v).encode() for v in images.entities]


def count_patients(*parts: ImageSet) -> int:
    return len({key for part in parts for key in entity_keys(part)})


def _image_keys(images: ImageSet) -> Iterator[bytes]:
    """One key per image for the per-record split: its pixels and its label."""
    labels = np.asarray(images.labels).reshape(len(images), -1)
    for i in range(len(images)):
        yield np.ascontiguousarray(images.images[i]).tobytes() + b"|" + labels[i].tobytes()


def loader_assumptions(loaded: Any) -> list[dict[str, Any]]:
    """What a loader read from the data without noise (class list, channels...) and reports
    in ``loaded.assumptions``: it goes onto the certificate's ``assumptions``, as the
    tables' column kinds do. Plain strings become ``{"name": ...}``."""
    found = getattr(loaded, "assumptions", None) or []
    return [dict(item) if isinstance(item, dict) else {"name": str(item)} for item in found]
