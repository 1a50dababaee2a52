"""Image DP-SGD on 2 gloo CPU processes: the certificate of one process, both phases."""

import json
from pathlib import Path

import pytest

from synthgen.images.train import train_images
from synthgen.requests import TrainRequest
from tests.images.conftest import TINY

# a declared count: both runs get the same N-hat, hence the same q and sigma; the last of
# the 3 steps trains the label pathway alone (its own clip norm, the other weights frozen)
RUN = {"epsilon": 8.0, "max_steps": 3,
       "overrides": {**TINY, "public_record_count": 60, "conditioning_phase": 0.34}}


@pytest.mark.slow
def test_two_processes_give_the_certificate_of_one(tiny_npz: Path, tmp_path: Path) -> None:
    one = train_images(TrainRequest(source=tiny_npz, out=tmp_path / "one", **RUN)).certificate
    two = train_images(TrainRequest(source=tiny_npz, out=tmp_path / "two", processes=2, **RUN)).certificate
    assert (one.world_size, two.world_size) == (1, 2)
    for key in ("noise_multiplier", "sample_rate", "steps", "epsilon", "training_epsilon", "delta"):
        assert getattr(one, key) == getattr(two, key), key
    assert one.mechanisms == two.mechanisms
    log = [json.loads(line) for line in (tmp_path / "two.private" / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]  # both phases ran (the last step: labels only)
