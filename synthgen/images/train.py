"""``train_images``: a DP class-conditional diffusion model from an image source.

Order of operations (what touches real data, and how it stays private):
1. load and split the source (private dir only: ``train.npz``, ``holdout.npz``,
   ``test.npz``, ``load_report.json``);
2. class proportions for sampling: declared by the steward, or a Gaussian-noised class
   histogram paid from a small share of epsilon (recorded in the accountant);
3. noise multiplier calibrated so that the steps that will run (``--max-steps`` caps them),
   composed with step 2, stay within the requested epsilon;
4. DP-SGD (``trainer.py``), checkpointed into the private dir;
5. the class critic (``class_critic.py``): a linear head on random features, DP-SGD on its
   own share of epsilon (planned with step 3, composed in the same accountant);
6. the model directory, built in a staging folder and renamed into place: EMA weights,
   spec, DP statistics, accountant, certificate (epsilon = the accountant's, for what ran).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import platform
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from synthgen import __version__
from synthgen.artifacts import (
    ACCOUNTANT,
    CERTIFICATE,
    CONFIG,
    PREPROCESSING,
    PROVENANCE,
    RUN,
    WEIGHTS,
    TrainingResult,
    check_new_output,
    default_private_dir,
    file_sha256,
    make_private_dir,
    new_run_id,
    private_provenance,
    restrict_private,
    run_record,
    save_weights,
    staged_directory,
    utc_now,
    write_json,
)
from synthgen.errors import (
    ConfigurationError,
    InsufficientData,
    ModelLoadError,
    OutputError,
    ResumeMismatch,
    ResumeRefused,
    TrainingCancelled,
)
from synthgen.images.class_selection import unit_class_counts
from synthgen.images.config import ImageRecipe, build_recipe, recipe_from_json, recipe_to_json
from synthgen.images.data import ImageSet
from synthgen.images.entities import EntityChoice, parse_entity
from synthgen.images.spec import ImageSpec
from synthgen.privacy.accountant import (
    RunAccountant,
    calibrate_noise_multiplier,
    check_privacy_parameters,
    gaussian_noise_multiplier_for,
)
from synthgen.privacy.certificate import (
    Certificate,
    CertifiedRun,
    build_certificate,
)
from synthgen.privacy.contribution import (
    DEFAULT_MAX_RECORDS_PER_ENTITY,
    bound_contributions,
    group_records,
)
from synthgen.privacy.record_count import (
    RecordCount,
    declared_training_count,
    estimate_record_count,
)
from synthgen.privacy.record_split import holdout_mask
from synthgen.privacy.spend_log import (
    SPEND_LOG,
    JournaledAccountant,
    SpendLog,
    restore_accountant,
    steps_to_run,
)
from synthgen.progress import ProgressCallback, ProgressEvent, StopCheck, ignore_progress
from synthgen.requests import TrainRequest
from synthgen.training import distributed
from synthgen.training.log import TrainingLog

LOAD_REPORT = "load_report.json"
FINISHED = "finished.json"  # in the private dir once the model directory is written
UNIT = "one image"
# keys of the recipe that may change when a run is resumed (hardware, not the experiment)
RESUMABLE_CHANGES = (
    "device",
    "physical_rows",
    "mixed_precision",
    "checkpoint_every",
    "time_limit_minutes",
)


def train_images(
    request: TrainRequest,
    *,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainingResult:
    """Train on ``request.source`` (.npz, PNG/JPEG class folders, or DICOM + labels CSV)
    and write the model directory ``request.out``. ``epsilon=inf`` trains without DP
    (marked not private). ``request`` was validated when it was built."""
    from synthgen.training.distributed import refuse_torchrun_helper

    refuse_torchrun_helper()  # before anything is read or spent
    progress = progress or ignore_progress
    source, out, epsilon, delta = Path(request.source), request.out, request.epsilon, request.delta
    seed, max_steps, holdout, resume = (
        request.seed,
        request.max_steps,
        request.holdout,
        request.resume,
    )
    overrides, private_dir = request.config_overrides(), request.private_dir
    private_training = math.isfinite(epsilon)
    recipe = build_recipe(overrides)
    if recipe.source.public_source and private_training:
        raise ConfigurationError(
            "public_source makes a model of PUBLIC images for init_from: "
            "train it with --epsilon inf"
        )
    check_new_output(out)
    private = Path(private_dir) if private_dir is not None else default_private_dir(out)
    patients = _patient_options(request)
    if patients is not None and distributed.requested_world_size(request.processes) > 1:
        # the shards split images, not patients: one process until they split patients
        raise ConfigurationError(
            "a patient-level image run trains on one process: leave out --processes"
        )

    from synthgen.images.checkpoint import checkpoint_path

    existing = checkpoint_path(private) if private.is_dir() else None
    if resume:
        if existing is None:
            raise ModelLoadError(f"nothing to resume: no checkpoint in {private}")
        run = _Run.resumed(
            existing,
            source=source,
            epsilon=epsilon,
            delta=delta,
            max_steps=max_steps,
            recipe=recipe,
            seed=seed,
            holdout=holdout,
            patients=patients,
        )
    else:
        if existing is not None:
            raise OutputError(
                f"{private} holds the checkpoint of an interrupted run: resume it "
                "with --resume, or choose another --private-dir"
            )
        if SpendLog(private / SPEND_LOG).exists():
            # a run interrupted before its first checkpoint released something: a new run
            # here would hide it (the service charges it from this log)
            raise OutputError(
                f"{private} holds the spend log of an interrupted run; choose another --private-dir"
            )
        run = _Run.fresh(
            source,
            private=private,
            epsilon=epsilon,
            delta=delta,
            seed=seed,
            max_steps=max_steps,
            holdout=holdout,
            recipe=recipe,
            private_training=private_training,
            progress=progress,
            patients=patients,
        )
    return run.train_and_write(
        out, progress=progress, should_stop=should_stop, processes=request.processes or 1
    )


@dataclass(frozen=True)
class PatientOptions:
    """A patient-level run's choices (``synthgen.privacy.contribution``): where the ids come
    from, the cap on images per patient, and the declared public number of patients."""

    entity: EntityChoice
    max_records: int
    public_count: int | None


def _patient_options(request: TrainRequest) -> PatientOptions | None:
    entity = parse_entity(request.entity, request.entity_file)
    if entity is None:
        if request.max_records_per_entity is not None or request.public_entity_count is not None:
            raise ConfigurationError(
                "--max-records-per-entity and --public-entity-count need a patient id source "
                "(--entity dicom:PatientID | csv:COLUMN | folder, or --entity-file)"
            )
        return None
    return PatientOptions(
        entity,
        request.max_records_per_entity or DEFAULT_MAX_RECORDS_PER_ENTITY,
        request.public_entity_count,
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
class _Split:
    """The source as loaded, split into train, holdout and test (exact sizes: private)."""

    loaded: Any
    train: ImageSet
    hold: ImageSet | None
    test: ImageSet | None
    official: bool
    holdout_fraction: float

    def select_classes(
        self,
        *,
        epsilon: float,
        delta: float,
        accountant: RunAccountant,
        noise: Any,
        recipe: ImageRecipe,
        private: bool,
        max_records_per_entity: int | None = None,
    ) -> ImageSpec:
        """The classes that pass DP partition selection (``class_selection.py``; over
        patients where the images carry patient ids), applied to every part."""
        from synthgen.images.class_selection import select_classes

        selection = select_classes(
            self.loaded.spec,
            self.train,
            epsilon=epsilon,
            delta=delta,
            accountant=accountant,
            noise=noise,
            epsilon_share=recipe.training.class_selection_epsilon_share,
            private=private,
            max_records_per_entity=max_records_per_entity,
        )
        train, self.hold, self.test = (
            selection.apply(p) for p in (self.train, self.hold, self.test)
        )
        assert train is not None
        if len(train) < 2:
            raise InsufficientData("fewer than 2 training images have a selected class")
        self.train = train
        return selection.spec

    def declared_count(self, recipe: ImageRecipe, holdout: float) -> RecordCount | None:
        """N-hat from the steward's public_record_count (checked to bound the pool), if any."""
        declared, loaded = recipe.source.public_record_count, self.loaded
        if declared is None:
            return None
        pool_size = len(loaded.train) + (
            len(loaded.holdout) if loaded.holdout is not None and not self.official else 0
        )
        if pool_size > declared:
            raise ConfigurationError(
                "the source has more images than public_record_count, "
                "which must be their number or an upper bound on it"
            )
        share = 1.0 if self.official else 1.0 - holdout
        return declared_training_count(declared, training_share=share)

    def declared_patients(self, declared: int | None, holdout: float) -> RecordCount | None:
        """N-hat in patients from the steward's public_entity_count (checked to bound the
        patients of the pool), if any. A patient-level split is never the official one."""
        if declared is None:
            return None
        pool = [p for p in (self.train, self.hold) if p is not None]
        if _count_patients(*pool) > declared:
            raise ConfigurationError(
                "the source has more patients than public_entity_count, which must be "
                "their number or an upper bound on it"
            )
        return declared_training_count(
            declared, training_share=1.0 - holdout, what="public_entity_count"
        )

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


