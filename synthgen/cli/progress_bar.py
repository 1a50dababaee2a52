"""Progress on stderr, fed by library progress events.

On a terminal: one tqdm bar per stage, with the privacy spent so far; ``loading...`` until
the first event (the libraries take seconds to import), and each bar completed when its
stage ends. Anywhere else (a log file, a CI job, a pipe): one log line every
``LOG_INTERVAL_S`` seconds, with the step, the epsilon spent so far, the rate and the time
left, so that a log is readable and not a stream of carriage returns.

Lines printed while a bar is shown go through ``echo`` so that they do not collide with it.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import typer

from synthgen.progress import ProgressEvent

LOG_INTERVAL_S = 5.0  # seconds between two log lines when stderr is not a terminal

_active: ProgressBar | None = None  # the bar on screen, if any (one command at a time)


def echo(message: str, *, err: bool = False) -> None:
    """``typer.echo`` that clears the bar on screen first and redraws it after."""
    if _active is not None and _active._bar is not None:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr if err else sys.stdout)
    else:
        typer.echo(message, err=err)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressBar:
    """One bar (or log) per stage; shows the privacy spent so far.

    ``interactive`` defaults to whether stderr is a terminal; ``clock`` is for tests.
    """

    def __init__(
        self,
        *,
        show_epsilon: bool = True,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bar: Any = None
        self._stage = ""
        self._show_epsilon = show_epsilon
        self._interactive = interactive
        self._clock = clock
        self._loading: Any = None
        # log mode
        self._last_event: ProgressEvent | None = None
        self._stage_start = 0.0
        self._last_log = clock()
        self._logged_stage = False
        self.epsilon_spent = 0.0  # the largest epsilon reported so far (what a failed run spent)

    @property
    def interactive(self) -> bool:
        if self._interactive is None:
            stream: TextIO = sys.stderr
            self._interactive = bool(getattr(stream, "isatty", lambda: False)())
        return self._interactive

    def echo(self, message: str) -> None:
        """Print a line on stdout without breaking the bar (for the library's ``echo``)."""
        echo(message)

    def __call__(self, event: ProgressEvent) -> None:
        if event.epsilon_spent and math.isfinite(event.epsilon_spent):
            self.epsilon_spent = max(self.epsilon_spent, event.epsilon_spent)
        if self.interactive:
            self._draw(event)
        else:
            self._log(event)

    # terminal: tqdm bars

    def _draw(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        self._stop_loading()
        if event.stage != self._stage or self._bar is None:
            self._close_bar(complete=True)
            self._stage = event.stage
            self._bar = tqdm(
                total=event.total or None,
                desc=event.stage,
                unit="step" if event.stage == "train" else "it",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )
        self._bar.n = event.step
        if self._show_epsilon and event.epsilon_spent and math.isfinite(event.epsilon_spent):
            self._bar.set_postfix_str(f"eps={event.epsilon_spent:.3f}", refresh=False)
        if event.message:
            self._bar.set_description_str(f"{event.stage} ({event.message})", refresh=False)
        self._bar.refresh()

    def _start_loading(self) -> None:
        from tqdm import tqdm

        # a line, not a bar at 0%: the libraries load before the first event comes
        self._loading = tqdm(
            desc="loading...", total=None, file=sys.stderr, leave=False, bar_format="{desc}"
        )
        self._bar = self._loading

    def _stop_loading(self) -> None:
        if self._loading is not None:
            self._loading.close()
            self._loading = None
            self._bar = None

    def _close_bar(self, *, complete: bool) -> None:
        if self._bar is not None:
            if complete and self._bar.total and self._bar.n < self._bar.total:
                self._bar.n = self._bar.total  # the stage ended: its bar ends at 100%
                self._bar.refresh()
            self._bar.close()
            self._bar = None

    # elsewhere: log lines

    def _log(self, event: ProgressEvent) -> None:
        now = self._clock()
        if event.stage != self._stage:
            self._finish_stage_log()
            self._stage = event.stage
            self._stage_start = now
            self._logged_stage = False
        self._last_event = event
        if now - self._last_log >= LOG_INTERVAL_S:
            self._write_log(event, now)

    def _write_log(self, event: ProgressEvent, now: float, *, done: bool = False) -> None:
        self._last_log = now
        self._logged_stage = True
        parts = [f"{event.stage}{f' ({event.message})' if event.message else ''}:"]
        if done:
            count = event.total or event.step
            parts.append(
                f"done, {count} {self._unit(event)}{'s' if count != 1 and event.stage == 'train' else ''}"
            )
        elif event.total:
            parts.append(
                f"{self._unit(event)} {event.step}/{event.total} "
                f"({100 * event.step / event.total:.0f}%)"
            )
        else:
            parts.append(f"{self._unit(event)} {event.step}")
        if self._show_epsilon and event.epsilon_spent and math.isfinite(event.epsilon_spent):
            parts.append(f"epsilon {event.epsilon_spent:.3f}")
        elapsed = now - self._stage_start
        if elapsed > 0 and event.step > 0:
            rate = event.step / elapsed
            parts.append(f"{rate:.3g} {self._unit(event)}/s")
            if event.total and not done and event.step < event.total:
                parts.append(f"about {_duration((event.total - event.step) / rate)} left")
        parts.append(f"{_duration(elapsed)} elapsed")
        echo(
            " ".join(parts[:2]) + (", " + ", ".join(parts[2:]) if len(parts) > 2 else ""), err=True
        )

    @staticmethod
    def _unit(event: ProgressEvent) -> str:
        return "step" if event.stage == "train" else "it"

    def _finish_stage_log(self) -> None:
        """A stage that had log lines gets a last one when it ends."""
        if self._logged_stage and self._last_event is not None:
            self._write_log(self._last_event, self._clock(), done=True)
        self._logged_stage = False

    # the command's lifetime

    def close(self, *, complete: bool = False) -> None:
        self._stop_loading()
        if self.interactive:
            self._close_bar(complete=complete)
        elif complete:
            self._finish_stage_log()

    def __enter__(self) -> ProgressBar:
        global _active
        _active = self
        if self.interactive:
            self._start_loading()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        global _active
        self.close(complete=exc_type is None)
        _active = None
