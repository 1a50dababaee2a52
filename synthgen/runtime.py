"""Process settings the library applies itself before torch loads, so that training runs
as fast from Python (a script, a notebook) as from the CLI or a worker.

OpenMP's threads spin-wait between parallel regions by default. On a small shared machine
(2 cores running the API, a worker and a test) that starves the other processes and the
training itself: the same 40-step tabular training took 45.8 s from Python with the
default policy and 10.8 s with ``OMP_WAIT_POLICY=PASSIVE`` (issue 22;
``benchmarks/python_vs_cli.py`` measures it again). libgomp reads the policy once, when torch loads it, so it must be in the environment
before the first ``import torch``: ``synthgen.workflows`` calls ``configure_threads``
before importing any trainer, and the CLI calls it when it starts.
"""

from __future__ import annotations

import os
import sys
import warnings

WAIT_POLICY = "PASSIVE"
_warned = False


def configure_threads() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the caller chose a policy (an environment
    variable set by the user always wins). Cheap and idempotent; imports nothing heavy.

    When torch was imported before with no policy, it is too late for this process: say so
    once (set the variable before starting Python, or import synthgen before torch)."""
    global _warned
    if "OMP_WAIT_POLICY" in os.environ:
        return
    if "torch" in sys.modules and not _warned:
        _warned = True
        warnings.warn(
            "torch was imported before synthgen could set OMP_WAIT_POLICY=PASSIVE: OpenMP "
            "threads will spin-wait, which can make training several times slower on a "
            "shared machine; set OMP_WAIT_POLICY=PASSIVE in the environment (or start "
            "training before importing torch)", RuntimeWarning, stacklevel=3)
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
