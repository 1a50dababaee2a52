"""Choosing the utility protocol on the real holdout, not on the test split.

The TSTR number depends on the downstream recipe as well as on the synthetic images: the
classifier's augmentation and regularisation, its training length, and the class mix of the
synthetic training set. Those are choices of the protocol, made once per modality; a study
makes them on the holdout (the official validation split, never seen in training) and prints
the test split only as the figure that will be reported. The TRTR reference is run under the
same recipe, so a recipe that helps only the synthetic side shows up as such.

Like the sampling study, this reads the model's private folder and runs inside the private
area (``benchmarks/images_cpu.py --utility-study MODEL_DIR``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import ConfigurationError, InsufficientData
from synthgen.images.data import ImageSet

CLASS_MIXES = ("model", "balanced")


@dataclass(frozen=True)
class DownstreamRecipe:
    """How the downstream CNNs train, the same on both sides: ``shift`` pixels of random
    translation, ``label_smoothing``, Gaussian ``pixel_noise`` (model range) and a fixed
    ``input_blur`` (pixels) in front of the network (``train_classifier``'s options)."""

    shift: int = 0
    label_smoothing: float = 0.0
    pixel_noise: float = 0.0
    input_blur: float = 0.0


# Random translation of up to 2 px while the CNNs train, on both sides. Chosen on the holdout
# (official validation split), not the test split, by ``benchmarks/images_cpu.py
# --utility-study`` on the 2026-12-03 benchmark model (2 seeds x 3 CNNs): TSTR AUC 0.716 ->
# 0.738, TRTR 0.950 -> 0.978; balanced synthetic classes changed nothing (0.718). A second
# study (label smoothing, pixel noise, input blur, half or double the steps) found nothing
# that passed the same rule (docs/research/2026-12-03-image-downstream-protocol-and-class-signal.md). The benchmark's
# metrics train with it (``measure.study_options``).
DOWNSTREAM_RECIPE = DownstreamRecipe(shift=2)


@dataclass(frozen=True)
class UtilityProtocol:
    """A downstream recipe (``DownstreamRecipe``: shift, label smoothing, pixel noise, input
    blur), the CNNs' training ``steps`` (None: the study's), and the synthetic class mix
    (``model``: the model's class proportions; ``balanced``: equal counts, the "augment the
    scarce class" use)."""

    recipe: DownstreamRecipe = DOWNSTREAM_RECIPE
    classes: str = "model"
    steps: int | None = None

    @classmethod
    def parse(cls, text: str) -> UtilityProtocol:
        """``"shift=0,smoothing=0.1,classes=balanced"`` (any subset of shift, smoothing,
        noise, blur, steps, classes; ``"current"`` for the metrics' own recipe)."""
        if text.strip() in ("", "current"):
            return cls()
        recipe: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for part in text.split(","):
            key, sep, raw = (s.strip() for s in part.partition("="))
            if not sep or key not in (*_RECIPE_KEYS, "steps", "classes"):
                raise ConfigurationError(
                    f"utility protocol {text!r}: expected KEY=VALUE with KEY one of "
                    f"{', '.join(_RECIPE_KEYS)}, steps, classes")
            if key == "classes" and raw not in CLASS_MIXES:
                raise ConfigurationError(
                    f"utility protocol {text!r}: classes must be one of {', '.join(CLASS_MIXES)}")
            if key in ("shift", "steps") and not (raw.isdigit() and int(raw) >= (key == "steps")):
                raise ConfigurationError(
                    f"utility protocol {text!r}: {key} must be an integer >= {int(key == 'steps')}")
            if key in _RECIPE_KEYS:
                field, upper = _RECIPE_KEYS[key]
                recipe[field] = int(raw) if key == "shift" else _number(text, key, raw, upper)
            else:
                values[key] = int(raw) if key == "steps" else raw
        return cls(recipe=replace(DOWNSTREAM_RECIPE, **recipe), **values)

    @property
    def label(self) -> str:
        parts = [f"shift={self.recipe.shift}"]
        parts += [f"{key}={getattr(self.recipe, field):g}"
                  for key, (field, _) in _RECIPE_KEYS.items()
                  if key != "shift" and getattr(self.recipe, field)]
        if self.steps is not None:
            parts.append(f"steps={self.steps}")
        return ",".join([*parts, f"classes={self.classes}"])


# protocol key -> (DownstreamRecipe field, exclusive upper bound)
_RECIPE_KEYS: dict[str, tuple[str, float | None]] = {
    "shift": ("shift", None), "smoothing": ("label_smoothing", 1.0),
    "noise": ("pixel_noise", None), "blur": ("input_blur", None)}


def _number(text: str, key: str, raw: str, upper: float | None) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0 and (upper is None or value < upper)):
        bound = f" and below {upper:g}" if upper is not None else ""
        raise ConfigurationError(f"utility protocol {text!r}: {key} must be a number >= 0{bound}")
    return value


