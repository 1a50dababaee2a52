"""The distributed entry points as a user runs them: ``torchrun ... -m synthgen train`` (ranks
above 0 wait for rank 0's shard) and the refusals around them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import REPO

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


@pytest.mark.slow
def test_torchrun_two_ranks_train_a_table(heart_csv, heart_schema, tmp_path: Path) -> None:
    out = tmp_path / "model"
    done = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "synthgen", "train",
         str(heart_csv), "--schema", str(heart_schema), "--epsilon", "2", "--max-steps", "6",
         "--insecure-rng", "--public-record-count", "303", "--out", str(out)],
        env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    certificate = json.loads((out / "certificate.json").read_text())
    assert certificate["world_size"] == 2 and certificate["steps"] == 6


@pytest.mark.slow
def test_check_only_is_refused_under_torchrun(heart_csv, heart_schema, tmp_path: Path) -> None:
    env = dict(_env(), WORLD_SIZE="2", RANK="0")
    done = subprocess.run(
        [sys.executable, "-m", "synthgen", "train", str(heart_csv), "--schema", str(heart_schema),
         "--epsilon", "2", "--out", str(tmp_path / "m"), "--check-only"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "error: under torchrun, synthgen train cannot --check-only" in done.stderr
