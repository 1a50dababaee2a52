"""Resume integrity for images (issue 19, finding 7): steps run after the last checkpoint
are charged, a finished run cannot be resumed, and a resume must be the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthgen.errors import OutputError, ResumeMismatch, ResumeRefused
from synthgen.images.train import train_images
from synthgen.privacy.accountant import RunAccountant, epsilon_for
from synthgen.privacy.spend_log import SPEND_LOG, SpendLog, replay
from synthgen.requests import TrainRequest
from tests.images.conftest import TINY

NO_CRITIC = {**TINY, "critic_epsilon_share": 0.0, "checkpoint_every": 2}


class Killed(Exception):
    pass


def _train(src: Path, out: Path, *, progress=None, **kwargs):
    request = TrainRequest(source=src, out=out, overrides=dict(NO_CRITIC), epsilon=6.0,
                           max_steps=6, **kwargs)
    return train_images(request, progress=progress)


@pytest.mark.slow
def test_image_steps_after_the_last_checkpoint_are_charged(tiny_npz: Path, tmp_path: Path) -> None:
    def kill_after_three(event) -> None:
        if event.stage == "train" and event.step == 3:  # checkpoint at step 2
            raise Killed

    out = tmp_path / "m"
    with pytest.raises(Killed):
        _train(tiny_npz, out, progress=kill_after_three)
    private = tmp_path / "m.private"
    assert json.loads((private / "checkpoint" / "state.json").read_text())["step"] == 2
    assert replay(SpendLog(private / SPEND_LOG).records()).sgd_steps == 3
    with pytest.raises(OutputError, match="--resume"):
        _train(tiny_npz, out)
    with pytest.raises(ResumeMismatch) as err:
        _train(tiny_npz, out, resume=True, seed=5)
    assert err.value.parameter == "seed"
    result = _train(tiny_npz, out, resume=True)
    cert = result.certificate
    # every step that ran is counted: 3 before the kill, 3 from the checkpoint at step 2 (the
    # lost step is not run again: the run keeps the 6 steps it was calibrated for)
    assert cert.steps == 3 + 3
    acc = RunAccountant.from_state_dict(cert.accountant_history)
    expected = epsilon_for([*acc.release_history, (cert.noise_multiplier, cert.sample_rate, 6)],
                           delta=acc.rdp_delta(cert.delta))
    assert cert.epsilon == pytest.approx(expected, rel=1e-9) and cert.epsilon <= 6.0 + 1e-9
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["steps_run"] == 5  # the model's own steps


@pytest.mark.slow
def test_a_finished_image_run_cannot_be_resumed(tiny_npz: Path, tmp_path: Path) -> None:
    _train(tiny_npz, tmp_path / "m")
    with pytest.raises(ResumeRefused, match="finished"):
        train_images(TrainRequest(
            source=tiny_npz, out=tmp_path / "again", private_dir=tmp_path / "m.private",
            overrides=dict(NO_CRITIC), epsilon=6.0, max_steps=6, resume=True,
        ))
    assert not (tmp_path / "again").exists()