def study_utility(model_dir: str | Path, protocols: list[UtilityProtocol], *, images: int,
                  classifier_steps: int = 600, repeats: int = 3, seeds: tuple[int, ...] = (0, 1),
                  log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per protocol: TSTR and TRTR ROC AUC on the holdout and on the test split,
    each the mean over ``seeds`` of a ``repeats``-CNN ensemble (paired: every protocol sees
    the same synthetic images per class mix and the same seeds)."""
    from synthgen.evaluate.images.files import load_image_model_files
    from synthgen.images.sample import ImageModel

    model_dir = Path(model_dir)
    model = ImageModel.load(model_dir)
    real = load_image_model_files(model_dir)
    if real.test is None or len(real.test) == 0:
        raise InsufficientData("a utility study needs both a holdout and a test split")
    k = model.spec.num_classes
    synthetic: dict[str, ImageSet] = {}
    trtr: dict[tuple[DownstreamRecipe, int], dict[str, float]] = {}
    rows = []
    for protocol in protocols:
        if protocol.classes not in synthetic:
            counts = (model.counts_for(images, None) if protocol.classes == "model"
                      else np.full(k, images // k, dtype=np.int64))
            synthetic[protocol.classes] = ImageSet(*model.sample(counts, seed=0))
        recipe, steps = protocol.recipe, protocol.steps or classifier_steps
        if (recipe, steps) not in trtr:
            trtr[recipe, steps] = _scores(real.train, real, recipe, steps, repeats, seeds)
        tstr = _scores(synthetic[protocol.classes], real, recipe, steps, repeats, seeds)
        row = {"protocol": protocol.label,
               **{f"tstr_{split}": v for split, v in tstr.items()},
               **{f"trtr_{split}": v for split, v in trtr[recipe, steps].items()}}
        log(format_utility_row(row))
        rows.append(row)
    return rows


def _scores(train: ImageSet, real: Any, recipe: DownstreamRecipe, steps: int, repeats: int,
            seeds: tuple[int, ...]) -> dict[str, float]:
    """Mean over seeds of the ensemble ROC AUC on the holdout and on the test split; the
    ensemble's CNNs are seeded ``seed * 1000 + r``."""
    from synthgen.evaluate.images.classifier import roc_auc, train_classifier

    aucs: dict[str, list[float]] = {"holdout": [], "test": []}
    for seed in seeds:
        nets = [train_classifier(train, num_classes=real.spec.num_classes, seed=seed * 1000 + r,
                                 steps=steps, **asdict(recipe)) for r in range(repeats)]
        for split, evaluation in (("holdout", real.holdout), ("test", real.test)):
            proba = np.mean([net.predict_proba(evaluation) for net in nets], axis=0)
            aucs[split].append(roc_auc(evaluation.labels, proba))
    return {split: float(np.mean(v)) for split, v in aucs.items()}


def format_utility_row(row: dict[str, Any]) -> str:
    return (f"{row['protocol']:<40} TSTR AUC holdout {row['tstr_holdout']:.3f} test "
            f"{row['tstr_test']:.3f}   TRTR AUC holdout {row['trtr_holdout']:.3f} test "
            f"{row['trtr_test']:.3f}")
