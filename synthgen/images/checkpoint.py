"""Resumable checkpoints in the private run directory.

``checkpoint/`` holds the raw weights, the EMA weights, the optimizer state, the seeded
generator of the diffusion draws, the step, the accountant's state and the run's fixed
parameters (noise multiplier, sample rate, planned steps, ...). A resumed run restores all
of them, so it continues with the same noise multiplier and its accountant already holds
the steps that ran: epsilon after resuming equals that of an uninterrupted run.

A new checkpoint is written next to the old one and swapped in by renames, so an
interruption while saving leaves the previous checkpoint usable. Not shared with the
tables' checkpoint (``tabular/trainer.py``), which is written in place beside the run
parameters and DP statistics of its first checkpoint (``tabular/resume.py``): the two
layouts are what resumes and the service (``checkpoint.old``) read in the private area.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthgen.artifacts import (
    CHECKPOINT_DIR,
    load_weights,
    make_private_dir,
    open_private,
    restrict_private,
    save_weights,
)
from synthgen.errors import ModelLoadError
from synthgen.images.trainer import TrainingState
from synthgen.privacy.accountant import RunAccountant

STATE = "state.json"


@dataclass
class CheckpointInfo:
    step: int
    accountant: RunAccountant
    meta: dict[str, Any]  # the run's fixed parameters (run_plan.RunPlan)


def checkpoint_path(private_dir: Path) -> Path | None:
    """The usable checkpoint folder, if any (``checkpoint/``, else a leftover ``.old``)."""
    for name in (CHECKPOINT_DIR, f"{CHECKPOINT_DIR}.old"):
        p = private_dir / name
        if (p / STATE).is_file():
            return p
    return None


def save_checkpoint(
    private_dir: Path, state: TrainingState, *, accountant: RunAccountant, meta: dict[str, Any]
) -> Path:
    final = private_dir / CHECKPOINT_DIR
    staging = private_dir / f".{CHECKPOINT_DIR}.{uuid.uuid4().hex[:8]}"
    make_private_dir(private_dir)
    staging.mkdir(mode=0o700)
    try:
        save_weights(state.denoiser.net, staging / "model.safetensors")
        save_weights(state.ema.model.net, staging / "ema.safetensors")
        torch.save(state.optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(state.generator.get_state(), staging / "generator.pt")
        with open_private(staging / STATE, "w") as fh:
            fh.write(
                json.dumps(
                    {
                        "step": state.step,
                        "accountant": accountant.state_dict(),
                        "meta": meta,
                    },
                    indent=2,
                    allow_nan=False,
                )
                + "\n"
            )
        restrict_private(staging)  # 0700 and 0600 before it becomes the checkpoint
        old = private_dir / f"{CHECKPOINT_DIR}.old"
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            final.rename(old)
        staging.rename(final)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final


def read_checkpoint(path: Path) -> CheckpointInfo:
    try:
        d = json.loads((path / STATE).read_text())
        return CheckpointInfo(
            step=int(d["step"]),
            accountant=RunAccountant.from_state_dict(d["accountant"]),
            meta=dict(d["meta"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"checkpoint {path} is damaged: {type(exc).__name__}") from exc


def restore_state(path: Path, state: TrainingState) -> None:
    """Load weights, EMA, optimizer and generator into a freshly built ``state``."""
    try:
        load_weights(state.denoiser.net, path / "model.safetensors")
        load_weights(state.ema.model.net, path / "ema.safetensors")
        state.optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        state.generator.set_state(torch.load(path / "generator.pt", weights_only=True))
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"checkpoint {path} cannot be restored: {type(exc).__name__}") from exc
    state.step = read_checkpoint(path).step
