"""Running one training loop on several processes with torch.distributed.

Rank 0 is the process that read the data and did everything before DP-SGD (the DP
statistics, the DP record count, the noise calibration); the other ranks never read the
source. Rank 0 hands each of them a ``Task`` (what to run: the model, the options) and a
disjoint shard of the training examples over the process group, then all ranks run the
same loop. Only rank 0 accounts, checkpoints and writes files.

Two ways to get the other ranks:
- ``--processes N`` (``leader_group``): rank 0 spawns N - 1 local processes and meets them
  on a free port of 127.0.0.1;
- ``torchrun`` (``torchrun_world``): every rank runs ``synthgen train``; ranks above 0 see
  ``RANK`` in their environment and call ``serve_as_helper`` instead of training, so they
  wait for rank 0, which may spend minutes on its DP statistics first.

The task and the shards travel pickled over the group, between our own processes: the
group must stay inside the private area (loopback, or a private network between the
steward's machines). Nothing pickled is ever written to a file.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import torch

from synthgen.errors import ConfigurationError

# torchrun: rank 0 may read and preprocess a large source before it joins, and the other
# ranks wait this long for it (also the longest any collective may wait)
TORCHRUN_TIMEOUT = timedelta(hours=2)
# --processes: the helpers start when rank 0 is ready; a helper that failed to start is
# noticed this late at worst
LOCAL_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class World:
    rank: int
    size: int

    @property
    def leader(self) -> bool:
        return self.rank == 0


SINGLE = World(rank=0, size=1)


class Task(Protocol):
    """What a helper rank runs: called with its world and its shard of the examples."""

    def __call__(self, world: World, shard: TensorShard) -> None: ...


class TensorShard:
    """Training examples as a dict of tensors sharing the first axis (what a dataset's
    ``__getitems__`` returns for a list of indices): a dataset for the Poisson loader."""

    def __init__(self, columns: dict[str, torch.Tensor]):
        sizes = {int(t.shape[0]) for t in columns.values()}
        if len(sizes) != 1:
            raise ValueError("every column of a shard needs the same number of examples")
        self.columns = columns
        self.size = sizes.pop()

    def __len__(self) -> int:
        return self.size

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {name: column[idx] for name, column in self.columns.items()}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])


def idle(world: World, shard: TensorShard) -> None:
    """The task of the other ranks when rank 0 runs no DP-SGD step (all ran already, or
    a non-private run, which trains on rank 0 alone)."""


def shard(examples: Any, world: World) -> list[TensorShard]:
    """Split ``examples`` (anything with ``len`` and ``__getitems__``) into ``world.size``
    disjoint shards, example i to rank i mod W: each example is on exactly one rank."""
    n = len(examples)
    if n < world.size:
        raise ConfigurationError(
            f"{world.size} processes need at least {world.size} training examples"
        )
    return [
        TensorShard(examples.__getitems__(list(range(rank, n, world.size))))
        for rank in range(world.size)
    ]


def torchrun_world() -> World | None:
    """The world torchrun (or any launcher setting RANK and WORLD_SIZE) started, if any."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    return World(rank=int(os.environ["RANK"]), size=size)


def requested_world_size(processes: int | None) -> int:
    """The number of ranks a run will have: torchrun's world size, else ``processes``."""
    launched = torchrun_world()
    return launched.size if launched is not None else max(1, processes or 1)


def is_torchrun_helper() -> bool:
    world = torchrun_world()
    return world is not None and not world.leader


def refuse_torchrun_helper() -> None:
    """Training starts on rank 0 only: a rank above 0 that trained would read the source
    and spend its own DP statistics, then stall the group."""
    world = torchrun_world()
    if world is not None and not world.leader:
        raise ConfigurationError(
            f"this is torchrun rank {world.rank}: only rank 0 trains; the other ranks call "
            "synthgen.training.distributed.serve_as_helper() (synthgen train does)"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _join(world: World, init_method: str, timeout: timedelta) -> None:
    import torch.distributed as dist

    # gloo: the tables train on CPU (NCCL would need every tensor on a GPU)
    dist.init_process_group(
        "gloo",
        init_method=init_method,
        rank=world.rank,
        world_size=world.size,
        timeout=timeout,
    )


@contextmanager
def leader_group(processes: int) -> Iterator[World]:
    """Rank 0's process group: torchrun's world when launched by torchrun, else
    ``processes`` local ranks (this one and ``processes - 1`` spawned helpers)."""
    import torch.distributed as dist

    launched = torchrun_world()
    if launched is not None:
        refuse_torchrun_helper()
        if processes not in (1, launched.size):
            raise ConfigurationError(
                f"--processes {processes} differs from torchrun's world size {launched.size}"
            )
        _join(launched, "env://", TORCHRUN_TIMEOUT)
        try:
            yield launched
        finally:
            dist.destroy_process_group()
        return
    if processes <= 1:
        yield SINGLE
        return
    port = _free_port()
    init_method = f"tcp://127.0.0.1:{port}"
    context = torch.multiprocessing.get_context("spawn")
    helpers = [
        context.Process(target=_helper_main, args=(World(rank, processes), init_method))
        for rank in range(1, processes)
    ]
    for helper in helpers:
        helper.start()
    try:
        _join(World(0, processes), init_method, LOCAL_TIMEOUT)
        try:
            yield World(0, processes)
        finally:
            dist.destroy_process_group()
    finally:
        for helper in helpers:
            helper.join(timeout=30)
            if helper.is_alive():  # rank 0 failed mid-step: the helper waits on a collective
                helper.terminate()
                helper.join()


def send_task(task: Task, shards: list[TensorShard]) -> TensorShard:
    """Rank 0: give every helper ``task`` and its shard; returns rank 0's own shard."""
    import torch.distributed as dist

    dist.broadcast_object_list([task], src=0)
    mine: list[Any] = [None]
    dist.scatter_object_list(mine, shards, src=0)
    shard_of_rank_0: TensorShard = mine[0]
    return shard_of_rank_0


def continue_together(go_on: bool) -> bool:
    """After each step: rank 0 says whether training goes on (False: it stopped, cancelled
    or failed), so no helper waits forever on the next all-reduce."""
    import torch.distributed as dist

    flag = torch.tensor([1 if go_on else 0])
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _receive_and_run(world: World) -> None:
    import torch.distributed as dist

    received: list[Any] = [None]
    dist.broadcast_object_list(received, src=0)
    mine: list[Any] = [None]
    dist.scatter_object_list(mine, None, src=0)
    received[0](world, mine[0])


def _helper_main(world: World, init_method: str) -> None:
    """Entry of a spawned helper (``--processes``)."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    _join(world, init_method, LOCAL_TIMEOUT)
    try:
        _receive_and_run(world)
    finally:
        dist.destroy_process_group()


def serve_as_helper() -> None:
    """A torchrun rank above 0: wait for rank 0's task, run it, return."""
    import torch.distributed as dist

    world = torchrun_world()
    if world is None or world.leader:
        raise RuntimeError("serve_as_helper runs on torchrun ranks above 0 only")
    _join(world, "env://", TORCHRUN_TIMEOUT)
    try:
        _receive_and_run(world)
    finally:
        dist.destroy_process_group()