class _Run:
    """One training run: its plan (checkpointed), its data and its accountant. Built by
    ``fresh`` (load and select classes, split, count, plan) or ``resumed``; then
    ``train_and_write`` (networks, training loop, critic, certificate, model directory)."""

    def __init__(
        self,
        *,
        private: Path,
        source: Path,
        plan: RunPlan,
        recipe: ImageRecipe,
        spec: ImageSpec,
        train: ImageSet,
        accountant: RunAccountant,
        checkpoint: Path | None,
    ):
        self.private, self.source, self.plan, self.recipe = private, source, plan, recipe
        self.spec, self.train, self.accountant, self.checkpoint = (
            spec,
            train,
            accountant,
            checkpoint,
        )
        self.world_size = 1  # DP-SGD processes of the last training session

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def fresh(
        cls,
        source: Path,
        *,
        private: Path,
        epsilon: float,
        delta: float | None,
        seed: int,
        max_steps: int | None,
        holdout: float,
        recipe: ImageRecipe,
        private_training: bool,
        progress: ProgressCallback,
        patients: PatientOptions | None = None,
    ) -> _Run:
        from synthgen.privacy.secure_random import NoiseSource

        progress(ProgressEvent("load", 0, 0, message=source.name))
        split = _load_and_split(source, recipe, holdout=holdout, seed=seed, patients=patients)
        train, spec = split.train, split.loaded.spec
        if len(train) < 2:
            raise InsufficientData(f"only {len(train)} training images")
        # the unit of privacy: an image, or a patient with all their images (exact, private)
        n_units = len(train) if patients is None else _count_patients(train)
        if private_training and delta is not None:  # refused before anything is spent
            check_privacy_parameters(epsilon=epsilon, delta=delta, n_records=n_units)
        if patients is None:
            declared = split.declared_count(recipe, holdout) if private_training else None
        else:
            declared = (
                split.declared_patients(patients.public_count, holdout)
                if private_training
                else None
            )
        cfg = recipe.training
        make_private_dir(private)
        # every mechanism is written to the spend log before its result is used
        accountant = JournaledAccountant(SpendLog(private / SPEND_LOG))
        noise = NoiseSource(secure=cfg.secure_rng)
        # N-hat first: every choice below that depends on the data's size reads it
        record_count = (
            declared
            if declared is not None
            else estimate_record_count(
                n_units,
                epsilon=epsilon if private_training else math.inf,
                delta=delta,
                accountant=accountant,
                noise=noise,
                share=cfg.record_count_epsilon_share,
                purpose="number of training images"
                if patients is None
                else "number of training patients",
            )
        )
        delta = delta if delta is not None else record_count.default_delta()
        if private_training:
            check_privacy_parameters(epsilon=epsilon, delta=delta)
        if not spec.classes_declared:  # a class list read from the data: DP partition selection
            spec = split.select_classes(
                epsilon=epsilon,
                delta=delta,
                accountant=accountant,
                noise=noise,
                recipe=recipe,
                private=private_training,
                max_records_per_entity=patients.max_records if patients else None,
            )
            train = split.train
        split.save(private, source)
        # -- the plan: DP class proportions, steps, sample rate, critic, noise multiplier --
        proportions, proportions_info = _class_proportions(
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
            assumptions=_assumptions(split.loaded),
            entity=patients.entity.describe() if patients else None,
            max_records_per_entity=patients.max_records if patients else None,
            n_train_patients=n_units if patients else None,
        )
        if split.loaded.problems:
            # progress events can reach the service's job status: no count, no file name
            progress(
                ProgressEvent(
                    "load",
                    0,
                    0,
                    message=(
                        f"some files could not be read and were skipped: see {LOAD_REPORT} in the "
                        "private directory"
                    ),
                )
            )
        return cls(
            private=private,
            source=source,
            plan=plan,
            recipe=recipe,
            spec=spec,
            train=train,
            accountant=accountant,
            checkpoint=None,
        )

    @classmethod
    def resumed(
        cls,
        checkpoint: Path,
        *,
        source: Path,
        epsilon: float,
        delta: float | None,
        max_steps: int | None,
        recipe: ImageRecipe,
        seed: int,
        holdout: float,
        patients: PatientOptions | None = None,
    ) -> _Run:
        """The interrupted run, if it is the same run (else ``ResumeMismatch``) and has not
        finished; its accountant is rebuilt from the spend log, so steps that ran after the
        last checkpoint are charged."""
        from synthgen.images.checkpoint import read_checkpoint

        info = read_checkpoint(checkpoint)
        meta = info.meta
        private = checkpoint.parent
        if (private / FINISHED).exists():
            raise ResumeRefused(
                "this run finished and its model directory was written; "
                "resuming it would release a second model: start a new run"
            )
        entity = (patients.entity.describe(), patients.max_records) if patients else (None, None)
        if (meta.get("entity"), meta.get("max_records_per_entity")) != entity:
            raise ResumeMismatch(
                "cannot resume: the patient id source (--entity, --entity-file) or "
                "--max-records-per-entity differs from the interrupted run's",
                parameter="entity",
            )
        for key, given, option in (("seed", seed, "--seed"), ("holdout", holdout, "--holdout")):
            if key in meta and meta[key] != given:
                raise ResumeMismatch(
                    f"cannot resume: {option} differs from the interrupted "
                    "run's; resume with the same value",
                    parameter=key,
                )
        if "record_count" not in meta:
            raise ConfigurationError(
                "this checkpoint predates the DP record count; start a new "
                "run instead of resuming it"
            )
        if meta["source_sha256"] != file_sha256(source):
            raise ResumeMismatch(
                f"{source} has changed since the interrupted run; start a new run instead",
                parameter="source",
            )
        asked = epsilon if math.isfinite(epsilon) else None
        for key, differs in (
            ("epsilon", asked != meta["target_epsilon"]),
            ("delta", delta is not None and delta != meta["delta"]),
            ("max_steps", max_steps != meta["max_steps"]),
        ):
            if differs:
                raise ResumeMismatch(
                    "resume with the same --epsilon, --delta and --max-steps as "
                    f"the interrupted run (--{key.replace('_', '-')} differs)",
                    parameter=key,
                )
        saved = meta["recipe"]
        wanted = recipe_to_json(recipe)
        for group, values in wanted.items():
            for key, value in values.items():
                if key not in RESUMABLE_CHANGES and saved.get(group, {}).get(key) != value:
                    raise ResumeMismatch(
                        f"option {key!r} differs from the interrupted run", parameter=key
                    )
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
        plan = replace(RunPlan(**meta), resumed_at_step=info.step)
        return cls(
            private=private,
            source=source,
            plan=plan,
            recipe=resumed_recipe,
            spec=ImageSpec.from_json_dict(plan.spec),
            train=ImageSet.load(private / "train.npz"),
            accountant=accountant,
            checkpoint=checkpoint,
        )

    # -- training ----------------------------------------------------------------------------
    def train_and_write(
        self,
        out: Path,
        *,
        progress: ProgressCallback,
        should_stop: StopCheck | None,
        processes: int = 1,
    ) -> TrainingResult:
        import torch

        from synthgen.images.checkpoint import save_checkpoint
        from synthgen.images.trainer import resolve_device

        plan, cfg = self.plan, self.recipe.training
        if min(1.0, cfg.batch_size / plan.n_public) != plan.sample_rate:
            raise ConfigurationError("the sample rate differs from the run's recorded one")
        device = resolve_device(cfg.device)
        state, unet_cfg = self._build_networks(device)
        # DP-SGD steps lost with an interrupted process are charged: the run ends earlier
        end = steps_to_run(done=state.step, planned=plan.steps, spent=self.accountant.sgd_steps)
        started = time.perf_counter()
        step_seconds, timed_out = self._train_loop(
            state, device, end=end, progress=progress, should_stop=should_stop, processes=processes
        )
        save_checkpoint(self.private, state, accountant=self.accountant, meta=asdict(plan))
        if timed_out:
            # the time limit ends the run early; the model is written and its certificate
            # carries the epsilon of the steps that ran (less than the target)
            plan.stopped_at_time_limit = state.step
        elif state.step < end:
            spent = self.accountant.epsilon(plan.delta) if plan.private else math.inf
            raise TrainingCancelled(
                f"training stopped at step {state.step} of {plan.steps}; resume with --resume "
                f"(checkpoint in {self.private})",
                epsilon_spent=spent,
            )
        critic = self._train_critic(state.ema.model, progress) if plan.critic else None
        timing = {
            "training_seconds": round(time.perf_counter() - started, 2),
            "median_step_seconds": round(float(np.median(step_seconds)), 4)
            if step_seconds
            else None,
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(),
        }
        progress(ProgressEvent("save", 0, 0))
        result = self._write_model_dir(out, state, unet_cfg.to_json_dict(), timing, critic)
        write_json(self.private / FINISHED, {"model_dir_written_at": utc_now()}, private=True)
        return result

    def _build_networks(self, device: Any) -> tuple[Any, Any]:
        """The U-Net and its denoiser, seeded (or from init_from, or the checkpoint), and
        the optimizer state; a fresh run writes its first checkpoint here."""
        import torch

        from synthgen.images.checkpoint import restore_state, save_checkpoint
        from synthgen.images.edm import Denoiser
        from synthgen.images.trainer import new_state
        from synthgen.images.unet import UNet

        plan, spec = self.plan, self.spec
        torch.manual_seed(plan.seed)  # initialisation (the diffusion draws have their own)
        unet_cfg = self.recipe.unet_config(
            image_size=spec.image_size, channels=spec.channels, num_classes=spec.num_classes
        )
        net = UNet(unet_cfg)
        init_from = self.recipe.training.init_from
        if init_from and self.checkpoint is None:
            from synthgen.images.pretrained import initialise_from_pretrained

            plan.pretrained = initialise_from_pretrained(
                net, init_from, training_images=self.train.images
            )
        denoiser = Denoiser(net, self.recipe.diffusion).to(device)
        state = new_state(denoiser, self.recipe.training, seed=plan.seed)
        if self.checkpoint is not None:
            restore_state(self.checkpoint, state)
            TrainingLog(self.private).truncate(state.step)
        else:
            save_checkpoint(self.private, state, accountant=self.accountant, meta=asdict(plan))
        return state, unet_cfg

    def _train_loop(
        self,
        state: Any,
        device: Any,
        *,
        end: int,
        progress: ProgressCallback,
        should_stop: StopCheck | None,
        processes: int = 1,
    ) -> tuple[list[float], bool]:
        """DP-SGD (two phases: all weights, then the label pathway only) or, not private,
        plain training, up to step ``end``; checkpointed every ``checkpoint_every`` steps.
        Returns the step times and whether the time limit stopped it."""
        from synthgen.images.checkpoint import save_checkpoint
        from synthgen.images.trainer import (
            EpsilonTracker,
            ImageShard,
            ImageTensorDataset,
            StepRecord,
            train_nonprivate,
        )

        plan, cfg = self.plan, self.recipe.training
        tracker = (
            EpsilonTracker(
                self.accountant,
                noise_multiplier=plan.noise_multiplier,
                sample_rate=plan.sample_rate,
                delta=plan.delta,
            )
            if plan.private and plan.noise_multiplier is not None
            else None
        )
        deadline = (
            time.monotonic() + 60 * cfg.time_limit_minutes if cfg.time_limit_minutes else None
        )
        timed_out = False
        data: Any = ImageTensorDataset(self.train)
        if plan.entity is not None:  # one example per patient (synthgen.images.patients)
            from synthgen.images.patients import PatientImageDataset

            assert self.train.entities is not None, "a patient-level run keeps its ids"
            data = PatientImageDataset(self.train, group_records(_entity_keys(self.train)))
        log = TrainingLog(self.private)
        step_seconds: list[float] = []
        repeated = max(0, self.accountant.sgd_steps - state.step)  # charged, run again

        def on_step(record: StepRecord) -> bool:
            nonlocal timed_out
            eps = tracker.epsilon(record.step + repeated) if tracker is not None else math.inf
            step_seconds.append(record.seconds)
            log.write(
                {
                    "step": record.step,
                    "loss": record.loss,
                    "epsilon": eps if math.isfinite(eps) else None,
                    "lr": record.lr,
                    "seconds": round(record.seconds, 4),
                }
            )
            progress(
                ProgressEvent(
                    "train",
                    record.step,
                    plan.steps,
                    epsilon_spent=eps if math.isfinite(eps) else 0.0,
                )
            )
            if record.step % cfg.checkpoint_every == 0 and record.step < end:
                save_checkpoint(self.private, state, accountant=self.accountant, meta=asdict(plan))
            if deadline is not None and time.monotonic() > deadline and record.step < end:
                timed_out = True
                return True
            return bool(should_stop and should_stop())

        if not plan.private:
            with distributed.leader_group(processes) as world:
                if world.size > 1:  # epsilon = inf trains on rank 0 alone (a benchmark)
                    distributed.send_task(distributed.idle, ImageShard.split(data, world))
            train_nonprivate(
                state,
                data,
                cfg=cfg,
                edm=self.recipe.diffusion,
                steps=plan.steps - state.step,
                device=device,
                on_step=on_step,
            )
            return step_seconds, timed_out
        assert plan.noise_multiplier is not None
        phases = _PrivatePhases(
            cfg=cfg,
            edm=self.recipe.diffusion,
            noise_multiplier=plan.noise_multiplier,
            planned_steps=plan.steps,
            end=end,
            public_record_count=plan.n_public,
        )
        with distributed.leader_group(processes) as world:
            self.world_size = world.size
            local: Any = data
            if world.size > 1:
                if device.type != "cpu":
                    raise ConfigurationError("several processes train images on CPU only")
                helpers = _ImageHelper(
                    phases=phases,
                    denoiser=state.denoiser,
                    optimizer_state=state.optimizer.state_dict(),
                    seed=plan.seed,
                    step=state.step,
                )
                local = ImageShard(distributed.send_task(helpers, ImageShard.split(data, world)))
            phases.run(
                state,
                local,
                accountant=self.accountant,
                device=device,
                on_step=on_step,
                world_size=world.size,
            )
        return step_seconds, timed_out

    def _train_critic(self, denoiser: Any, progress: ProgressCallback) -> Any:
        """The class critic, trained after the generator. It runs in memory and only the
        model directory releases it, so a run interrupted here releases nothing of it and a
        resumed run trains it afresh; the accountant records it once it has run."""
        from synthgen.images.class_critic import CriticPlan, train_critic
        from synthgen.images.sample import ImageModel, labels_for_counts
        from synthgen.privacy.secure_random import NoiseSource

        plan = self.plan
        critic_plan = CriticPlan(**(plan.critic or {}))
        progress(ProgressEvent("critic", 0, critic_plan.steps, message="model samples"))
        model = ImageModel(
            denoiser=denoiser.eval(),
            spec=self.spec,
            config={"sampling": asdict(self.recipe.sampling)},
            class_proportions=plan.class_proportions,
        )
        counts = model.counts_for(critic_plan.feature_samples, None)
        # post-processing of the DP model: any seed; one apart from the user's sample seeds
        samples = model.generate(labels_for_counts(counts), seed=plan.seed + 7919)
        # its steps go to the run's spend log as they run (a run killed while training the
        # critic is charged for them); the finished run is recorded once, below
        critic_accountant = JournaledAccountant(
            SpendLog(self.private / SPEND_LOG),
            run="class_critic",
            max_grad_norm=critic_plan.max_grad_norm,
        )
        critic = train_critic(
            critic_plan,
            train=self.train,
            model_samples=samples,
            class_proportions=plan.class_proportions,
            accountant=critic_accountant,
            noise=NoiseSource(secure=self.recipe.training.secure_rng),
            seed=plan.seed,
            progress=lambda i, n: progress(ProgressEvent("critic", i, n)),
        )
        if critic_accountant.sgd_history:
            self.accountant.add_subsampled_run(
                name="class_critic",
                history=critic_accountant.sgd_history,
                purpose="linear class critic on random features (sample selection)",
                max_grad_norm=critic_plan.max_grad_norm,
            )
        return critic

    # -- the model directory -----------------------------------------------------------------
    def _write_model_dir(
        self, out: Path, state: Any, model_json: dict[str, Any], timing: dict[str, Any], critic: Any
    ) -> TrainingResult:
        from synthgen.images.class_critic import FEATURE_SEED, save_critic

        plan, recipe = self.plan, self.recipe
        cert = self._certificate(state.step)
        spec_json = self.spec.to_json_dict()
        run_id = new_run_id()
        # exact counts, the source's identity and the timings: private directory only
        write_json(
            self.private / PROVENANCE,
            private_provenance(
                run_id=run_id,
                source=self.source,
                n_train=plan.n_train,
                n_holdout=plan.n_holdout,
                private_dir=self.private,
                extra={
                    "modality": "image",
                    "n_test": plan.n_test,
                    "skipped_files": plan.skipped_files,
                    "holdout_fraction": plan.holdout_fraction,
                    "n_training_patients": plan.n_train_patients,
                    **timing,
                },
            ),
            private=True,
        )
        with staged_directory(out) as stage:
            write_json(
                stage / CONFIG,
                {
                    "modality": "image",
                    "synthgen_version": __version__,
                    "model": model_json,
                    "diffusion": recipe.diffusion.to_json_dict(),
                    "training": {
                        **asdict(recipe.training),
                        "noise_multiplier": plan.noise_multiplier,
                        "sample_rate": plan.sample_rate,
                        "steps_run": state.step,
                        "delta": plan.delta,
                    },
                    "sampling": asdict(recipe.sampling),
                    "critic": (
                        {**(plan.critic or {}), "feature_seed": FEATURE_SEED}
                        if critic is not None
                        else None
                    ),
                },
            )
            save_weights(state.ema.model.net, stage / WEIGHTS)
            if critic is not None:
                save_critic(critic, stage)
            write_json(stage / "spec.json", spec_json)
            if recipe.source.public_source:  # declared public: hashes of public images only
                from synthgen.images.pretrained import PUBLIC_IMAGES

                write_json(stage / PUBLIC_IMAGES, self._public_image_record())
            write_json(
                stage / PREPROCESSING,
                {
                    "class_proportions": plan.class_proportions,
                    **plan.class_proportions_info,
                },
            )
            write_json(stage / ACCOUNTANT, self.accountant.state_dict())
            cert.save(stage / CERTIFICATE)
            spec_hash = hashlib.sha256(json.dumps(spec_json, sort_keys=True).encode()).hexdigest()
            write_json(
                stage / RUN,
                run_record(
                    run_id=run_id,
                    schema_sha256=spec_hash,
                    seed=plan.seed,
                    holdout_fraction=plan.holdout_requested,
                    target=None,
                    extra={
                        "modality": "image",
                        "resumed_at_step": plan.resumed_at_step,
                        "stopped_at_time_limit": plan.stopped_at_time_limit,
                        "pretrained": _public_part(plan.pretrained),
                    },
                ),
            )
        return TrainingResult(model_dir=out, private_dir=self.private, certificate=cert)

    def _public_image_record(self) -> dict[str, Any]:
        """What a model of PUBLIC images saw, for init_from's overlap check: its training
        images, and those of the public model it started from."""
        from synthgen.images.pretrained import public_image_record, read_public_images

        init_from = self.recipe.training.init_from
        inherited = read_public_images(Path(init_from)) if init_from else set()
        return public_image_record(self.train.images, source=self.source, inherited=inherited)

    def _certificate(self, steps_run: int) -> Certificate:
        plan, cfg, acc = self.plan, self.recipe.training, self.accountant
        unit_note = (
            "unit: one image; a patient with several images in the source is protected "
            "only through group privacy (epsilon times the number of their images, and a delta "
            "that grows faster: see `per_patient_group_privacy`); declare "
            "the patient id source (--entity, --entity-file) for patient-level privacy"
            if plan.entity is None
            else f"unit: one patient (patient ids from {plan.entity}): neighbouring datasets "
            "differ by one patient with all their images; at most "
            f"{plan.max_records_per_entity} images per patient were kept (chosen at random, "
            "independently of the pixels), each patient's gradient (the mean over their "
            "images' K draws) was clipped once per step, each image weighs 1/(its patient's "
            "images) in the DP class list and class proportions, and n_training_records counts patients"
        )
        notes = [unit_note, *self.spec.notes]
        if not plan.private:
            notes.insert(
                0,
                "NOT PRIVATE: trained with epsilon = inf (benchmarks only); never "
                "release this model or its samples",
            )
        later: list[str] = []
        if plan.stopped_at_time_limit:
            later.append(
                f"stopped at the time limit after {plan.stopped_at_time_limit} of "
                f"{plan.steps} planned steps; epsilon is that of the steps that ran"
            )
        if pre := plan.pretrained:
            later.append(
                f"initialised from the model trained on {pre['source']} (source sha256 "
                f"{pre['source_sha256']}, weights sha256 {pre['weights_sha256']}); that data is "
                "assumed public: this guarantee covers only this run's source"
            )
        if acc.threshold_delta:
            later.append(
                f"delta includes {acc.threshold_delta:.3g} for partition "
                "selection of the class list found in the data"
            )
        if cfg.augment != "none":
            later.append(
                f"augmentation multiplicity ({cfg.augment}) inside each example's "
                "K draws: still one clipped gradient per image"
            )
        switch = _conditioning_switch(plan.steps, cfg.conditioning_phase)
        if plan.private and steps_run > switch:
            later.append(
                f"steps {switch + 1}-{steps_run} trained only the label pathway, clipped to "
                f"C = {cfg.conditioning_clip:g} with noise {plan.noise_multiplier:.4g} * C: "
                "same noise multiplier and sample rate, so the same epsilon per step"
            )
        if acc_runs := acc.other_runs:
            later.append(
                f"a class critic (linear head on fixed random features) was trained with DP-SGD "
                f"on the same images ({sum(n for r in acc_runs for _, _, n in r['history'])} "
                "steps, composed in the accountant); sampling uses it only to choose among "
                "samples of the DP generator (post-processing)"
            )
        return build_certificate(
            acc,
            CertifiedRun(
                modality="image",
                unit=UNIT if plan.entity is None else "patient",
                unit_description=(
                    "one image"
                    if plan.entity is None
                    else f"one patient (all images with one patient id from {plan.entity})"
                ),
                entity_column=plan.entity,
                max_records_per_entity=plan.max_records_per_entity,
                private=plan.private,
                delta=float(plan.delta),
                target_epsilon=plan.target_epsilon if plan.private else math.inf,
                noise_multiplier=plan.noise_multiplier if plan.private else None,
                sample_rate=plan.sample_rate,
                steps=steps_run,
                max_grad_norm=cfg.max_grad_norm,
                noise_multiplicity=cfg.noise_multiplicity,
                secure_rng=cfg.secure_rng,
                record_count=RecordCount.from_dict(plan.record_count),
                assumptions=self._assumptions(),
                notes=notes,
                later_notes=later,
                release_mechanism="gaussian",
                release_extra={"l2_sensitivity": 1.0},
                accountant_name="none",
                composition=None if plan.private else "none: trained without differential privacy",
                dp_sgd=("dp_sgd", "subsampled gaussian (Poisson sampling)"),
                clipping={
                    "clipping": "one gradient per image: the mean over its K diffusion draws, clipped"
                    if plan.entity is None
                    else "one gradient per patient: the mean over their images' K diffusion "
                    "draws each, clipped once",
                    "per_example_gradients": cfg.per_example_gradients,
                },
                world_size=self.world_size,
            ),
        )

    def _assumptions(self) -> list[dict[str, Any]]:
        """What the run takes as public without a declaration or noise (the certificate's
        ``assumptions``): the loader's (kept in the spec, so a resume has them), and the
        pretraining images of ``init_from``."""
        found: list[Any] = [*self.spec.assumptions, *(self.plan.assumptions or [])]
        if self.plan.pretrained:
            found.append(
                "the images the public model was trained on are public (init_from; "
                "none of them is in this run's training set)"
            )
        out: list[dict[str, Any]] = []
        for item in found:
            entry = dict(item) if isinstance(item, dict) else {"name": str(item)}
            if entry not in out:
                out.append(entry)
        return out


