"""DP-SGD for the image denoiser: Poisson batches, noise multiplicity, clipping, noise, EMA.

The privacy-critical path, step by step (one logical step = one Poisson batch):

1. ``synthgen.privacy.dp_sgd.make_private`` (hooks mode) wraps the denoiser, the optimizer
   and a Poisson loader whose masks come from the run's ``NoiseSource``; every optimizer
   step that ends a logical batch is recorded by the run's accountant.
2. Opacus' ``BatchMemoryManager`` splits a large Poisson batch into physical batches; the
   optimizer only clips and accumulates until the last one, then adds noise once.
3. Each physical batch of b examples is laid out as ``[b*K]`` rows (copy k of example i at
   row i*K + k), each row with its own noise level, noise and label dropout.
4. Each example's gradient is that of the MEAN of its K per-row losses: by default computed
   directly as B rows with ``torch.func.vmap`` (``per_example.py``); with
   ``per_example_gradients="hooks"`` Opacus' hooks compute B*K rows and
   :func:`fold_per_example_gradients` averages them to B rows before ``step()``. Either
   way, in float32, and only then does the optimizer clip: it sees b rows, each example
   moves the sum by at most C, and the guarantee is that of (sigma, q, steps) whatever K
   is. Clipping B*K rows instead would let one example contribute up to K*C while the
   accountant assumes C (the noise-multiplicity trap, docs/images.md).
5. An empty Poisson batch still takes a step (noise only) and is accounted.
6. Patient-level runs (``synthgen.images.patients``): the Poisson loader samples patients,
   an example is a patient's up to k images with K draws each (``k*K`` rows, padding
   weighted 0), and steps 3-4 hold with k*K rows per example: one clipped gradient per
   patient.

Ghost clipping is never used here: its per-example norms cannot be folded over K copies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from synthgen.errors import ConfigurationError
from synthgen.images.config import TrainingConfig
from synthgen.images.data import ImageSet, to_model_range
from synthgen.images.edm import Denoiser, EDMConfig, loss_per_row
from synthgen.privacy.accountant import RDP_ORDERS, RunAccountant
from synthgen.privacy.secure_random import NoiseSource
from synthgen.training.distributed import TensorShard, World, continue_together
from synthgen.training.ema import PowerEMA


class ImageTensorDataset(torch.utils.data.Dataset):
    """Images in the model's range, fetched a whole batch at a time (``__getitems__``)."""

    def __init__(self, images: ImageSet):
        self.x = to_model_range(images.images)
        self.y = torch.from_numpy(images.labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.x[idx], self.y[idx]


class ImageShard(torch.utils.data.Dataset):
    """One rank's images (``synthgen.training.distributed.shard`` of an
    ``ImageTensorDataset``), fetched as the trainer fetches them: ``(x, y)``."""

    def __init__(self, shard: TensorShard):
        self.shard = shard

    @classmethod
    def split(cls, data: ImageTensorDataset, world: World) -> list[TensorShard]:
        """The disjoint shards of ``data``, one per rank (as dicts of tensors)."""
        from synthgen.training.distributed import TensorShard

        n = len(data)
        if n < world.size:
            raise ConfigurationError(f"{world.size} processes need at least {world.size} images")
        shards = []
        for rank in range(world.size):
            x, y = data.__getitems__(list(range(rank, n, world.size)))
            shards.append(TensorShard({"x": x, "y": y}))
        return shards

    def __len__(self) -> int:
        return len(self.shard)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.shard.__getitems__(indices)
        return batch["x"], batch["y"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from synthgen.errors import ConfigurationError

        raise ConfigurationError("device cuda requested but CUDA is not available")
    return torch.device(name)


def autocast_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA (or when asked); None means float32 throughout."""
    if setting == "bf16":
        return torch.bfloat16
    if setting == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def fold_per_example_gradients(module: nn.Module, *, batch_size: int, multiplicity: int) -> None:
    """Per-row gradients ``[b*K, ...]`` -> per-example gradients ``[b, ...]`` (mean over K),
    in float32 so that the optimizer's norms and clipping are exact under mixed precision."""
    from synthgen.privacy.dp_sgd import fold_noise_multiplicity

    for p in module.parameters():
        gs = getattr(p, "grad_sample", None)
        if gs is not None and gs.dtype != torch.float32:
            p.grad_sample = gs.float()  # type: ignore[attr-defined]
    fold_noise_multiplicity(module, batch_size=batch_size, multiplicity=multiplicity)


class EpsilonTracker:
    """Epsilon after t identical DP-SGD steps, cheaply: the RDP of t steps is t times the RDP
    of one (exactly as Opacus computes it), so one RDP evaluation serves the whole run. The
    certificate still uses ``RunAccountant.epsilon`` on the recorded history."""

    def __init__(
        self,
        accountant: RunAccountant,
        *,
        noise_multiplier: float,
        sample_rate: float,
        delta: float,
    ):
        from opacus.accountants.analysis import rdp as analysis

        self._analysis = analysis
        self.delta = accountant.rdp_delta(delta)
        self.orders = list(RDP_ORDERS)
        self.per_step = analysis.compute_rdp(
            q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=self.orders
        )
        base = np.zeros(len(self.orders))
        for sigma, q, n in [*accountant.release_history, *accountant.other_history]:
            base = base + analysis.compute_rdp(
                q=q, noise_multiplier=sigma, steps=n, orders=self.orders
            )
        self.base = base

    def epsilon(self, steps: int) -> float:
        import warnings

        if steps <= 0 and not self.base.any():
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eps, _ = self._analysis.get_privacy_spent(
                orders=self.orders, rdp=self.base + steps * self.per_step, delta=self.delta
            )
        return float(eps)


@dataclass
class StepRecord:
    step: int
    loss: float | None  # mean per-row loss of the batch (private: training log only)
    lr: float
    seconds: float


@dataclass
class TrainingState:
    """Everything a checkpoint must restore for a resumed run to continue exactly."""

    denoiser: Denoiser
    ema: PowerEMA
    optimizer: torch.optim.Optimizer  # the plain optimizer (Opacus wraps it per session)
    generator: torch.Generator  # diffusion draws (seeded; never privacy randomness)
    step: int = 0


def new_state(denoiser: Denoiser, cfg: TrainingConfig, *, seed: int) -> TrainingState:
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=cfg.learning_rate)
    generator = torch.Generator()
    generator.manual_seed(int(np.random.SeedSequence([seed, 0xD1FF]).generate_state(1)[0]))
    return TrainingState(
        denoiser=denoiser,
        ema=PowerEMA(denoiser, sigma_rel=cfg.ema_sigma_rel),
        optimizer=optimizer,
        generator=generator,
    )


def learning_rate(cfg: TrainingConfig, step: int) -> float:
    """Linear warm-up to the base rate, then constant: the power EMA does the annealing
    (the tables' cosine decay, under a fixed-decay EMA, is not shared for that reason)."""
    return cfg.learning_rate * min(1.0, (step + 1) / max(1, cfg.warmup_steps))


StepCallback = Callable[[StepRecord], bool]  # return True to stop after this step


def train_private(
    state: TrainingState,
    data: ImageTensorDataset,
    *,
    cfg: TrainingConfig,
    edm: EDMConfig,
    noise_multiplier: float,
    steps: int,
    accountant: RunAccountant | None,
    noise: NoiseSource,
    device: torch.device,
    on_step: StepCallback,
    public_record_count: int,
    world_size: int = 1,
) -> None:
    """Run ``steps`` DP-SGD steps from ``state`` (in place). ``on_step`` is called after
    each logical step; when it returns True, training stops there. q is
    ``cfg.batch_size / public_record_count`` (the run's N-hat, never ``len(data)``).
    ``world_size > 1``: ``data`` is this rank's shard, rank 0 alone holds the
    ``accountant`` (``synthgen.privacy.distributed_dp``) and decides, after each step,
    whether every rank goes on (``synthgen.training.distributed``)."""

    from opacus.utils.batch_memory_manager import BatchMemoryManager

    from synthgen.images.patients import training_draws
    from synthgen.images.per_example import VmapPerExampleGradients, set_empty_grad_samples
    from synthgen.privacy.dp_sgd import make_private

    if steps <= 0:
        return
    model = state.denoiser
    pt = make_private(
        model,
        state.optimizer,
        data,
        noise_multiplier=noise_multiplier,
        max_grad_norm=cfg.max_grad_norm,
        expected_batch_size=cfg.batch_size,
        public_record_count=public_record_count,
        steps=steps,
        accountant=accountant,
        noise=noise,
        grad_sample_mode="hooks",
        world_size=world_size,
    )
    k = cfg.noise_multiplicity
    amp = autocast_dtype(cfg.mixed_precision, device)
    vmap_grads = None
    if cfg.per_example_gradients == "vmap":
        # functorch transforms cannot run through full backward hooks: remove Opacus'
        # hooks entirely; the optimizer reads only the grad_sample rows written by vmap
        pt.module.remove_hooks()  # type: ignore[operator]
        vmap_grads = VmapPerExampleGradients(model, sigma_data=edm.sigma_data, autocast_dtype=amp)
    # a patient-level dataset's example holds up to k images (synthgen.images.patients)
    physical = max(1, cfg.physical_rows // (k * getattr(data, "records_per_example", 1)))
    loss_sum, rows_seen, started = 0.0, 0, time.perf_counter()
    try:
        with BatchMemoryManager(
            data_loader=pt.loader, max_physical_batch_size=physical, optimizer=pt.optimizer
        ) as loader:
            for batch in loader:
                lr = learning_rate(cfg, state.step)
                for group in state.optimizer.param_groups:
                    group["lr"] = lr
                b = len(batch[1])
                if b == 0:
                    # An empty Poisson batch: no example, no gradient; the step still adds
                    # noise and is accounted, exactly as the analysis assumes.
                    set_empty_grad_samples(model)
                else:
                    # m rows per example: K draws, or K per image of a patient (row_weight)
                    draws, m, row_weight = training_draws(
                        batch,
                        multiplicity=k,
                        edm=edm,
                        null_label=model.null_label,
                        generator=state.generator,
                        augment=cfg.augment,
                        device=device,
                    )
                    if vmap_grads is not None:
                        losses = vmap_grads(
                            draws, batch_size=b, multiplicity=m, row_weight=row_weight
                        )
                    else:
                        with torch.autocast(
                            device_type=device.type,
                            dtype=amp or torch.float32,
                            enabled=amp is not None,
                        ):
                            rows = loss_per_row(pt.module, draws, edm.sigma_data)
                        if row_weight is not None:
                            rows = rows * row_weight
                        # mean over the b*m rows: Opacus rescales by the row count, so each
                        # row's grad_sample is the gradient of that row's own loss ...
                        rows.mean().backward()
                        # ... and the fold makes it one gradient per example before clipping
                        fold_per_example_gradients(pt.module, batch_size=b, multiplicity=m)
                        losses = rows.detach().view(b, m).mean(1)
                    loss_sum += float(losses.sum())
                    rows_seen += b
                pt.optimizer.step()
                moved = not pt.optimizer._is_last_step_skipped
                pt.optimizer.zero_grad(set_to_none=True)
                if not moved:
                    continue
                state.step += 1
                state.ema.update(model, state.step)
                record = StepRecord(
                    step=state.step,
                    loss=loss_sum / rows_seen if rows_seen else None,
                    lr=lr,
                    seconds=time.perf_counter() - started,
                )
                loss_sum, rows_seen, started = 0.0, 0, time.perf_counter()
                try:
                    stop = on_step(record)
                except BaseException:
                    if world_size > 1:  # the other ranks stop too
                        continue_together(False)
                    raise
                if world_size > 1:
                    stop = not continue_together(not stop)
                if stop:
                    break
    finally:
        _unwrap(pt.module)


def _unwrap(module: nn.Module) -> None:
    """Remove Opacus' hooks so the model can be wrapped again (resume, next session)."""
    remove = getattr(module, "_close", None)
    if callable(remove):
        remove()
    for p in module.parameters():
        for attr in ("grad_sample", "summed_grad", "_forward_counter", "_current_grad_sample"):
            if hasattr(p, attr):
                delattr(p, attr)


def train_nonprivate(
    state: TrainingState,
    data: ImageTensorDataset,
    *,
    cfg: TrainingConfig,
    edm: EDMConfig,
    steps: int,
    device: torch.device,
    on_step: StepCallback,
) -> None:
    """Same batches (Poisson, same expected size), same K layout, no clipping and no noise:
    the epsilon = inf baseline, and the non-private twin for timing."""
    from synthgen.images.patients import training_draws
    from synthgen.privacy.dp_sgd import PoissonBatchSampler

    model = state.denoiser
    k = cfg.noise_multiplicity
    amp = autocast_dtype(cfg.mixed_precision, device)
    sample_rate = min(1.0, cfg.batch_size / len(data))
    sampler = PoissonBatchSampler(
        num_samples=len(data), sample_rate=sample_rate, steps=steps, noise=NoiseSource(secure=False)
    )
    per_example = k * getattr(data, "records_per_example", 1)  # rows per example
    physical = max(1, cfg.physical_rows // per_example)
    for batch in sampler:
        started = time.perf_counter()
        lr = learning_rate(cfg, state.step)
        for group in state.optimizer.param_groups:
            group["lr"] = lr
        state.optimizer.zero_grad(set_to_none=True)
        loss_sum, n_rows = 0.0, len(batch) * per_example
        for start in range(0, len(batch), physical):
            draws, _, row_weight = training_draws(
                data.__getitems__(batch[start : start + physical]),
                multiplicity=k,
                edm=edm,
                null_label=model.null_label,
                generator=state.generator,
                augment=cfg.augment,
                device=device,
            )
            with torch.autocast(
                device_type=device.type, dtype=amp or torch.float32, enabled=amp is not None
            ):
                rows = loss_per_row(model, draws, edm.sigma_data)
            if row_weight is not None:
                rows = rows * row_weight
            (rows.sum() / n_rows).backward()
            loss_sum += float(rows.detach().sum())
        if batch:
            state.optimizer.step()
        state.step += 1
        state.ema.update(model, state.step)
        record = StepRecord(
            step=state.step,
            loss=loss_sum / n_rows if n_rows else None,
            lr=lr,
            seconds=time.perf_counter() - started,
        )
        if on_step(record):
            break
