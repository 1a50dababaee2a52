"""An image run's plan: everything fixed before DP-SGD, checkpointed, and kept on resume.

A fresh run plans in the order that keeps it private: load and split the source; N-hat
(declared, or a DP count) before anything is chosen from the data's size; the class list
(declared, or DP partition selection); the class proportions for sampling (declared, or a
DP histogram); then steps, sample rate, the class critic's share and the noise multiplier,
calibrated on what was already released.

A resumed run must be the same run (the noise multiplier, sample rate and steps were
calibrated for it), so every parameter must match, else ``ResumeMismatch`` names it; only
``RESUMABLE_CHANGES`` (hardware, not the experiment) may differ. Its accountant is rebuilt
from the spend log, so steps that ran after the last checkpoint are charged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.artifacts import file_sha256, make_private_dir
from synthgen.errors import ConfigurationError, InsufficientData, ResumeMismatch, ResumeRefused
from synthgen.images.class_selection import select_classes, unit_class_counts
from synthgen.images.config import ImageRecipe, recipe_from_json, recipe_to_json
from synthgen.images.data import ImageSet
from synthgen.images.entities import PatientOptions
from synthgen.images.spec import ImageSpec
from synthgen.images.split import LOAD_REPORT, count_patients, load_and_split, loader_assumptions
from synthgen.privacy.accountant import (
    RunAccountant,
    calibrate_noise_multiplier,
    check_privacy_parameters,
    gaussian_noise_multiplier_for,
)
from synthgen.privacy.class_shares import sampling_shares
from synthgen.privacy.mechanisms import noisy_histograms, project_to_simplex
from synthgen.privacy.record_count import estimate_record_count
from synthgen.privacy.secure_random import NoiseSource
from synthgen.privacy.spend_log import SPEND_LOG, JournaledAccountant, SpendLog, restore_accountant
from synthgen.progress import ProgressCallback, ProgressEvent
from synthgen.requests import TrainRequest

FINISHED = "finished.json"  # in the private dir once the model directory is written
# keys of the recipe that may change when a run is resumed (hardware, not the experiment)
RESUMABLE_CHANGES = (
    "device",
    "physical_rows",
    "mixed_precision",
    "checkpoint_every",
    "time_limit_minutes",
)


@dataclass
class RunPlan:
    """One run's fixed parameters, chosen before DP-SGD and checkpointed (``state.json``'s
    ``meta``, same keys) so that a resumed run is the same run. Exact counts and the
    source's identity are private: they reach the private directory only."""

    source_sha256: str
    source: str  # the source's path on the steward's machine (private)
    target_epsilon: float | None  # None: not private (epsilon = inf)
    delta: float
    max_steps: int | None
    steps: int  # planned DP-SGD steps
    seed: int
    noise_multiplier: float | None
    holdout: float  # as asked
    sample_rate: float  # batch size / N-hat
    n_train: int  # exact (private)
    n_holdout: int
    n_test: int
    holdout_fraction: float
    holdout_requested: float | str  # run.json: the fraction, or "official split"
    record_count: dict[str, Any]  # N-hat (RecordCount.to_dict)
    spec: dict[str, Any]
    recipe: dict[str, Any]
    class_proportions: list[float]
    class_proportions_info: dict[str, Any]
    skipped_files: int
    private: bool
    critic: dict[str, Any] | None  # the class critic's plan
    assumptions: list[dict[str, Any]]
    pretrained: dict[str, Any] | None = None  # init_from's provenance
    resumed_at_step: int | None = None
    stopped_at_time_limit: int | None = None  # the step at which the time limit stopped it
    # patient-level runs: the id source (public words, EntityChoice.describe), the cap on
    # images per patient, and the exact number of training patients (private)
    entity: str | None = None
    max_records_per_entity: int | None = None
    n_train_patients: int | None = None

    @property
    def n_public(self) -> int:
        return int(self.record_count["value"])


@dataclass
class PlannedRun:
    """A run ready to train, fresh or resumed: its plan, data and accountant."""

    private: Path
    source: Path
    plan: RunPlan
    recipe: ImageRecipe
    spec: ImageSpec
    train: ImageSet
    accountant: RunAccountant
    checkpoint: Path | None  # the checkpoint a resumed run continues from


