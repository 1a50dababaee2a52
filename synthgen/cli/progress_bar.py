"""A tqdm progress bar on stderr fed by library progress events."""

from __future__ import annotations

import math
import sys
from typing import Any

from synthgen.progress import ProgressEvent


class ProgressBar:
    """One bar per stage; shows the privacy spent so far."""

    def __init__(self, *, show_epsilon: bool = True) -> None:
        self._bar: Any = None
        self._stage = ""
        self._show_epsilon = show_epsilon

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if event.stage != self._stage or self._bar is None:
            self.close()
            self._stage = event.stage
            self._bar = tqdm(
                total=event.total or None, desc=event.stage, unit="step" if event.stage == "train" else "it",
                file=sys.stderr, dynamic_ncols=True, leave=True,
                disable=None,  # no bar when stderr is not a terminal
            )
        self._bar.n = event.step
        if self._show_epsilon and event.epsilon_spent and math.isfinite(event.epsilon_spent):
            self._bar.set_postfix_str(f"eps={event.epsilon_spent:.3f}", refresh=False)
        if event.message:
            self._bar.set_description_str(f"{event.stage} ({event.message})", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
