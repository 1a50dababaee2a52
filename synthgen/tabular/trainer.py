"""The training loop: DP-SGD (or plain SGD for epsilon = inf) with EMA and checkpoints.

Privacy-relevant choices, in one place:
- The noise multiplier is calibrated for the steps that will run, composed with the
  preprocessing releases already in the accountant, so the final epsilon is the target.
- Poisson batches and gradient noise come from ``NoiseSource`` (OS entropy), never from
  the seed; the seed drives only the diffusion draws and label dropout.
- Ghost clipping over a ``[B, K, ...]`` layout: B per-example gradients, each clipped.
- An empty Poisson batch is a real step: zero gradient plus noise, and it is accounted.
- The accountant's state is written to the private directory after every step, so the
  spend of a failed or killed run is known.
- The training loss is a statistic of real data without noise: it goes to the private
  training log only, never into progress events, nor (private runs) to a tracker, which
  gets epsilon and the learning rate.
- Every DP-SGD step is written to the spend log (``privacy/spend_log.py``) by the
  accountant's hook, before the optimizer applies it.
- Several processes (``processes`` or torchrun, ``synthgen.training.distributed``): rank 0
  (this process) shards the examples, keeps the accountant, the EMA, the checkpoints and
  the log; every rank samples its shard with the global q, and the noise is added once
  (``synthgen.privacy.distributed_dp``). A checkpoint holds no rank's state but rank 0's,
  so a run resumes with any number of processes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthgen.artifacts import (
    ACCOUNTANT,
    CHECKPOINT_DIR,
    make_private_dir,
    restrict_private,
    write_json,
)
from synthgen.errors import TrainingCancelled
from synthgen.privacy.accountant import RunAccountant, calibrate_noise_multiplier
from synthgen.privacy.dp_sgd import PrivateTraining, make_private
from synthgen.privacy.secure_random import NoiseSource
from synthgen.privacy.spend_log import check_covers, steps_to_run
from synthgen.progress import ProgressCallback, ProgressEvent, StopCheck
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.diffusion.mixed import MixedDiffusion
from synthgen.tabular.encoder import EncodedTable
from synthgen.training import distributed
from synthgen.training.distributed import TensorShard, World
from synthgen.training.ema import EMA
from synthgen.training.log import TrainingLog


@dataclass
class TrainingOutcome:
    ema: nn.Module
    noise_multiplier: float | None
    sample_rate: float | None
    steps: int
    world_size: int = 1  # processes that ran the last DP-SGD steps


def learning_rate(step: int, total: int, base: float) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 10% of ``base``."""
    warmup = max(1, total // 20)
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


# options a private run may send as tracker parameters: fixed before the data is read.
# batch_size and steps are left out (chosen from N, the number of training records)
TRACKED_OPTIONS = (
    "noise_multiplicity",
    "hidden_width",
    "n_blocks",
    "learning_rate",
    "max_grad_norm",
    "ema_decay",
    "label_dropout",
    "preprocessing_share",
)


def tracker_parameters(config: TabularTrainingConfig, *, private: bool) -> dict[str, Any]:
    values = config.to_dict()
    if private:
        values = {k: values[k] for k in TRACKED_OPTIONS}
    return {k: v for k, v in values.items() if v is not None}


def train(
    data: EncodedTable,
    diffusion: MixedDiffusion,
    model: nn.Module,
    *,
    config: TabularTrainingConfig,
    epsilon: float,
    delta: float,
    accountant: RunAccountant,
    seed: int,
    private_dir: Path,
    progress: ProgressCallback,
    should_stop: StopCheck | None,
    resume: bool = False,
    record_count: int,
    processes: int = 1,
) -> TrainingOutcome:
    """``record_count``: the public N-hat (DP or declared); q = batch / N-hat, never the
    exact ``len(data)`` (which also lacks rows whose label partition selection dropped).
    ``processes``: DP-SGD ranks (under torchrun, its world size)."""
    assert config.steps is not None and config.batch_size is not None
    total_steps = config.steps
    private = math.isfinite(epsilon)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    ema = EMA(model, config.ema_decay)
    checkpoint = Checkpoint(private_dir / CHECKPOINT_DIR)
    done = 0
    sigma: float | None = None
    sample_rate = min(1.0, config.batch_size / record_count) if private else None
    if resume and checkpoint.exists():
        # the caller's accountant holds what the run spent (its spend log); the checkpoint's
        # accountant, older, must be part of it
        done, sigma, checkpointed = checkpoint.load(model, ema.model, optimizer, generator)
        check_covers(accountant, checkpointed)
    if sigma is None and sample_rate is not None:
        # calibrated on what ran before DP-SGD (the same on resume: the steps already run
        # are in the accountant but not in this prior)
        sigma = calibrate_noise_multiplier(
            target_epsilon=epsilon,
            delta=accountant.rdp_delta(delta),
            sample_rate=sample_rate,
            steps=total_steps,
            prior_history=[*accountant.release_history, *accountant.other_history],
        )
    # steps lost after the last checkpoint are charged: the run ends earlier
    end = steps_to_run(done=done, planned=total_steps, spent=accountant.sgd_steps if private else 0)
    log = TrainingLog(private_dir, config.tracker, tracker_parameters(config, private=private))

    def after_step(step: int, loss: float) -> None:
        ema.update(model, step)
        eps_spent = accountant.epsilon(delta) if private else math.inf
        write_json(private_dir / ACCOUNTANT, accountant.state_dict(), private=True)
        lr = optimizer.param_groups[0]["lr"]
        log.write(
            {
                "step": step,
                "loss": loss,
                "epsilon": eps_spent if private else None,
                "lr": lr,
                "time": time.time(),
            },
            private_run=private,
        )
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total_steps, config.learning_rate)
        if step % config.checkpoint_every == 0 or step == end:
            checkpoint.save(step, sigma, model, ema.model, optimizer, accountant, generator)
        progress(ProgressEvent("train", step, total_steps, eps_spent if private else 0.0))
        if should_stop is not None and step < end and should_stop():
            checkpoint.save(step, sigma, model, ema.model, optimizer, accountant, generator)
            raise TrainingCancelled(
                f"training cancelled after {step} of {total_steps} steps",
                epsilon_spent=eps_spent if private else math.inf,
            )

    for group in optimizer.param_groups:
        group["lr"] = learning_rate(done, total_steps, config.learning_rate)
    progress(
        ProgressEvent("train", done, total_steps, accountant.epsilon(delta) if private else 0.0)
    )
    try:
        with distributed.leader_group(processes) as world:
            if private:
                assert sigma is not None and sample_rate is not None
                if end > done:  # else every planned step ran (some lost with the process)
                    examples: EncodedTable | TensorShard = data
                    if world.size > 1:
                        helpers = _HelperLoop(
                            diffusion=diffusion,
                            model=model,
                            optimizer_state=optimizer.state_dict(),
                            config=config,
                            sigma=sigma,
                            record_count=record_count,
                            start=done,
                            total=end,
                            seed=seed,
                        )
                        examples = distributed.send_task(helpers, distributed.shard(data, world))
                    _private_loop(
                        examples,
                        diffusion,
                        model,
                        optimizer,
                        config=config,
                        sigma=sigma,
                        accountant=accountant,
                        start=done,
                        total=end,
                        generator=generator,
                        after_step=after_step,
                        record_count=record_count,
                        world_size=world.size,
                    )
                elif world.size > 1:
                    distributed.send_task(distributed.idle, distributed.shard(data, world))
            else:
                if world.size > 1:  # epsilon = inf runs on one process: a benchmark
                    distributed.send_task(distributed.idle, distributed.shard(data, world))
                    world = distributed.SINGLE
                _plain_loop(
                    data,
                    diffusion,
                    model,
                    optimizer,
                    config=config,
                    start=done,
                    total=total_steps,
                    generator=generator,
                    after_step=after_step,
                )
    finally:
        log.close()
    return TrainingOutcome(
        ema=ema.model,
        noise_multiplier=sigma,
        sample_rate=sample_rate,
        steps=total_steps,
        world_size=world.size,
    )