def _load_and_split(
    source: Path,
    recipe: ImageRecipe,
    *,
    holdout: float,
    seed: int,
    patients: PatientOptions | None = None,
) -> _Split:
    """Load the source; train and holdout are the official split where asked and present,
    else a per-image split (each image's side set by that image and the seed alone).

    Patient-level runs (``patients``) keep at most ``max_records`` images per patient,
    chosen at random independently of the pixels, and split by patient (each patient's
    side set by their id and the seed alone): never a patient on both sides. The official
    validation split of an .npz is split by image, so it joins the pool."""
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
        return _Split(loaded, loaded.train, hold, loaded.test, official, fraction)
    pool = loaded.train
    if loaded.holdout is not None:  # "random": the official val split joins the pool
        pool = ImageSet(
            np.concatenate([pool.images, loaded.holdout.images]),
            np.concatenate([pool.labels, loaded.holdout.labels]),
        )
    return _split_by_key(loaded, pool, _image_keys(pool), official, holdout=holdout, seed=seed)


def _patient_split(loaded: Any, patients: PatientOptions, *, holdout: float, seed: int) -> _Split:
    parts = [p for p in (loaded.train, loaded.holdout) if p is not None]
    pool = ImageSet(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.entities for p in parts]),
    )
    keys = _entity_keys(pool)
    pool = pool.subset(
        np.flatnonzero(bound_contributions(keys, max_records=patients.max_records, seed=seed))
    )
    return _split_by_key(loaded, pool, _entity_keys(pool), False, holdout=holdout, seed=seed)


