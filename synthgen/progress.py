"""Progress events: how long-running library calls report what they are doing.

Callers (the CLI's progress bars, the service's job table) pass a callback; the library
never prints. Events carry counts and the privacy spent so far, never a value computed from
the data without noise (the loss goes to the private training log only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # "preprocess", "train", "save", "sample", ...
    step: int  # units done in this stage
    total: int  # units in this stage (0 when unknown)
    epsilon_spent: float = 0.0  # accountant's epsilon so far, preprocessing included
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]
StopCheck = Callable[[], bool]


def ignore_progress(event: ProgressEvent) -> None:
    """The default callback."""
