"""The private area is private on disk (issue 19, finding 9), images: see
tests/tabular/test_private_modes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthgen.requests import TrainRequest
from tests.tabular.test_private_modes import assert_private, modes_under, permissive_umask

__all__ = ["permissive_umask"]  # the fixture, shared


@pytest.mark.slow
def test_an_image_run_writes_its_private_directory_0700_and_files_0600(
        permissive_umask: int, tiny_npz: Path, tmp_path: Path) -> None:
    from synthgen.images.train import train_images
    from tests.images.conftest import TINY

    result = train_images(TrainRequest(
        source=tiny_npz, out=tmp_path / "m", epsilon=6.0, max_steps=2, overrides={**TINY,
        "critic_epsilon_share": 0.0},
    ))
    names = set(modes_under(result.private_dir))
    assert {"train.npz", "holdout.npz", "test.npz", "training_log.jsonl", "load_report.json",
            "spend.jsonl", "checkpoint/state.json", "checkpoint/model.safetensors"} <= names
    assert_private(result.private_dir)
