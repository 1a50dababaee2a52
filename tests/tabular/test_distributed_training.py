"""Table training on 2 gloo processes: the same certificate as one process, resumable with
another number of processes, stopped cleanly on every rank."""

import warnings
from pathlib import Path

import pytest

from synthgen.errors import ConfigurationError
from synthgen.requests import SampleOptions, TrainRequest
from synthgen.tabular.train import train_tabular

warnings.filterwarnings("ignore", category=UserWarning)

# a declared record count: both runs get the same N-hat, hence the same q and sigma
RUN = {
    "epsilon": 2.0,
    "max_steps": 12,
    "seed": 3,
    "public_record_count": 303,
    "overrides": {"checkpoint_every": 5, "secure_rng": False},
}
SAME = ("noise_multiplier", "sample_rate", "steps", "epsilon", "training_epsilon",
        "n_training_records", "delta")


class Killed(Exception):
    """Stands for a process killed at a given step (nothing after it runs)."""


def _kill_at(step: int):
    def progress(event) -> None:
        if event.stage == "train" and event.step == step:
            raise Killed(f"train {step}")
    return progress


@pytest.mark.slow
def test_two_processes_give_the_certificate_of_one(heart_csv, heart_schema, tmp_path: Path) -> None:
    one = train_tabular(TrainRequest(source=heart_csv, table_schema=heart_schema, out=tmp_path / "one", **RUN))
    two = train_tabular(TrainRequest(
        source=heart_csv, table_schema=heart_schema, out=tmp_path / "two", processes=2, **RUN
    ))
    a, b = one.certificate, two.certificate
    assert (a.world_size, b.world_size) == (1, 2)
    for key in SAME:
        assert getattr(a, key) == getattr(b, key), key
    assert a.mechanisms == b.mechanisms
    assert b.accountant_history["sgd_history"] == [[b.noise_multiplier, b.sample_rate, RUN["max_steps"]]]


@pytest.mark.slow
def test_a_two_process_run_stops_on_every_rank_and_resumes_on_one(heart_csv, heart_schema, tmp_path: Path) -> None:
    out = tmp_path / "model"
    with pytest.raises(Killed):  # raised on rank 0 after step 7: the helper must stop too
        train_tabular(TrainRequest(
            source=heart_csv, table_schema=heart_schema, out=out, processes=2, **RUN
        ), progress=_kill_at(7))
    resumed = train_tabular(TrainRequest(
        source=heart_csv, table_schema=heart_schema, out=out, resume=True, processes=1, **RUN
    ))
    cert = resumed.certificate
    # 7 steps ran before the kill; from the checkpoint at 5 the run goes on to its 12
    assert cert.steps == RUN["max_steps"] and cert.world_size == 1


def test_sampling_processes_are_refused_for_images() -> None:
    with pytest.raises(ConfigurationError, match="--processes applies to tables only"):
        SampleOptions(rows=10, processes=2).check_modality("image")


def test_a_torchrun_rank_above_0_refuses_to_train_before_reading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    request = TrainRequest(source=tmp_path / "absent.csv", out=tmp_path / "m", epsilon=1.0)
    with pytest.raises(ConfigurationError, match="torchrun rank 1: only rank 0 trains"):
        train_tabular(request)
    assert not (tmp_path / "m.private").exists()
