"""DP-SGD through Opacus: per-example clipping, Gaussian noise, Poisson sampling.

We assemble Opacus' parts ourselves instead of calling ``PrivacyEngine.make_private``
for three reasons: the noise and the Poisson masks come from our ``NoiseSource`` (the OS
CSPRNG; Opacus' secure mode needs the unmaintained torchcsprng), the sample rate is exact
(q = expected batch / N rather than 1 / len(loader)), and the run's accountant also holds
the preprocessing releases.

N here is the *public* record count (``synthgen.privacy.record_count``: a DP estimate or a
declared bound), never ``len(dataset)``: under add/remove adjacency the exact N is private,
and q as well as the gradient normaliser (the expected batch size) end up in the certificate
and the weights. Poisson sampling every real record with that public q is exactly the
subsampled Gaussian mechanism the accountant analyses.

Noise multiplicity (Dockhorn et al. 2023): the loss of one example is the mean over K
(timestep, noise) draws and only then is its gradient clipped, so each example still
contributes one gradient of norm <= C and the guarantee does not depend on K. Two correct
layouts exist, and one wrong one:
- ``[B, K, ...]`` for models made of Linear/Embedding layers: Opacus treats K as a
  sequence axis and sees B rows. Works with ghost clipping. (Tabular MLP.)
- ``[B*K, ...]`` for conv nets in hooks mode, with ``fold_noise_multiplicity`` called
  between ``backward()`` and ``step()`` so the optimizer clips B rows. (Image U-Net.)
- ``[B*K, ...]`` without folding makes Opacus clip B*K rows: one example then moves the
  sum by up to K*C while the noise stays sigma*C. Never do this; never combine ghost
  clipping with a ``[B*K]`` batch (ghost norms cannot be folded).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from synthgen.errors import PrivacyParameterError
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.distributed_dp import noise_once_optimizer_class
from synthgen.privacy.embedding_norms import use_fast_embedding_norms
from synthgen.privacy.secure_random import NoiseSource

GradSampleMode = Literal["ghost", "hooks"]


class PoissonBatchSampler(Sampler[list[int]]):
    """Poisson sampling: each record joins each batch independently with probability q.

    Yields ``steps`` batches (possibly empty). Subclasses nothing of Opacus so that the
    masks come from our ``NoiseSource``; Opacus' BatchMemoryManager only needs ``len``.
    """

    def __init__(self, *, num_samples: int, sample_rate: float, steps: int, noise: NoiseSource):
        if num_samples <= 0:
            raise PrivacyParameterError("Poisson sampling needs at least one record")
        if not 0 < sample_rate <= 1:
            raise PrivacyParameterError(f"sample rate must be in (0, 1], got {sample_rate}")
        self.num_samples, self.sample_rate, self.steps, self.noise = (
            num_samples,
            sample_rate,
            steps,
            noise,
        )

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        import numpy as np

        for _ in range(self.steps):
            mask = self.noise.poisson_mask(self.num_samples, self.sample_rate)
            yield np.nonzero(mask)[0].tolist()


class _IndexBatch:
    """Collate for datasets that fetch a whole batch by index list (``__getitems__``)."""

    def __call__(self, batch: Any) -> Any:
        return batch


def poisson_loader(
    dataset: Any, *, sample_rate: float, steps: int, noise: NoiseSource
) -> DataLoader:
    """A loader of Poisson batches. ``dataset`` must implement ``__getitems__(indices)``
    returning the batch (empty index lists included)."""
    if not hasattr(dataset, "__getitems__"):
        raise TypeError("poisson_loader needs a dataset with __getitems__")
    sampler = PoissonBatchSampler(
        num_samples=len(dataset),
        sample_rate=sample_rate,
        steps=steps,
        noise=noise,
    )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=_IndexBatch())


def _secure_add_noise(optimizer: Any) -> None:
    """Opacus' ``add_noise`` with the noise drawn from our NoiseSource."""
    from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

    for p in optimizer.params:
        _check_processed_flag(p.summed_grad)
        noise = optimizer.noise_source.gaussian_like(
            p.summed_grad, std=optimizer.noise_multiplier * optimizer.max_grad_norm
        )
        p.grad = (p.summed_grad + noise).view_as(p)
        _mark_as_processed(p.summed_grad)


@dataclass
class PrivateTraining:
    """What ``make_private`` hands back: use these instead of the originals."""

    module: nn.Module  # Opacus GradSampleModule wrapping the model
    optimizer: Any  # Opacus DPOptimizer (or its fast-gradient-clipping variant)
    loader: DataLoader
    sample_rate: float
    expected_batch_size: float
    grad_sample_mode: GradSampleMode

    def loss_backward(self, loss_per_example: torch.Tensor) -> None:
        """Backward pass for a ``[B]`` vector of per-example losses (mean reduction)."""
        if self.grad_sample_mode == "ghost":
            from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

            DPTensorFastGradientClipping(
                self.module, self.optimizer, loss_per_example, "mean"
            ).backward()
        else:
            loss_per_example.mean().backward()

    def empty_backward(self) -> None:
        """Stand-in for the backward pass of an empty Poisson batch: a zero gradient, to
        which the optimizer step still adds the full noise (and the accountant counts it)."""
        for p in self.optimizer.params:
            p.grad = torch.zeros_like(p)
            if self.grad_sample_mode == "hooks":
                p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)

    def step(self) -> bool:
        """Optimizer step; True when a logical batch ended and the weights moved."""
        self.optimizer.step()
        moved = not self.optimizer._is_last_step_skipped
        self.optimizer.zero_grad()
        return moved


