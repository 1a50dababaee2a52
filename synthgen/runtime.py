"""Process settings the library applies itself before torch loads, so that training runs
as fast from Python (a script, a notebook) as from the CLI or a worker.

OpenMP's threads spin-wait between parallel regions by default. On a small shared machine
(2 cores running the API, a worker and a test) that starves the other processes and the
training itself: the same 40-step tabular training took 45.8 s from Python with the
default policy and 10.8 s with ``OMP_WAIT_POLICY=PASSIVE`` (issue 22;
``benchmarks/python_vs_cli.py`` measures it again). libgomp reads the policy once, when
torch loads it, so it must be in the environment before the first ``import torch``:
``synthgen.workflows`` calls ``configure_threads`` before importing any trainer, and the
CLI calls it when it starts. When torch was loaded earlier with no policy (a notebook that
imported torch first), training runs on one torch thread instead (``compute_threads``):
one thread never spin-waits, and on two shared cores it is about as fast as two passive
ones (docs/python.md, "Speed").
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

WAIT_POLICY = "PASSIVE"
_too_late = False  # torch was loaded before any policy was set: libgomp spins in this process


def configure_threads() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the caller chose a policy (an environment
    variable set by the user always wins). Cheap and idempotent; imports nothing heavy.
    Notes (once, with a warning) when torch was imported before with no policy set."""
    global _too_late
    if "OMP_WAIT_POLICY" in os.environ:
        return
    if "torch" in sys.modules:
        _too_late = True
        warnings.warn(
            "torch was imported before synthgen could set OMP_WAIT_POLICY=PASSIVE: synthgen "
            "trains on one torch thread in this process; set OMP_WAIT_POLICY=PASSIVE in the "
            "environment (or import torch after starting training) to use more",
            RuntimeWarning,
            stacklevel=3,
        )
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY


@contextmanager
def compute_threads() -> Iterator[None]:
    """``configure_threads``, and for the block one torch thread if the policy came too
    late for this process (the caller's thread count is restored afterwards)."""
    configure_threads()
    if not _too_late:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
