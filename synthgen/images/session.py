"""One training session of the generator: its networks, then the step loop up to ``end``.

A session is the whole run, or what is left of it after a resume. The loop writes the
private training log, checkpoints every ``checkpoint_every`` steps, sends progress events
(epsilon, never the loss) and stops at the time limit or when asked.

DP-SGD runs in two phases, all weights then the label pathway only, the same sequence on
every rank: rank 0 with the accountant, the others (``ImageHelper``) without. Same sigma
and q in both phases: the accountant sees identical steps, and the certificate says which
steps trained only the label pathway.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from synthgen.errors import ConfigurationError
from synthgen.images.checkpoint import restore_state, save_checkpoint
from synthgen.images.edm import Denoiser
from synthgen.images.patients import PatientImageDataset
from synthgen.images.pretrained import initialise_from_pretrained
from synthgen.images.run_plan import PlannedRun
from synthgen.images.split import entity_keys
from synthgen.images.trainer import (
    EpsilonTracker,
    ImageShard,
    ImageTensorDataset,
    StepRecord,
    new_state,
    train_nonprivate,
    train_private,
)
from synthgen.images.unet import UNet
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.contribution import group_records
from synthgen.privacy.secure_random import NoiseSource
from synthgen.progress import ProgressCallback, ProgressEvent, StopCheck
from synthgen.training import distributed
from synthgen.training.log import TrainingLog


@dataclass
class SessionOutcome:
    step_seconds: list[float] = field(default_factory=list)
    timed_out: bool = False  # the time limit stopped it
    world_size: int = 1  # DP-SGD processes of the session


def build_state(run: PlannedRun, device: Any) -> tuple[Any, Any]:
    """The U-Net and its denoiser, seeded (or from init_from, or the checkpoint), and
    the optimizer state; a fresh run writes its first checkpoint here."""
    plan, spec, recipe = run.plan, run.spec, run.recipe
    torch.manual_seed(plan.seed)  # initialisation (the diffusion draws have their own)
    unet_cfg = recipe.unet_config(
        image_size=spec.image_size, channels=spec.channels, num_classes=spec.num_classes
    )
    net = UNet(unet_cfg)
    init_from = recipe.training.init_from
    if init_from and run.checkpoint is None:
        plan.pretrained = initialise_from_pretrained(
            net, init_from, training_images=run.train.images
        )
    denoiser = Denoiser(net, recipe.diffusion).to(device)
    state = new_state(denoiser, recipe.training, seed=plan.seed)
    if run.checkpoint is not None:
        restore_state(run.checkpoint, state)
        TrainingLog(run.private).truncate(state.step)
    else:
        save_checkpoint(run.private, state, accountant=run.accountant, meta=asdict(plan))
    return state, unet_cfg


def train_generator(
    run: PlannedRun,
    state: Any,
    device: Any,
    *,
    end: int,
    progress: ProgressCallback,
    should_stop: StopCheck | None,
    processes: int = 1,
) -> SessionOutcome:
    """DP-SGD (``phases.py``) or, not private, plain training, up to step ``end``."""
    plan, cfg, accountant = run.plan, run.recipe.training, run.accountant
    tracker = (
        EpsilonTracker(
            accountant,
            noise_multiplier=plan.noise_multiplier,
            sample_rate=plan.sample_rate,
            delta=plan.delta,
        )
        if plan.private and plan.noise_multiplier is not None
        else None
    )
    deadline = time.monotonic() + 60 * cfg.time_limit_minutes if cfg.time_limit_minutes else None
    outcome = SessionOutcome()
    data: Any = ImageTensorDataset(run.train)
    if plan.entity is not None:  # one example per patient (synthgen.images.patients)
        assert run.train.entities is not None, "a patient-level run keeps its ids"
        data = PatientImageDataset(run.train, group_records(entity_keys(run.train)))
    log = TrainingLog(run.private)
    repeated = max(0, accountant.sgd_steps - state.step)  # charged, run again

    def on_step(record: StepRecord) -> bool:
        eps = tracker.epsilon(record.step + repeated) if tracker is not None else math.inf
        outcome.step_seconds.append(record.seconds)
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
            save_checkpoint(run.private, state, accountant=accountant, meta=asdict(plan))
        if deadline is not None and time.monotonic() > deadline and record.step < end:
            outcome.timed_out = True
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
            edm=run.recipe.diffusion,
            steps=plan.steps - state.step,
            device=device,
            on_step=on_step,
        )
        return outcome
    assert plan.noise_multiplier is not None
    phases = PrivatePhases(
        cfg=cfg,
        edm=run.recipe.diffusion,
        noise_multiplier=plan.noise_multiplier,
        planned_steps=plan.steps,
        end=end,
        public_record_count=plan.n_public,
    )
    with distributed.leader_group(processes) as world:
        outcome.world_size = world.size
        local: Any = data
        if world.size > 1:
            if device.type != "cpu":
                raise ConfigurationError("several processes train images on CPU only")
            helpers = ImageHelper(
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
            accountant=accountant,
            device=device,
            on_step=on_step,
            world_size=world.size,
        )
    return outcome


@dataclass
class PrivatePhases:
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
        cfg, end = self.cfg, self.end
        noise = NoiseSource(secure=cfg.secure_rng)
        switch = min(conditioning_switch(self.planned_steps, cfg.conditioning_phase), end)
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
            with trainable_only(state.denoiser, only):
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
class ImageHelper:
    """What a rank above 0 runs: the phases on its shard, from rank 0's weights and
    optimizer state; no accountant, log, EMA that counts, or checkpoint."""

    phases: PrivatePhases
    denoiser: Any
    optimizer_state: dict[str, Any]
    seed: int
    step: int

    def __call__(self, world: Any, shard: Any) -> None:
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


def conditioning_switch(steps: int, conditioning_phase: float) -> int:
    """The step after which only the label pathway trains (``steps``: it never does)."""
    return steps - round(conditioning_phase * steps)


@contextlib.contextmanager
def trainable_only(model: Any, names: list[str] | None) -> Iterator[None]:
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