def make_private(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    dataset: Any,
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: int,
    public_record_count: float,
    steps: int,
    accountant: RunAccountant | None,
    noise: NoiseSource,
    grad_sample_mode: GradSampleMode = "ghost",
    world_size: int = 1,
) -> PrivateTraining:
    """Wrap model, optimizer and data for DP-SGD; every optimizer step is accounted.

    q = ``expected_batch_size / public_record_count`` (capped at 1), and the summed noisy
    gradient is divided by q * public_record_count: both public, whatever ``len(dataset)``.

    ``world_size > 1`` (an initialised torch.distributed group): ``dataset`` is this rank's
    shard, Poisson-sampled with the same global q; the noise is added once, on rank 0, to
    the all-reduced sum (``synthgen.privacy.distributed_dp``). Only rank 0 passes the
    ``accountant``; the others pass None (they account nothing, rank 0 accounts every step)."""
    from opacus import GradSampleModule
    from opacus.grad_sample import GradSampleModuleFastGradientClipping
    from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping

    # Opacus' hooks warn that module outputs (not inputs) need gradients: expected here
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    if not public_record_count >= 1:
        raise PrivacyParameterError(
            f"the public record count must be at least 1, got {public_record_count}"
        )
    n = float(public_record_count)
    if not (noise_multiplier > 0 and math.isfinite(noise_multiplier)):
        raise PrivacyParameterError(f"noise multiplier must be positive, got {noise_multiplier}")
    if not max_grad_norm > 0:
        raise PrivacyParameterError(f"max_grad_norm must be positive, got {max_grad_norm}")
    sample_rate = min(1.0, expected_batch_size / n)
    leader = world_size == 1 or torch.distributed.get_rank() == 0
    if leader != (accountant is not None):
        raise ValueError("the accountant belongs to rank 0, and only to rank 0")

    if grad_sample_mode == "ghost":
        use_fast_embedding_norms()
        module: nn.Module = GradSampleModuleFastGradientClipping(
            model,
            batch_first=True,
            loss_reduction="mean",
            max_grad_norm=max_grad_norm,
            use_ghost_clipping=True,
        )
        optimizer_class: type = DPOptimizerFastGradientClipping
    elif grad_sample_mode == "hooks":
        module = GradSampleModule(model, batch_first=True, loss_reduction="mean")
        optimizer_class = DPOptimizer
    else:
        raise ValueError(f"unknown grad_sample_mode {grad_sample_mode!r}")
    # Poisson sampling: a record may appear in no batch, so gradients never accumulate
    # across logical batches except through BatchMemoryManager's explicit protocol.
    if world_size > 1:
        secure_class = noise_once_optimizer_class(optimizer_class, add_noise=_secure_add_noise)
    else:
        secure_class = type(
            f"Secure{optimizer_class.__name__}",
            (optimizer_class,),
            {"add_noise": _secure_add_noise},
        )
    dp_optimizer = secure_class(
        optimizer,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=sample_rate * n,
        loss_reduction="mean",
    )
    dp_optimizer.noise_source = noise
    if accountant is not None:  # the global q: the union of the ranks' batches is sampled at q
        dp_optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
    loader = poisson_loader(dataset, sample_rate=sample_rate, steps=steps, noise=noise)
    return PrivateTraining(
        module=module,
        optimizer=dp_optimizer,
        loader=loader,
        sample_rate=sample_rate,
        expected_batch_size=sample_rate * n,
        grad_sample_mode=grad_sample_mode,
    )


def fold_noise_multiplicity(module: nn.Module, *, batch_size: int, multiplicity: int) -> None:
    """Average per-sample gradients over the K copies of each example (hooks mode).

    Call between ``backward()`` and ``optimizer.step()`` when the batch was laid out as
    ``[B*K, ...]`` with copy k of example i at row ``i*K + k``: afterwards Opacus clips B
    rows, one per example. Requires row-independent layers (GroupNorm, not BatchNorm).
    """
    for p in module.parameters():
        grad_sample = getattr(p, "grad_sample", None)
        if grad_sample is None:
            continue
        if grad_sample.shape[0] != batch_size * multiplicity:
            raise RuntimeError(
                f"expected {batch_size * multiplicity} per-sample gradients, got "
                f"{grad_sample.shape[0]}"
            )
        p.grad_sample = grad_sample.view(batch_size, multiplicity, *grad_sample.shape[1:]).mean(1)  # type: ignore[attr-defined]
