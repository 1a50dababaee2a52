"""The spend log: an append-only record of every mechanism a run has run on real data.

A checkpoint holds the accountant as it was when the checkpoint was written; steps that
ran after it are released as well (each one moves the weights, and a killed run's
progress, logs and any later output depend on them) but would be forgotten by a resume
that restores the checkpoint's accountant. ``spend.jsonl`` in the private run directory
closes that gap: one JSON line per Gaussian release and per DP-SGD step, written and
flushed to disk *before* the result of the mechanism is used (Opacus calls the
accountant's step hook after the noise is added and before the optimizer moves the
weights). A resumed run rebuilds its accountant from the log (:func:`replay`), so the
steps it repeats are charged twice, as they were run twice.

Lines are appended, never rewritten; a last line cut short by a killed process is
skipped (the mechanism it records had not been used yet).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthgen.errors import ResumeRefused
from synthgen.privacy.accountant import HistoryEntry, RunAccountant
from synthgen.private_files import open_private

SPEND_LOG = "spend.jsonl"
MAIN_RUN = "dp_sgd"


class SpendLog:
    """Appends spend records to ``path`` (created 0600: it lives in the private area)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, allow_nan=False) + "\n"
        with open_private(self.path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def records(self) -> list[dict[str, Any]]:
        """Every complete record, in order (a torn last line is skipped; a torn line
        elsewhere means the log was edited: refused)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        out: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                if i == len(lines) - 1:
                    break
                raise ResumeRefused(f"{self.path.name} is damaged at line {i + 1}") from exc
        return out


class JournaledAccountant(RunAccountant):
    """A ``RunAccountant`` that writes each mechanism to a spend log before recording it.

    ``run`` names the DP-SGD run whose steps this accountant records (the main generator,
    or e.g. an image run's class critic, which has its own accountant until it finishes).
    """

    def __init__(
        self,
        log: SpendLog | None = None,
        *,
        run: str = MAIN_RUN,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__()
        self._log = log
        self._run_name = run
        self._max_grad_norm = max_grad_norm  # recorded with a secondary run's steps

    def _append(self, record: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.append(record)

    def add_gaussian_release(self, *, name: str, noise_multiplier: float, purpose: str) -> None:
        if noise_multiplier > 0:
            self._append(
                {
                    "event": "release",
                    "name": name,
                    "noise_multiplier": float(noise_multiplier),
                    "purpose": purpose,
                }
            )
        super().add_gaussian_release(name=name, noise_multiplier=noise_multiplier, purpose=purpose)

    def add_subsampled_run(
        self, *, name: str, history: Sequence[HistoryEntry], purpose: str, max_grad_norm: float
    ) -> None:
        self._append(
            {
                "event": "subsampled_run",
                "name": name,
                "purpose": purpose,
                "max_grad_norm": float(max_grad_norm),
                "history": [[float(s), float(q), int(n)] for s, q, n in history],
            }
        )
        super().add_subsampled_run(
            name=name, history=history, purpose=purpose, max_grad_norm=max_grad_norm
        )

    def step(self, *, noise_multiplier: float, sample_rate: float) -> None:
        record: dict[str, Any] = {
            "event": "sgd_step",
            "run": self._run_name,
            "noise_multiplier": float(noise_multiplier),
            "sample_rate": float(sample_rate),
        }
        if self._run_name != MAIN_RUN and self._max_grad_norm is not None:
            record["max_grad_norm"] = float(self._max_grad_norm)
        self._append(record)
        super().step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)

    # partition selection spends delta outside the RDP curve: logged like a release
    @property
    def threshold_delta(self) -> float:
        return self._threshold_delta

    @threshold_delta.setter
    def threshold_delta(self, value: float) -> None:
        if getattr(self, "_threshold_delta", 0.0) != value and getattr(self, "_log", None):
            self._append({"event": "threshold_delta", "value": float(value)})
        self._threshold_delta = float(value)

    def attach(self, log: SpendLog | None) -> JournaledAccountant:
        """Start logging to ``log`` (after the state was rebuilt from it)."""
        self._log = log
        return self


def replay(records: Sequence[dict[str, Any]]) -> JournaledAccountant:
    """The accountant of everything the records say ran (not attached to a log).

    Steps of a secondary run (``run`` other than the main one) that never reached its
    ``subsampled_run`` record were interrupted: they are kept as a run of their own,
    marked interrupted, so they are composed like the rest.
    """
    acc = JournaledAccountant()
    pending: dict[str, RunAccountant] = {}
    clip: dict[str, float] = {}
    for r in records:
        event = r.get("event")
        if event == "release":
            acc.add_gaussian_release(
                name=r["name"], noise_multiplier=r["noise_multiplier"], purpose=r["purpose"]
            )
        elif event == "threshold_delta":
            acc.threshold_delta = float(r["value"])
        elif event == "sgd_step":
            run = r.get("run", MAIN_RUN)
            target = acc if run == MAIN_RUN else pending.setdefault(run, RunAccountant())
            target.step(noise_multiplier=r["noise_multiplier"], sample_rate=r["sample_rate"])
            if "max_grad_norm" in r:
                clip[run] = float(r["max_grad_norm"])
        elif event == "subsampled_run":
            pending.pop(r["name"], None)  # the same steps, now recorded as a whole
            acc.add_subsampled_run(
                name=r["name"],
                history=r["history"],
                purpose=r["purpose"],
                max_grad_norm=r["max_grad_norm"],
            )
        else:
            raise ResumeRefused(f"unknown record in the spend log: {event!r}")
    for name, partial in pending.items():
        if partial.sgd_history:
            acc.add_subsampled_run(
                name=name,
                history=partial.sgd_history,
                purpose="interrupted before it finished (its steps ran)",
                max_grad_norm=clip.get(name, 0.0),
            )
    return acc


def covers(spent: RunAccountant, checkpointed: RunAccountant) -> bool:
    """Whether ``spent`` (from the log) holds at least what a checkpoint's accountant does:
    the same releases, and as many DP-SGD steps or more."""
    return spent.releases == checkpointed.releases and spent.sgd_steps >= checkpointed.sgd_steps


def check_covers(spent: RunAccountant, checkpointed: RunAccountant) -> None:
    if not covers(spent, checkpointed):
        raise ResumeRefused(
            "the spend log holds less than the checkpoint's accountant: "
            "it was edited or replaced; start a new run"
        )


def restore_accountant(
    private: Path, *, checkpointed: RunAccountant | None = None
) -> JournaledAccountant:
    """A resumed run's accountant (either modality): its spend log's, logging on to it."""
    log = SpendLog(private / SPEND_LOG)
    if not log.exists():
        raise ResumeRefused(
            f"the run's spend log ({SPEND_LOG}) is missing: what the "
            "interrupted run spent cannot be known, start a new run"
        )
    accountant = replay(log.records()).attach(log)
    if checkpointed is not None:
        check_covers(accountant, checkpointed)
    return accountant


def steps_to_run(*, done: int, planned: int, spent: int) -> int:
    """Where a run resumed at step ``done`` ends: the DP-SGD steps ``spent`` after that
    checkpoint stay charged, so it runs as many fewer (its epsilon stays as calibrated)."""
    return max(done, planned - max(0, spent - done))
