"""The prepared inputs of one image validation, shared by every image metric.

``ImageInputs`` holds the real splits (train, holdout and, for MedMNIST sources, the
official test split), the synthetic images, and caches what several metrics need: the
CNN trained on the real training images (the TRTR reference and the feature space of the
Frechet distance and the k-NN metrics), features, and nearest-neighbour searches in pixel
space. ``ImageValidationOptions`` fixes the cost in advance (never tuned on the real test
split): a BreastMNIST-sized release (546 training images, 2,000 synthetic) validates in
about a minute on two cores, most of it CNN training.

Randomness: every subset is drawn from a generator seeded with the run's seed and the
subset's name, and every CNN from the run's seed, so results do not depend on which
metrics ran before.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthgen.evaluate.metric import Metric, MetricResult
from synthgen.images.data import ImageSet
from synthgen.images.spec import ImageSpec

CNN_BATCH_SIZE = 64  # the classifier's batch size (train_classifier's default)


@dataclass(frozen=True)
class ImageValidationOptions:
    """What the image metrics cost. The CNN trains for ``cnn_epochs`` passes over its
    training images, at least ``cnn_min_steps`` and at most ``cnn_max_steps`` steps."""

    cnn_width: int = 16  # base width of the small CNN (classifier.SmallCNN)
    # random translation (pixels) of the CNNs' training images; the benchmarks use 2
    # (benchmarks/image_studies/utility_study.py chose it on the holdout)
    cnn_shift: int = 0
    cnn_epochs: float = 20.0
    cnn_min_steps: int = 100
    cnn_max_steps: int = 300
    tstr_networks: int = 3  # CNNs trained on synthetic images, probabilities averaged
    trtr_networks: int = 1  # CNNs trained on real images (the first is the feature CNN)
    max_synthetic: int = 5_000  # synthetic images measured (distances, features)
    max_reference: int = 20_000  # real images per split used as distance references
    neighbours: int = 5  # k of precision / recall / density / coverage
    grid_images_per_class: int = 8  # real and synthetic images shown per class
    grid_classes: int = 12  # classes shown in the grids (the most frequent first)
    closest_pairs: int = 8  # closest synthetic-training pairs shown
    near_copy_quantile: float = 0.05  # see synthgen.evaluate.images.copies

    def cnn_steps(self, n_images: int) -> int:
        steps = math.ceil(self.cnn_epochs * n_images / CNN_BATCH_SIZE)
        return int(min(self.cnn_max_steps, max(self.cnn_min_steps, steps)))


DEFAULT_OPTIONS = ImageValidationOptions()  # what a validation without options uses


@dataclass
class ImageInputs:
    spec: ImageSpec
    train: ImageSet
    holdout: ImageSet
    synthetic: ImageSet
    test: ImageSet | None = None  # the official test split of a MedMNIST source
    options: ImageValidationOptions = field(default_factory=ImageValidationOptions)
    seed: int = 0
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        *,
        spec: ImageSpec,
        train: ImageSet,
        holdout: ImageSet,
        synthetic: ImageSet,
        test: ImageSet | None = None,
        seed: int = 0,
        options: ImageValidationOptions | None = None,
    ) -> ImageInputs:
        return cls(spec, train, holdout, synthetic, test, options or DEFAULT_OPTIONS, seed)

    # -- basic views ------------------------------------------------------------------------
    @property
    def evaluation(self) -> ImageSet:
        """Where utility is tested: the official test split, else the holdout."""
        if self.test is not None and len(self.test):
            return self.test
        return self.holdout

    @property
    def evaluation_name(self) -> str:
        return "holdout" if self.evaluation is self.holdout else "test"

    def rng(self, purpose: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(purpose.encode())])

    # -- fixed subsets ----------------------------------------------------------------------
    def _capped(self, name: str, images: ImageSet, cap: int) -> tuple[ImageSet, np.ndarray]:
        key = ("subset", name)
        if key not in self._cache:
            index = np.arange(len(images))
            if len(images) > cap:
                index = np.sort(self.rng(name).choice(len(images), cap, replace=False))
            self._cache[key] = (images.subset(index) if len(index) < len(images) else images, index)
        subset: tuple[ImageSet, np.ndarray] = self._cache[key]
        return subset

    def measured_synthetic(self) -> tuple[ImageSet, np.ndarray]:
        """The synthetic images measured against real ones, with their indices."""
        return self._capped("synthetic", self.synthetic, self.options.max_synthetic)

    def reference(self, split: str) -> tuple[ImageSet, np.ndarray]:
        """A real split as distance reference (capped), with its indices in the split."""
        images = {"train": self.train, "holdout": self.holdout}[split]
        return self._capped(f"reference {split}", images, self.options.max_reference)

    # -- nearest neighbours in pixel space ---------------------------------------------------
    def nearest(self, query: str, reference: str) -> tuple[np.ndarray, np.ndarray]:
        """(RMS pixel distance, index into ``reference(reference)``) of each query image's
        nearest reference image. ``query`` is "synthetic" (the measured subset) or
        "holdout"; a holdout image is never its own neighbour (holdout -> holdout is not
        asked)."""
        key = ("nearest", query, reference)
        if key not in self._cache:
            queries = (
                self.measured_synthetic()[0] if query == "synthetic" else self.reference(query)[0]
            )
            self._cache[key] = nearest_neighbours(
                queries.images, self.reference(reference)[0].images
            )
        found: tuple[np.ndarray, np.ndarray] = self._cache[key]
        return found

    def exact_matches(self, reference: str) -> np.ndarray:
        """For every synthetic image (all of them), the index of a pixel-identical image in
        the real split ``reference`` ("train" or "holdout"), or -1."""
        key = ("exact", reference)
        if key not in self._cache:
            real = {"train": self.train, "holdout": self.holdout}[reference].images
            first: dict[bytes, int] = {}
            for i, image in enumerate(real):
                first.setdefault(_digest(image), i)
            out = np.full(len(self.synthetic), -1, dtype=np.int64)
            for i, image in enumerate(self.synthetic.images):
                j = first.get(_digest(image), -1)
                if j >= 0 and np.array_equal(real[j], image):
                    out[i] = j
            self._cache[key] = out
        matches: np.ndarray = self._cache[key]
        return matches

    # -- the feature CNN --------------------------------------------------------------------
    def feature_classifier(self) -> Any:
        """The small CNN trained on the real training images (cached): the first TRTR
        network and the feature space of the Frechet distance and the k-NN metrics."""
        if "classifier" not in self._cache:
            self._cache["classifier"] = self.train_cnn(self.train, seed=self.seed)
        return self._cache["classifier"]

    def train_cnn(self, images: ImageSet, *, seed: int) -> Any:
        """A CNN of the options' recipe trained on ``images`` (torch imported here)."""
        from synthgen.evaluate.images.classifier import train_classifier

        opts = self.options
        return train_classifier(
            images,
            num_classes=self.spec.num_classes,
            seed=seed,
            steps=opts.cnn_steps(len(images)),
            width=opts.cnn_width,
            shift=opts.cnn_shift,
        )

    def features(self, which: str) -> np.ndarray:
        """Penultimate-layer features of "train", "synthetic" (the measured subset) or
        "evaluation" images."""
        key = ("features", which)
        if key not in self._cache:
            images = {
                "train": self.train,
                "evaluation": self.evaluation,
                "synthetic": self.measured_synthetic()[0],
            }[which]
            self._cache[key] = self.feature_classifier().features(images)
        features: np.ndarray = self._cache[key]
        return features


def nearest_neighbours(
    queries: np.ndarray, references: np.ndarray, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query image's nearest reference image; RMS pixel distance
    with pixels in [0, 1]. The squared-norm expansion leaves rounding of about 1e-4 on
    identical images: compare bytes, not distances, to find exact copies."""
    q = queries.reshape(len(queries), -1).astype(np.float32) / 255.0
    r = references.reshape(len(references), -1).astype(np.float32) / 255.0
    rr = (r * r).sum(1)
    distance = np.empty(len(q), dtype=np.float64)
    index = np.empty(len(q), dtype=np.int64)
    for s in range(0, len(q), chunk):
        qc = q[s : s + chunk]
        d = (qc * qc).sum(1)[:, None] + rr[None, :] - 2 * qc @ r.T
        best = d.argmin(1)
        index[s : s + chunk] = best
        distance[s : s + chunk] = np.sqrt(
            np.clip(d[np.arange(len(qc)), best], 0, None) / q.shape[1]
        )
    return distance, index


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


class ImageMetric(Metric):
    """A metric on image releases: ``evaluate`` on prepared ``ImageInputs``."""

    @abstractmethod
    def evaluate(self, inputs: ImageInputs) -> MetricResult: ...
