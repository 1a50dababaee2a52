"""Resuming an interrupted table run without spending or releasing anything unaccounted.

A resumed run must be the *same* run: the noise multiplier, the sample rate and the number
of steps were calibrated for the parameters it started with, and the restored accountant
only composes what that run did. So the first checkpoint, written right after the DP
statistics and before any DP-SGD step, stores the run's parameters (``parameters.json``),
and ``--resume`` refuses:
- a parameter that differs (``ResumeMismatch`` names it: epsilon, delta as given,
  max_steps, seed, holdout, target, a training option, the schema, the source);
- a run that finished (its model directory was written: resuming it into another
  ``--out`` would release a second model for one charge);
- a checkpoint without its DP statistics (``preprocessing.json``): recomputing them would
  draw fresh noise on the same data, a second release the restored accountant hides;
- a checkpoint without its spend log (``spend.jsonl``, see ``privacy/spend_log.py``).

The resumed accountant is rebuilt from the spend log, so DP-SGD steps that ran after the
last checkpoint are charged although their work is repeated.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from synthgen import artifacts
from synthgen.errors import ResumeMismatch, ResumeRefused
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.spend_log import SPEND_LOG, SpendLog
from synthgen.requests import TrainRequest

PARAMETERS = "parameters.json"
STATE = "state.json"
PREPROCESSING_STATE = "preprocessing.json"
# training options that may change on resume: how the run is carried out, not what it
# computes or releases
RESUMABLE_OPTIONS = ("checkpoint_every", "max_physical_batch_size", "tracker")
# the order in which mismatches are reported, with the option name the user typed
_NAMES = {
    "epsilon": "--epsilon",
    "delta": "--delta",
    "max_steps": "--max-steps",
    "seed": "--seed",
    "holdout": "--holdout",
    "target": "--target",
    "schema_sha256": "the schema (--schema)",
    "source_sha256": "the source file",
}


def _number(value: float | None) -> float | str | None:
    """JSON has no infinity: ``epsilon=inf`` (non-private) is stored as the string "inf"."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else str(value)


def run_parameters(
    request: TrainRequest, *, target: str | None, schema_sha256: str
) -> dict[str, Any]:
    """What identifies a run, as the caller gave it (delta and options before defaults)."""
    options = request.config_overrides()
    source = request.source if isinstance(request.source, Path) else None  # or a DataFrame
    return {
        "epsilon": _number(request.epsilon),
        "delta": _number(request.delta),
        "max_steps": request.max_steps,
        "seed": request.seed,
        "holdout": request.holdout,
        "target": target,
        "schema_sha256": schema_sha256,
        "source_sha256": artifacts.file_sha256(source) if source is not None else None,
        "overrides": {k: options[k] for k in sorted(options) if k not in RESUMABLE_OPTIONS},
    }


def checkpoint_dir(private: Path) -> Path:
    return private / artifacts.CHECKPOINT_DIR


def check_resumable(private: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """Refuse a resume that could spend or release what the run's accountant does not hold
    (see the module docstring); return the saved parameters."""
    ckpt = checkpoint_dir(private)
    if not (ckpt / STATE).is_file():
        if SpendLog(private / SPEND_LOG).exists():
            raise ResumeRefused(
                "the interrupted run released DP statistics before its first "
                "checkpoint: they are spent (see its spend log) and cannot be "
                "reused; start a new run with another --out"
            )
        raise ResumeRefused(f"nothing to resume: no checkpoint in {private}")
    if not (ckpt / PARAMETERS).is_file():
        raise ResumeRefused(
            "the checkpoint records no run parameters (an older synthgen wrote "
            "it): it cannot be checked, start a new run"
        )
    saved = artifacts.read_json(ckpt / PARAMETERS)
    if saved.get("finished"):
        raise ResumeRefused(
            "this run finished and its model directory was written; "
            "resuming it would release a second model: start a new run"
        )
    for key, option in _NAMES.items():
        if saved.get(key) != wanted.get(key):
            raise ResumeMismatch(
                f"cannot resume: {option} differs from the interrupted run's; resume with the "
                "same value, or start a new run with another --out",
                parameter=key,
            )
    before, now = saved.get("overrides", {}), wanted.get("overrides", {})
    for key in sorted(set(before) | set(now)):
        if before.get(key) != now.get(key):
            raise ResumeMismatch(
                f"cannot resume: the training option {key!r} differs from the interrupted "
                f"run's (only {', '.join(RESUMABLE_OPTIONS)} may change)",
                parameter=key,
            )
    if not (ckpt / PREPROCESSING_STATE).is_file():
        raise ResumeRefused(
            "the checkpoint's DP statistics (preprocessing.json) are missing; "
            "computing them again would release fresh noise on the same data: "
            "start a new run"
        )
    return dict(saved)


def write_first_checkpoint(
    private: Path,
    *,
    parameters: dict[str, Any],
    statistics: dict[str, Any],
    accountant: RunAccountant,
) -> None:
    """The checkpoint before DP-SGD: the run's parameters, its DP statistics and its
    accountant. ``state.json`` is written last: it makes the checkpoint usable."""
    ckpt = artifacts.make_private_dir(checkpoint_dir(private))
    artifacts.write_json(ckpt / PARAMETERS, {**parameters, "finished": False}, private=True)
    artifacts.write_json(ckpt / PREPROCESSING_STATE, statistics, private=True)
    artifacts.write_json(
        ckpt / STATE,
        {
            "step": 0,
            "weights": False,
            "noise_multiplier": None,
            "accountant": accountant.state_dict(),
        },
        private=True,
    )


def mark_finished(private: Path) -> None:
    """The model directory is written: the run can no longer be resumed."""
    path = checkpoint_dir(private) / PARAMETERS
    saved = artifacts.read_json(path)
    artifacts.write_json(
        path, {**saved, "finished": True, "finished_at": artifacts.utc_now()}, private=True
    )