def plan_fresh_run(
    request: TrainRequest,
    *,
    recipe: ImageRecipe,
    private: Path,
    patients: PatientOptions | None,
    progress: ProgressCallback,
) -> PlannedRun:
    source, epsilon, delta = Path(request.source), request.epsilon, request.delta
    seed, holdout, max_steps = request.seed, request.holdout, request.max_steps
    private_training = math.isfinite(epsilon)
    progress(ProgressEvent("load", 0, 0, message=source.name))
    split = load_and_split(source, recipe, holdout=holdout, seed=seed, patients=patients)
    train, spec = split.train, split.loaded.spec
    if len(train) < 2:
        raise InsufficientData(f"only {len(train)} training images")
    # the unit of privacy: an image, or a patient with all their images (exact, private)
    n_units = len(train) if patients is None else count_patients(train)
    if private_training and delta is not None:  # refused before anything is spent
        check_privacy_parameters(epsilon=epsilon, delta=delta, n_records=n_units)
    declared = split.declared_count(recipe, holdout, patients) if private_training else None
    cfg = recipe.training
    make_private_dir(private)
    # every mechanism is written to the spend log before its result is used
    accountant = JournaledAccountant(SpendLog(private / SPEND_LOG))
    noise = NoiseSource(secure=cfg.secure_rng)
    # N-hat first: every choice below that depends on the data's size reads it
    record_count = declared or estimate_record_count(
        n_units,
        epsilon=epsilon if private_training else math.inf,
        delta=delta,
        accountant=accountant,
        noise=noise,
        share=cfg.record_count_epsilon_share,
        purpose="number of training images" if patients is None else "number of training patients",
    )
    delta = delta if delta is not None else record_count.default_delta()
    if private_training:
        check_privacy_parameters(epsilon=epsilon, delta=delta)
    if not spec.classes_declared:  # a class list read from the data: DP partition selection
        selection = select_classes(
            spec,
            train,
            epsilon=epsilon,
            delta=delta,
            accountant=accountant,
            noise=noise,
            epsilon_share=cfg.class_selection_epsilon_share,
            private=private_training,
            max_records_per_entity=patients.max_records if patients else None,
        )
        split.keep_classes(selection)
        spec, train = selection.spec, split.train
    split.save(private, source)
    proportions, proportions_info = class_proportions(
        train,
        spec,
        recipe,
        epsilon=epsilon,
        delta=delta,
        accountant=accountant,
        noise=noise,
        private_training=private_training,
    )
    steps = min(cfg.steps, max_steps) if max_steps is not None else cfg.steps
    sample_rate = min(1.0, cfg.batch_size / record_count.value)
    if private_training:
        progress(ProgressEvent("calibrate", 0, 0))
    critic = None
    # the class critic trains on images one by one (record level): not in a patient run
    if cfg.critic_epsilon_share > 0 and spec.num_classes >= 2 and patients is None:
        from synthgen.images.class_critic import plan_critic

        critic = plan_critic(
            epsilon_share=cfg.critic_epsilon_share,
            epsilon=epsilon,
            delta=delta,
            n_train=record_count.value,
            steps=cfg.critic_steps,
            batch_size=cfg.critic_batch_size,
            private=private_training,
        )
    sigma = None
    if private_training:
        sigma = calibrate_noise_multiplier(
            target_epsilon=epsilon,
            delta=accountant.rdp_delta(delta),
            sample_rate=sample_rate,
            steps=steps,
            prior_history=[*accountant.release_history, *(critic.history() if critic else [])],
        )
    plan = RunPlan(
        source_sha256=file_sha256(source),
        source=str(source.resolve()),
        target_epsilon=epsilon if private_training else None,
        delta=delta,
        max_steps=max_steps,
        steps=steps,
        seed=seed,
        noise_multiplier=sigma,
        holdout=holdout,
        sample_rate=sample_rate,
        n_train=len(train),
        n_holdout=len(split.hold) if split.hold else 0,
        n_test=len(split.test) if split.test is not None else 0,
        holdout_fraction=split.holdout_fraction,
        holdout_requested="official split" if split.official else holdout,
        record_count=record_count.to_dict(),
        spec=spec.to_json_dict(),
        recipe=recipe_to_json(recipe),
        class_proportions=proportions,
        class_proportions_info=proportions_info,
        skipped_files=len(split.loaded.problems),
        private=private_training,
        critic=critic.to_json_dict() if critic else None,
        assumptions=loader_assumptions(split.loaded),
        entity=patients.entity.describe() if patients else None,
        max_records_per_entity=patients.max_records if patients else None,
        n_train_patients=n_units if patients else None,
    )
    if split.loaded.problems:
        # progress events can reach the service's job status: no count, no file name
        message = (
            f"some files could not be read and were skipped: see {LOAD_REPORT} in the "
            "private directory"
        )
        progress(ProgressEvent("load", 0, 0, message=message))
    return PlannedRun(private, source, plan, recipe, spec, train, accountant, checkpoint=None)


