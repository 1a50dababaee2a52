"""What an image run releases: the model directory and its certificate.

The directory is built in a staging folder and renamed into place. It ships the EMA
weights, the config, the spec, the DP statistics, the accountant, the certificate and the
run record; exact counts, the source's identity and the timings go to the private
directory only (``provenance.json``). The certificate's notes are a product contract: each
states a fact its reader needs (the unit and what it does not cover, a time limit, public
pretraining, a threshold delta, augmentation, the label-pathway phase, the class critic).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

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
    new_run_id,
    private_provenance,
    run_record,
    save_weights,
    staged_directory,
    write_json,
)
from synthgen.images.class_critic import FEATURE_SEED, save_critic
from synthgen.images.pretrained import PUBLIC_IMAGES, public_image_record, read_public_images
from synthgen.images.run_plan import PlannedRun
from synthgen.images.session import conditioning_switch
from synthgen.privacy.certificate import Certificate, CertifiedRun, build_certificate
from synthgen.privacy.record_count import RecordCount


def write_model_dir(
    run: PlannedRun,
    out: Path,
    *,
    state: Any,
    model_json: dict[str, Any],
    timing: dict[str, Any],
    critic: Any,
    certificate: Certificate,
) -> TrainingResult:
    plan, recipe = run.plan, run.recipe
    spec_json = run.spec.to_json_dict()
    run_id = new_run_id()
    # exact counts, the source's identity and the timings: private directory only
    write_json(
        run.private / PROVENANCE,
        private_provenance(
            run_id=run_id,
            source=run.source,
            n_train=plan.n_train,
            n_holdout=plan.n_holdout,
            private_dir=run.private,
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
            write_json(stage / PUBLIC_IMAGES, _public_image_record(run))
        write_json(
            stage / PREPROCESSING,
            {
                "class_proportions": plan.class_proportions,
                **plan.class_proportions_info,
            },
        )
        write_json(stage / ACCOUNTANT, run.accountant.state_dict())
        certificate.save(stage / CERTIFICATE)
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
                    # init_from's provenance without its path on the steward's machine
                    "pretrained": plan.pretrained
                    and {k: v for k, v in plan.pretrained.items() if k != "model_dir"},
                },
            ),
        )
    return TrainingResult(model_dir=out, private_dir=run.private, certificate=certificate)


def _public_image_record(run: PlannedRun) -> dict[str, Any]:
    """What a model of PUBLIC images saw, for init_from's overlap check: its training
    images, and those of the public model it started from."""
    init_from = run.recipe.training.init_from
    inherited = read_public_images(Path(init_from)) if init_from else set()
    return public_image_record(run.train.images, source=run.source, inherited=inherited)


def run_certificate(run: PlannedRun, *, steps_run: int, world_size: int) -> Certificate:
    plan, cfg, acc = run.plan, run.recipe.training, run.accountant
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
    notes = [unit_note, *run.spec.notes]
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
    switch = conditioning_switch(plan.steps, cfg.conditioning_phase)
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
            unit="one image" if plan.entity is None else "patient",
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
            assumptions=_assumptions(run),
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
            world_size=world_size,
        ),
    )


def _assumptions(run: PlannedRun) -> list[dict[str, Any]]:
    """What the run takes as public without a declaration or noise (the certificate's
    ``assumptions``): the loader's (kept in the spec, so a resume has them), and the
    pretraining images of ``init_from``."""
    found: list[Any] = [*run.spec.assumptions, *(run.plan.assumptions or [])]
    if run.plan.pretrained:
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
