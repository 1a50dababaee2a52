"""``train_images``: a DP class-conditional diffusion model from an image source.

Order of operations (what touches real data, and how it stays private), one module a step:
1. load and split the source (``split.py``; private dir only: ``train.npz``,
   ``holdout.npz``, ``test.npz``, ``load_report.json``);
2. plan the run (``run_plan.py``): N-hat, the class list, the class proportions for
   sampling (declared by the steward, or a Gaussian-noised class histogram paid from a
   small share of epsilon), and the noise multiplier calibrated so that the steps that
   will run (``--max-steps`` caps them), composed with what came before, stay within the
   requested epsilon; or take the interrupted run's plan;
3. DP-SGD (``session.py``, ``trainer.py``), checkpointed into the private dir;
4. the class critic (``class_critic.py``): a linear head on random features, DP-SGD on its
   own share of epsilon (planned with step 2, composed in the same accountant);
5. the model directory (``model_dir.py``), built in a staging folder and renamed into
   place: EMA weights, spec, DP statistics, accountant, certificate (epsilon = the
   accountant's, for what ran).
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.artifacts import (
    TrainingResult,
    check_new_output,
    default_private_dir,
    utc_now,
    write_json,
)
from synthgen.errors import ConfigurationError, ModelLoadError, OutputError, TrainingCancelled
from synthgen.images.config import build_recipe
from synthgen.images.entities import patient_options
from synthgen.images.run_plan import FINISHED, PlannedRun, plan_fresh_run, resume_run
from synthgen.privacy.spend_log import SPEND_LOG, JournaledAccountant, SpendLog, steps_to_run
from synthgen.progress import ProgressCallback, ProgressEvent, StopCheck, ignore_progress
from synthgen.requests import TrainRequest
from synthgen.training import distributed


def train_images(
    request: TrainRequest,
    *,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainingResult:
    """Train on ``request.source`` (.npz, PNG/JPEG class folders, or DICOM + labels CSV)
    and write the model directory ``request.out``. ``epsilon=inf`` trains without DP
    (marked not private). ``request`` was validated when it was built."""
    distributed.refuse_torchrun_helper()  # before anything is read or spent
    progress = progress or ignore_progress
    out = request.out
    recipe = build_recipe(request.config_overrides())
    if recipe.source.public_source and math.isfinite(request.epsilon):
        raise ConfigurationError(
            "public_source makes a model of PUBLIC images for init_from: "
            "train it with --epsilon inf"
        )
    check_new_output(out)
    private = request.private_dir or default_private_dir(out)
    patients = patient_options(request)
    if patients is not None and distributed.requested_world_size(request.processes) > 1:
        # the shards split images, not patients: one process until they split patients
        raise ConfigurationError(
            "a patient-level image run trains on one process: leave out --processes"
        )

    from synthgen.images.checkpoint import checkpoint_path

    existing = checkpoint_path(private) if private.is_dir() else None
    if request.resume:
        if existing is None:
            raise ModelLoadError(f"nothing to resume: no checkpoint in {private}")
        run = resume_run(existing, request, recipe=recipe, patients=patients)
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
        run = plan_fresh_run(
            request, recipe=recipe, private=private, patients=patients, progress=progress
        )
    return _train_and_write(
        run, out, progress=progress, should_stop=should_stop, processes=request.processes or 1
    )


def _train_and_write(
    run: PlannedRun,
    out: Path,
    *,
    progress: ProgressCallback,
    should_stop: StopCheck | None,
    processes: int,
) -> TrainingResult:
    """The planned run's steps: networks, DP-SGD, the critic, the model directory."""
    import torch

    from synthgen.images.checkpoint import save_checkpoint
    from synthgen.images.model_dir import run_certificate, write_model_dir
    from synthgen.images.session import build_state, train_generator
    from synthgen.images.trainer import resolve_device

    plan, cfg = run.plan, run.recipe.training
    if min(1.0, cfg.batch_size / plan.n_public) != plan.sample_rate:
        raise ConfigurationError("the sample rate differs from the run's recorded one")
    device = resolve_device(cfg.device)
    state, unet_cfg = build_state(run, device)
    # DP-SGD steps lost with an interrupted process are charged: the run ends earlier
    end = steps_to_run(done=state.step, planned=plan.steps, spent=run.accountant.sgd_steps)
    started = time.perf_counter()
    session = train_generator(
        run, state, device, end=end, progress=progress, should_stop=should_stop, processes=processes
    )
    save_checkpoint(run.private, state, accountant=run.accountant, meta=asdict(plan))
    if session.timed_out:
        # the time limit ends the run early; the model is written and its certificate
        # carries the epsilon of the steps that ran (less than the target)
        plan.stopped_at_time_limit = state.step
    elif state.step < end:
        spent = run.accountant.epsilon(plan.delta) if plan.private else math.inf
        raise TrainingCancelled(
            f"training stopped at step {state.step} of {plan.steps}; resume with --resume "
            f"(checkpoint in {run.private})",
            epsilon_spent=spent,
        )
    critic = _train_critic(run, state.ema.model, progress) if plan.critic else None
    step_seconds = session.step_seconds
    timing = {  # the private provenance only
        "training_seconds": round(time.perf_counter() - started, 2),
        "median_step_seconds": round(float(np.median(step_seconds)), 4) if step_seconds else None,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    progress(ProgressEvent("save", 0, 0))
    result = write_model_dir(
        run,
        out,
        state=state,
        model_json=unet_cfg.to_json_dict(),
        timing=timing,
        critic=critic,
        certificate=run_certificate(run, steps_run=state.step, world_size=session.world_size),
    )
    write_json(run.private / FINISHED, {"model_dir_written_at": utc_now()}, private=True)
    return result


def _train_critic(run: PlannedRun, denoiser: Any, progress: ProgressCallback) -> Any:
    """The class critic, trained after the generator. It runs in memory and only the
    model directory releases it, so a run interrupted here releases nothing of it and a
    resumed run trains it afresh; the accountant records it once it has run."""
    from synthgen.images.class_critic import CriticPlan, train_critic
    from synthgen.images.sample import ImageModel, labels_for_counts
    from synthgen.privacy.secure_random import NoiseSource

    plan = run.plan
    critic_plan = CriticPlan(**(plan.critic or {}))
    progress(ProgressEvent("critic", 0, critic_plan.steps, message="model samples"))
    model = ImageModel(
        denoiser=denoiser.eval(),
        spec=run.spec,
        config={"sampling": asdict(run.recipe.sampling)},
        class_proportions=plan.class_proportions,
    )
    counts = model.counts_for(critic_plan.feature_samples, None)
    # post-processing of the DP model: any seed; one apart from the user's sample seeds
    samples = model.generate(labels_for_counts(counts), seed=plan.seed + 7919)
    # its steps go to the run's spend log as they run (a run killed while training the
    # critic is charged for them); the finished run is recorded once, below
    critic_accountant = JournaledAccountant(
        SpendLog(run.private / SPEND_LOG),
        run="class_critic",
        max_grad_norm=critic_plan.max_grad_norm,
    )
    critic = train_critic(
        critic_plan,
        train=run.train,
        model_samples=samples,
        class_proportions=plan.class_proportions,
        accountant=critic_accountant,
        noise=NoiseSource(secure=run.recipe.training.secure_rng),
        seed=plan.seed,
        progress=lambda i, n: progress(ProgressEvent("critic", i, n)),
    )
    if critic_accountant.sgd_history:
        run.accountant.add_subsampled_run(
            name="class_critic",
            history=critic_accountant.sgd_history,
            purpose="linear class critic on random features (sample selection)",
            max_grad_norm=critic_plan.max_grad_norm,
        )
    return critic