def class_proportions(
    train: ImageSet,
    spec: ImageSpec,
    recipe: ImageRecipe,
    *,
    epsilon: float,
    delta: float,
    accountant: RunAccountant,
    noise: Any,
    private_training: bool,
) -> tuple[list[float], dict[str, Any]]:
    """Class proportions the sampler uses by default: declared, DP, or exact (not private)."""
    declared = recipe.source.class_proportions
    k = spec.num_classes
    if declared is not None:
        p = np.asarray(declared, dtype=np.float64)
        if len(p) != k or (p < 0).any() or p.sum() <= 0:
            raise ConfigurationError(f"class_proportions must be {k} non-negative numbers")
        return (p / p.sum()).tolist(), {"class_proportions_source": "declared (public)"}
    # patient-level: each image weighs 1 / (its patient's images), so one patient adds
    # weight 1 in all (sensitivity 1, as one image); a patient with images of several
    # classes splits that weight between them in proportion to their images
    counts = unit_class_counts(train, k)
    if not private_training:
        return (counts / counts.sum()).tolist(), {
            "class_proportions_source": "exact counts (NOT PRIVATE)"
        }
    sigma = gaussian_noise_multiplier_for(
        epsilon=recipe.training.class_count_epsilon_share * epsilon, delta=delta
    )
    noisy, std = noisy_histograms([counts], noise_multiplier=sigma, noise=noise)
    projected = project_to_simplex(noisy[0], total=max(float(noisy[0].sum()), 1.0))
    # post-processing: at a small budget the noise is as large as the classes, and the
    # projection alone can give one class every image (BreastMNIST at epsilon 1); shrinking
    # toward uniform by the noise share and a floor keep every class, as for tables
    shares = sampling_shares(projected, cell_noise_std=std)
    accountant.add_gaussian_release(
        name="class_counts",
        noise_multiplier=sigma,
        purpose="class proportions for default sampling",
    )
    return shares.shares.tolist(), {
        "class_proportions_source": "dp (Gaussian class histogram)",
        "class_proportions_rule": shares.describe(),
        "noise_multiplier": sigma,
        "noise_std": std,
    }


def resume_run(
    checkpoint: Path,
    request: TrainRequest,
    *,
    recipe: ImageRecipe,
    patients: PatientOptions | None,
) -> PlannedRun:
    from synthgen.images.checkpoint import read_checkpoint

    info = read_checkpoint(checkpoint)
    private, source = checkpoint.parent, Path(request.source)
    if (private / FINISHED).exists():
        raise ResumeRefused(
            "this run finished and its model directory was written; "
            "resuming it would release a second model: start a new run"
        )
    saved, wanted = info.meta["recipe"], recipe_to_json(recipe)
    _check_same_run(info.meta, request, wanted, source=source, patients=patients)
    accountant = restore_accountant(private, checkpointed=info.accountant)
    resumed_recipe = recipe_from_json(
        {
            **saved,
            "training": {
                **saved["training"],
                **{k: wanted["training"][k] for k in RESUMABLE_CHANGES},
            },
        }
    )
    plan = replace(RunPlan(**info.meta), resumed_at_step=info.step)
    return PlannedRun(
        private=private,
        source=source,
        plan=plan,
        recipe=resumed_recipe,
        spec=ImageSpec.from_json_dict(plan.spec),
        train=ImageSet.load(private / "train.npz"),
        accountant=accountant,
        checkpoint=checkpoint,
    )


def _check_same_run(
    meta: dict[str, Any],
    request: TrainRequest,
    recipe: dict[str, Any],
    *,
    source: Path,
    patients: PatientOptions | None,
) -> None:
    entity = (patients.entity.describe(), patients.max_records) if patients else (None, None)
    if (meta.get("entity"), meta.get("max_records_per_entity")) != entity:
        raise ResumeMismatch(
            "cannot resume: the patient id source (--entity, --entity-file) or "
            "--max-records-per-entity differs from the interrupted run's",
            parameter="entity",
        )
    for key, given, option in (
        ("seed", request.seed, "--seed"),
        ("holdout", request.holdout, "--holdout"),
    ):
        if key in meta and meta[key] != given:
            raise ResumeMismatch(
                f"cannot resume: {option} differs from the interrupted "
                "run's; resume with the same value",
                parameter=key,
            )
    if "record_count" not in meta:
        raise ConfigurationError(
            "this checkpoint predates the DP record count; start a new run instead of resuming it"
        )
    if meta["source_sha256"] != file_sha256(source):
        raise ResumeMismatch(
            f"{source} has changed since the interrupted run; start a new run instead",
            parameter="source",
        )
    asked = request.epsilon if math.isfinite(request.epsilon) else None
    for key, differs in (
        ("epsilon", asked != meta["target_epsilon"]),
        ("delta", request.delta is not None and request.delta != meta["delta"]),
        ("max_steps", request.max_steps != meta["max_steps"]),
    ):
        if differs:
            raise ResumeMismatch(
                "resume with the same --epsilon, --delta and --max-steps as "
                f"the interrupted run (--{key.replace('_', '-')} differs)",
                parameter=key,
            )
    for group, values in recipe.items():
        for key, value in values.items():
            if key not in RESUMABLE_CHANGES and meta["recipe"].get(group, {}).get(key) != value:
                raise ResumeMismatch(
                    f"option {key!r} differs from the interrupted run", parameter=key
                )
