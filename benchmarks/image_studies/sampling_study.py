"""Re-sampling one trained model under several sampler settings, each scored on the real
test split.

Sampling is post-processing: a study spends no privacy budget, so the sampler, its step
count, where its noise schedule ends (``sigma_min``) and the guidance scale can be chosen
after training, on the same evaluation the benchmark prints (``benchmarks/images_cpu.py
--resample MODEL_DIR``). It reads the model's private folder (real splits) and so runs
inside the private area, like the benchmark.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthgen.errors import ConfigurationError


@dataclass(frozen=True)
class SamplingVariant:
    """One sampler setting; None keeps the model's own."""

    sampler: str | None = None
    steps: int | None = None
    sigma_min: float | None = None
    guidance_scale: float | None = None
    candidates: int | None = None  # draws per kept image (models with a class critic)
    critic_guidance: float | None = None  # the class critic's guidance scale
    critic_max_step: float | None = None  # the bound on each critic guidance step

    @classmethod
    def parse(cls, text: str) -> SamplingVariant:
        """``"sampler=euler,steps=20,sigma_min=0.05,guidance_scale=1.5,candidates=1"`` (any subset;
        ``"model"`` or an empty string for the model's own settings)."""
        if text.strip() in ("", "model"):
            return cls()
        casts: dict[str, Callable[[str], Any]] = {
            "sampler": str, "steps": int, "sigma_min": float, "guidance_scale": float,
            "candidates": int, "critic_guidance": float, "critic_max_step": float}
        values: dict[str, Any] = {}
        for part in text.split(","):
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in casts:
                raise ConfigurationError(
                    f"sampling variant {text!r}: expected KEY=VALUE with KEY one of {sorted(casts)}")
            try:
                values[key] = casts[key](raw.strip())
            except ValueError as exc:
                raise ConfigurationError(f"sampling variant {text!r}: {key}: {exc}") from exc
        if values.get("sigma_min") is not None and values["sigma_min"] <= 0:
            raise ConfigurationError(f"sampling variant {text!r}: sigma_min must be > 0")
        if "sampler" in values:  # refused now, not after the variants before it have run
            from synthgen.errors import SamplingError
            from synthgen.images.samplers import get_sampler

            try:
                get_sampler(values["sampler"])
            except SamplingError as exc:
                raise ConfigurationError(f"sampling variant {text!r}: {exc}") from exc
        return cls(**values)

    @property
    def label(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                 if getattr(self, f.name) is not None]
        return ",".join(parts) or "model"


def study_sampling(model_dir: str | Path, variants: list[SamplingVariant], *, images: int,
                   classifier_steps: int = 600, classifier_repeats: int = 3, seed: int = 0,
                   log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per variant: the settings used, the seconds spent sampling, TSTR ROC AUC and
    accuracy, the Frechet classifier distance, precision and recall, and a digest of the
    images (same settings and seed, same images)."""
    from benchmarks.image_studies.measure import evaluate_synthetic, headline, study_options
    from synthgen.evaluate.images.fidelity import (
        FrechetClassifierDistance,
        ImagePrecision,
        ImageRecall,
    )
    from synthgen.evaluate.images.utility import TrainSyntheticTestRealImages
    from synthgen.images.data import ImageSet
    from synthgen.images.sample import ImageModel

    model_dir = Path(model_dir)
    model = ImageModel.load(model_dir)
    own_cfg = model.denoiser.cfg
    # the benchmark's protocol; the TRTR reference is the feature CNN alone, trained once
    options = dataclasses.replace(
        study_options(classifier_steps=classifier_steps, networks=classifier_repeats), trtr_networks=1)
    feature_classifier = None
    metrics = [TrainSyntheticTestRealImages(), FrechetClassifierDistance(), ImagePrecision(),
               ImageRecall()]
    counts = model.counts_for(images, None)
    rows = []
    for variant in variants:
        model.denoiser.cfg = (own_cfg if variant.sigma_min is None
                              else dataclasses.replace(own_cfg, sigma_min=variant.sigma_min))
        started = time.perf_counter()
        synthetic, labels = model.sample(counts, seed=seed, candidates=variant.candidates,
                                         sampler=variant.sampler, steps=variant.steps,
                                         guidance_scale=variant.guidance_scale,
                                         critic_guidance=variant.critic_guidance,
                                         critic_max_step=variant.critic_max_step)
        seconds = time.perf_counter() - started
        evaluated = evaluate_synthetic(model_dir, ImageSet(synthetic, labels), options=options,
                                       seed=seed, metrics=metrics, feature_classifier=feature_classifier)
        feature_classifier = evaluated["feature_classifier"]
        scores = headline(evaluated["metrics"])
        row = {"variant": variant.label, "sampling_seconds": seconds,
               "sigma_min": model.denoiser.cfg.sigma_min,
               "images_sha256": hashlib.sha256(synthetic.tobytes()).hexdigest()[:16]}
        for name in ("tstr_roc_auc", "tstr_accuracy", "frechet_classifier_distance",
                     "precision", "recall"):
            row[name] = scores[name]
        log(format_study_row(row))
        rows.append(row)
    model.denoiser.cfg = own_cfg
    return rows


def format_study_row(row: dict[str, Any]) -> str:
    def num(key: str) -> str:
        v = row.get(key)
        return "n/a" if v is None else f"{v:.3f}"

    return (f"{row['variant']:<52} TSTR AUC {num('tstr_roc_auc')}  acc {num('tstr_accuracy')}  "
            f"FD {num('frechet_classifier_distance')}  P {num('precision')}  R {num('recall')}  "
            f"({row['sampling_seconds']:.1f} s)")