def _split_by_key(
    loaded: Any, pool: ImageSet, keys: Iterable[bytes], official: bool, *, holdout: float, seed: int
) -> _Split:
    """Each image's side set by its key and the seed alone (``holdout_mask``)."""
    held = holdout_mask(keys, fraction=holdout, seed=seed)
    hold_idx = np.flatnonzero(held)
    hold = pool.subset(hold_idx) if len(hold_idx) else None
    return _Split(loaded, pool.subset(np.flatnonzero(~held)), hold, loaded.test, official, holdout)


def _entity_keys(images: ImageSet) -> list[bytes]:
    """Each image's patient id as bytes (the same id, the same key)."""
    assert images.entities is not None
    return [str(v).encode() for v in images.entities]


def _count_patients(*parts: ImageSet) -> int:
    return len({key for part in parts for key in _entity_keys(part)})


def _class_proportions(
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
    from synthgen.privacy.class_shares import sampling_shares
    from synthgen.privacy.mechanisms import noisy_histograms, project_to_simplex

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


@dataclass
class _PrivatePhases:
    """DP-SGD in two phases (all weights, then the label pathway only), the same sequence
    on every rank: rank 0 runs it with the accountant, the others (``_ImageHelper``)
    without. Same sigma and q in both phases: the accountant sees identical steps."""

    cfg: Any  # TrainingConfig
    edm: Any  # EDMConfig
    noise_multiplier: float
    planned_steps: int
    end: int
    public_record_count: int

    def run(
        self,
        state: Any,
        data: Any,
        *,
        accountant: RunAccountant | None,
        device: Any,
        on_step: Any,
        world_size: int,
    ) -> None:
        from synthgen.images.trainer import train_private
        from synthgen.privacy.secure_random import NoiseSource

        cfg, end = self.cfg, self.end
        noise = NoiseSource(secure=cfg.secure_rng)
        switch = min(_conditioning_switch(self.planned_steps, cfg.conditioning_phase), end)
        net = state.denoiser.net
        for first, last, only in (
            (0, switch, None),
            (switch, end, net.conditioning_parameter_names()),
        ):
            if state.step >= last:
                continue
            if state.step < first:  # the phase before stopped early (time, cancel)
                break
            phase_cfg = cfg if only is None else replace(cfg, max_grad_norm=cfg.conditioning_clip)
            with _trainable_only(state.denoiser, only):
                train_private(
                    state,
                    data,
                    cfg=phase_cfg,
                    edm=self.edm,
                    noise_multiplier=self.noise_multiplier,
                    steps=last - state.step,
                    accountant=accountant,
                    noise=noise,
                    device=device,
                    on_step=on_step,
                    public_record_count=self.public_record_count,
                    world_size=world_size,
                )


@dataclass
class _ImageHelper:
    """What a rank above 0 runs: the phases on its shard, from rank 0's weights and
    optimizer state; no accountant, log, EMA that counts, or checkpoint."""

    phases: _PrivatePhases
    denoiser: Any
    optimizer_state: dict[str, Any]
    seed: int
    step: int

    def __call__(self, world: Any, shard: Any) -> None:
        import torch

        from synthgen.images.trainer import ImageShard, new_state

        # the diffusion draws differ per rank (they are not privacy randomness)
        state = new_state(
            self.denoiser, self.phases.cfg, seed=hash((self.seed, world.rank)) & (2**62 - 1)
        )
        state.optimizer.load_state_dict(self.optimizer_state)
        state.step = self.step
        self.phases.run(
            state,
            ImageShard(shard),
            accountant=None,
            device=torch.device("cpu"),
            on_step=lambda record: False,  # rank 0 decides when to stop
            world_size=world.size,
        )


def _conditioning_switch(steps: int, conditioning_phase: float) -> int:
    """The step after which only the label pathway trains (``steps``: it never does)."""
    return steps - round(conditioning_phase * steps)


@contextlib.contextmanager
def _trainable_only(model: Any, names: list[str] | None) -> Iterator[None]:
    """Freeze every parameter not named (Opacus then clips and noises only the named ones;
    Adam skips parameters without a gradient); each gets its own setting back afterwards."""
    if names is None:
        yield
        return
    keep = {f"net.{n}" for n in names}
    params = dict(model.named_parameters())
    before = {n: p.requires_grad for n, p in params.items()}
    try:
        for n, p in params.items():
            p.requires_grad_(before[n] and n in keep)
        yield
    finally:
        for n, p in params.items():
            p.requires_grad_(before[n])


def _assumptions(loaded: Any) -> list[dict[str, Any]]:
    """The hook for the loaders: what a loader read from the data without noise (class list,
    channels...) and reports in ``loaded.assumptions`` goes onto the certificate's
    ``assumptions``, as the tables' column kinds do. Plain strings become ``{"name": ...}``."""
    found = getattr(loaded, "assumptions", None) or []
    return [dict(item) if isinstance(item, dict) else {"name": str(item)} for item in found]


def _public_part(pretrained: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pretrained model's provenance without its path on the steward's machine."""
    if pretrained is None:
        return None
    return {k: v for k, v in pretrained.items() if k != "model_dir"}


def _image_keys(images: ImageSet) -> Iterator[bytes]:
    """One key per image for the per-record split: its pixels and its label."""
    labels = np.asarray(images.labels).reshape(len(images), -1)
    for i in range(len(images)):
        yield np.ascontiguousarray(images.images[i]).tobytes() + b"|" + labels[i].tobytes()