@dataclass
class _HelperLoop:
    """What a rank above 0 runs: the DP-SGD loop on its shard, from rank 0's model and
    optimizer state, without accountant, log or checkpoints (rank 0 keeps those)."""

    diffusion: MixedDiffusion
    model: nn.Module
    optimizer_state: dict[str, Any]
    config: TabularTrainingConfig
    sigma: float
    record_count: int
    start: int
    total: int
    seed: int

    def __call__(self, world: World, shard: TensorShard) -> None:
        config = self.config
        optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        optimizer.load_state_dict(self.optimizer_state)
        # the diffusion draws differ per rank (they are not privacy randomness)
        generator = torch.Generator().manual_seed(
            hash((self.seed, world.rank, self.start)) & (2**63 - 1)
        )
        assert config.steps is not None

        def follow_schedule(step: int, loss: float) -> None:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, config.steps or 0, config.learning_rate)

        _private_loop(
            shard,
            self.diffusion,
            self.model,
            optimizer,
            config=config,
            sigma=self.sigma,
            accountant=None,
            start=self.start,
            total=self.total,
            generator=generator,
            after_step=follow_schedule,
            record_count=self.record_count,
            world_size=world.size,
        )


def _private_loop(
    data: EncodedTable | TensorShard,
    diffusion: MixedDiffusion,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    config: TabularTrainingConfig,
    sigma: float,
    accountant: RunAccountant | None,
    start: int,
    total: int,
    generator: torch.Generator,
    after_step: Callable[[int, float], None],
    record_count: int,
    on_private: Callable[[PrivateTraining], None] | None = None,
    world_size: int = 1,
) -> None:
    """DP-SGD steps ``start + 1 .. total``. ``on_private`` sees the wiring before the first
    step (the canary audit, ``synthgen.tabular.audit``, inserts its canaries there).
    With ``world_size > 1``, ``data`` is this rank's shard and ``accountant`` is rank 0's
    (None elsewhere); after each step rank 0 tells the others whether to go on."""
    from opacus.utils.batch_memory_manager import BatchMemoryManager

    assert config.batch_size is not None
    pt = make_private(
        model,
        optimizer,
        data,
        noise_multiplier=sigma,
        max_grad_norm=config.max_grad_norm,
        expected_batch_size=config.batch_size,
        public_record_count=record_count,
        steps=total - start,
        accountant=accountant,
        noise=NoiseSource(secure=config.secure_rng),
        grad_sample_mode="ghost",
        world_size=world_size,
    )
    if on_private is not None:
        on_private(pt)
    step, loss_sum, count = start, 0.0, 0
    with BatchMemoryManager(
        data_loader=pt.loader,
        max_physical_batch_size=config.max_physical_batch_size,
        optimizer=pt.optimizer,
    ) as loader:
        for batch in loader:
            b = int(batch["labels"].shape[0])
            if b == 0:
                pt.empty_backward()
            else:
                losses = diffusion.per_example_loss(
                    pt.module,
                    batch,
                    multiplicity=config.noise_multiplicity,
                    label_dropout=config.label_dropout,
                    generator=generator,
                )
                loss_sum += float(losses.detach().sum())
                count += b
                pt.loss_backward(losses)
            if pt.step():
                step += 1
                try:
                    after_step(step, loss_sum / max(count, 1))
                except BaseException:
                    if world_size > 1:  # cancelled or failed: the helpers stop too
                        distributed.continue_together(False)
                    raise
                if world_size > 1 and not distributed.continue_together(True):
                    return  # a helper, and rank 0 stopped
                loss_sum, count = 0.0, 0


