"""DP-SGD over several processes (torch.distributed): noise added once to the global sum.

One DP-SGD step over W ranks must be the same mechanism as on one process, or the
accountant's epsilon is wrong:
- every record lives on exactly one rank, and each rank Poisson-samples its shard with the
  *global* rate q = B / N-hat, so the union of the W local batches is a Poisson sample of
  the whole set with rate q, which is what the accountant (on rank 0, with that q) analyses;
- each rank clips its own per-example gradients (ghost or hooks, as on one process) and
  sums them; the sums are all-reduced, so the global sum moves by at most C when one record
  is added or removed;
- Gaussian noise N(0, sigma^2 C^2) is added **exactly once** to that global sum: rank 0
  draws it from its NoiseSource (OS entropy) before the all-reduce and the other ranks add
  nothing. Noise on every rank gives W times the variance (a model W times noisier than
  the certificate says); no rank adding noise voids the guarantee; noise split as
  sigma/sqrt(W) per rank is right in distribution but makes the guarantee depend on every
  rank's noise source. Tests measure the variance for W = 1, 2 and 4;
- the sum is divided by the global expected batch size q * N-hat, as on one process.

Opacus' ``DistributedDPOptimizer`` does the same with a per-rank expected batch and a
division by the world size after the reduce; here the division is by the global expected
batch directly, so the normaliser is the one the certificate states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class NoiseOnceAcrossRanks:
    """Mixin for Opacus' DP optimizers: ``add_noise`` on rank 0 only, then a SUM all-reduce.

    Placed before the Opacus class in the bases; ``add_noise_on_leader`` is the single-process
    noise step (our secure ``add_noise``)."""

    add_noise_on_leader: Callable[[Any], None]
    params: list[torch.Tensor]

    def add_noise(self) -> None:
        import torch.distributed as dist

        if dist.get_rank() == 0:
            type(self).add_noise_on_leader(self)
            return
        from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

        for p in self.params:
            _check_processed_flag(p.summed_grad)  # type: ignore[attr-defined]
            p.grad = p.summed_grad.view_as(p)  # type: ignore[attr-defined]
            _mark_as_processed(p.summed_grad)  # type: ignore[attr-defined]

    def reduce_gradients(self) -> None:
        """Sum the (already scaled) gradients of all ranks: (sum_r S_r + noise) / B."""
        import torch.distributed as dist

        for p in self.params:
            if p.requires_grad and p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)

    def step(self, closure: Callable[[], float] | None = None) -> torch.Tensor | None:
        if closure is not None:
            with torch.enable_grad():
                closure()
        if self.pre_step():  # type: ignore[attr-defined]
            self.reduce_gradients()
            return self.original_optimizer.step()  # type: ignore[attr-defined]
        return None


def noise_once_optimizer_class(
    single_process_class: type, *, add_noise: Callable[[Any], None]
) -> type:
    """``single_process_class`` (an Opacus DP optimizer) made to add ``add_noise`` once,
    on rank 0, and to sum the gradients of all ranks before stepping."""
    return type(
        f"NoiseOnce{single_process_class.__name__}",
        (NoiseOnceAcrossRanks, single_process_class),
        {"add_noise_on_leader": staticmethod(add_noise)},
    )
