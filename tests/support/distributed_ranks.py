"""DP-SGD experiments run on every rank of a gloo group (spawned processes), or on one
process for the baseline; each returns what the test compares against ground truth."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.dp_sgd import make_private
from synthgen.privacy.secure_random import NoiseSource
from synthgen.training.distributed import TensorShard, World
from tests.privacy.test_dp_sgd import Rows, make_model, per_example_loss

# all-zero gradients: what a step adds is the noise, divided by the expected batch
ZERO_WIDTH, ZERO_RECORDS, ZERO_BATCH, ZERO_STEPS, SIGMA, CLIP = 3000, 64, 8, 2, 1.3, 0.7
# the clipped sum: q = 1, so every rank's batch is its whole shard, known in advance
SUM_RECORDS, SUM_CLIP = 12, 0.05
# the sampling rate each rank uses
RATE_RECORDS, RATE_BATCH, RATE_STEPS = 400, 100, 12


def _one_step_change(
    pt: Any, params: list[torch.Tensor], batch: Any, loss: Any
) -> list[torch.Tensor]:
    """Run one DP step with SGD(lr=1) and return what it subtracted: the noisy gradient."""
    before = [p.detach().clone() for p in params]
    if loss is None:
        pt.empty_backward()
    else:
        pt.loss_backward(loss)
    assert pt.step()
    return [b - p.detach() for b, p in zip(before, params, strict=True)]


def noise_of_zero_gradients(world: World) -> dict[str, Any]:
    """Steps on inputs that give every parameter a zero gradient: the change is the noise."""
    model = nn.Linear(ZERO_WIDTH, 1, bias=False)
    nn.init.zeros_(model.weight)
    mine = list(range(world.rank, ZERO_RECORDS, world.size))
    shard = TensorShard({"x": torch.zeros(len(mine), ZERO_WIDTH)})
    accountant = RunAccountant() if world.leader else None
    pt = make_private(
        model,
        torch.optim.SGD(model.parameters(), lr=1.0),
        shard,
        noise_multiplier=SIGMA,
        max_grad_norm=CLIP,
        expected_batch_size=ZERO_BATCH,
        public_record_count=ZERO_RECORDS,
        steps=ZERO_STEPS,
        accountant=accountant,
        noise=NoiseSource(),
        world_size=world.size,
    )
    changes = []
    for batch in pt.loader:
        x = batch["x"]
        loss = None if x.shape[0] == 0 else (pt.module(x) ** 2).sum(1)
        changes.append(_one_step_change(pt, [model.weight], batch, loss)[0].flatten())
    return {
        "noise": torch.cat(changes),
        "weights": model.weight.detach().clone(),
        "history": accountant.sgd_history if accountant is not None else None,
    }


def clipped_sum(world: World) -> dict[str, Any]:
    """One step with q = 1 and negligible noise on this rank's shard of ``Rows``."""
    data = Rows(SUM_RECORDS)
    model = make_model()
    mine = list(range(world.rank, SUM_RECORDS, world.size))
    shard = TensorShard(data.__getitems__(mine))
    pt = make_private(
        model,
        torch.optim.SGD(model.parameters(), lr=1.0),
        shard,
        noise_multiplier=1e-9,
        max_grad_norm=SUM_CLIP,
        expected_batch_size=SUM_RECORDS,
        public_record_count=SUM_RECORDS,
        steps=1,
        accountant=RunAccountant() if world.leader else None,
        noise=NoiseSource(),
        world_size=world.size,
    )
    (batch,) = list(pt.loader)
    assert batch["x"].shape[0] == len(mine)
    change = _one_step_change(
        pt, list(model.parameters()), batch, per_example_loss(pt.module, batch)
    )
    return {"gradient": change}


def batch_sizes(world: World) -> dict[str, Any]:
    """How many records each rank's Poisson sampler takes per step (global q)."""
    model = nn.Linear(2, 1)
    mine = list(range(world.rank, RATE_RECORDS, world.size))
    pt = make_private(
        model,
        torch.optim.SGD(model.parameters(), lr=0.0),
        TensorShard({"x": torch.zeros(len(mine), 2)}),
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        expected_batch_size=RATE_BATCH,
        public_record_count=RATE_RECORDS,
        steps=RATE_STEPS,
        accountant=RunAccountant() if world.leader else None,
        noise=NoiseSource(secure=False),
        world_size=world.size,
    )
    sizes = []
    for batch in pt.loader:
        x = batch["x"]
        sizes.append(int(x.shape[0]))
        _one_step_change(
            pt, [model.weight], batch, None if x.shape[0] == 0 else pt.module(x).sum(1)
        )
    return {"sizes": sizes}


EXPERIMENTS = {"noise": noise_of_zero_gradients, "sum": clipped_sum, "rates": batch_sizes}


def _rank_main(
    rank: int, size: int, init_method: str, out: str, names: list[str], broken: bool
) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    if broken:  # the bug these tests must catch: every rank adds the full noise
        import synthgen.privacy.distributed_dp as distributed_dp

        distributed_dp.NoiseOnceAcrossRanks.add_noise = lambda self: type(self).add_noise_on_leader(
            self
        )  # type: ignore[method-assign]
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=size)
    try:
        results = {name: EXPERIMENTS[name](World(rank, size)) for name in names}
    finally:
        dist.destroy_process_group()
    torch.save(results, Path(out) / f"rank{rank}.pt")


def run_on_ranks(
    size: int, names: list[str], out: Path, *, broken: bool = False
) -> list[dict[str, Any]]:
    """Each experiment in ``names`` on ``size`` gloo ranks; one result dict per rank."""
    if size == 1 and not broken:
        return [{name: EXPERIMENTS[name](World(0, 1)) for name in names}]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(
        _rank_main,
        args=(size, f"tcp://127.0.0.1:{port}", str(out), names, broken),
        nprocs=size,
        join=True,
    )
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(size)]