def _plain_loop(
    data: EncodedTable,
    diffusion: MixedDiffusion,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    config: TabularTrainingConfig,
    start: int,
    total: int,
    generator: torch.Generator,
    after_step: Callable[[int, float], None],
) -> None:
    """Non-private training (epsilon = inf, benchmarks only): shuffled fixed-size batches."""
    assert config.batch_size is not None
    n = len(data)
    order = torch.randperm(n, generator=generator)
    position = 0
    for step in range(start + 1, total + 1):
        if position + config.batch_size > n:
            order, position = torch.randperm(n, generator=generator), 0
        batch = data.__getitems__(order[position : position + config.batch_size].tolist())
        position += config.batch_size
        losses = diffusion.per_example_loss(
            model,
            batch,
            multiplicity=config.noise_multiplicity,
            label_dropout=config.label_dropout,
            generator=generator,
        )
        optimizer.zero_grad()
        losses.mean().backward()
        optimizer.step()
        after_step(step, float(losses.detach().mean()))


class Checkpoint:
    """A resumable training state without pickle: tensors in safetensors, the rest in JSON.

    The first checkpoint (``resume.write_first_checkpoint``) is written before DP-SGD and
    has no weights (``"weights": false``): the model starts from its seeded
    initialisation, as it did the first time.
    """

    def __init__(self, directory: Path):
        self.directory = directory

    def exists(self) -> bool:
        return (self.directory / "state.json").exists()

    def save(
        self,
        step: int,
        sigma: float | None,
        model: nn.Module,
        ema: nn.Module,
        optimizer: torch.optim.Optimizer,
        accountant: RunAccountant,
        generator: torch.Generator,
    ) -> None:
        from safetensors.torch import save_file

        make_private_dir(self.directory)
        tensors = {f"model.{k}": v.detach().clone() for k, v in _plain_state(model).items()}
        tensors |= {f"ema.{k}": v.detach().clone() for k, v in ema.state_dict().items()}
        opt_state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, entries in opt_state["state"].items():
            for key, value in entries.items():
                if torch.is_tensor(value):
                    tensors[f"opt.{idx}.{key}"] = value.detach().clone().contiguous()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        tensors["generator"] = generator.get_state()
        tmp = self.directory / "weights.safetensors.tmp"
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        restrict_private(tmp)
        tmp.replace(self.directory / "weights.safetensors")
        write_json(
            self.directory / "state.json",
            {
                "step": step,
                "weights": True,
                "noise_multiplier": sigma,
                "accountant": accountant.state_dict(),
                "param_groups": opt_state["param_groups"],
                "optimizer_scalars": scalars,
            },
            private=True,
        )

    def load(
        self,
        model: nn.Module,
        ema: nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
    ) -> tuple[int, float | None, RunAccountant]:
        """Restore the state in place; returns the step, the noise multiplier and the
        accountant as the checkpoint saw it (the caller's accountant comes from the spend
        log, which holds at least as much)."""
        from safetensors.torch import load_file

        state = json.loads((self.directory / "state.json").read_text())
        checkpointed = RunAccountant.from_state_dict(state["accountant"])
        if not state.get("weights", True):  # the checkpoint before DP-SGD
            return 0, state.get("noise_multiplier"), checkpointed
        tensors = load_file(str(self.directory / "weights.safetensors"))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        opt_state: dict[str, Any] = {"state": {}, "param_groups": state["param_groups"]}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, idx, name = key.split(".", 2)
                opt_state["state"].setdefault(int(idx), {})[name] = value
        for idx, entries in state["optimizer_scalars"].items():
            opt_state["state"].setdefault(int(idx), {}).update(entries)
        optimizer.load_state_dict(opt_state)
        generator.set_state(tensors["generator"])
        return int(state["step"]), state["noise_multiplier"], checkpointed


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    inner = getattr(model, "_module", model)
    return inner.state_dict()
