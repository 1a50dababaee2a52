"""The spend log: what it records is exactly what the accountant holds, and it survives a
process killed while writing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from synthgen.errors import ResumeRefused
from synthgen.privacy.spend_log import JournaledAccountant, SpendLog, covers, replay


def test_replay_rebuilds_the_accountant_that_wrote_the_log(tmp_path: Path) -> None:
    log = SpendLog(tmp_path / "spend.jsonl")
    acc = JournaledAccountant(log)
    acc.threshold_delta = 1e-7
    acc.add_gaussian_release(name="histograms", noise_multiplier=4.0, purpose="p")
    for _ in range(5):
        acc.step(noise_multiplier=1.2, sample_rate=0.05)
    critic = JournaledAccountant(log, run="class_critic", max_grad_norm=0.5)
    for _ in range(3):
        critic.step(noise_multiplier=2.0, sample_rate=0.1)
    acc.add_subsampled_run(name="class_critic", history=critic.sgd_history, purpose="critic",
                           max_grad_norm=0.5)
    rebuilt = replay(log.records())
    assert rebuilt.state_dict() == acc.state_dict()  # the critic's steps are not counted twice
    assert rebuilt.epsilon(1e-5) == acc.epsilon(1e-5)
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600


def test_an_interrupted_secondary_run_is_still_charged(tmp_path: Path) -> None:
    log = SpendLog(tmp_path / "spend.jsonl")
    JournaledAccountant(log).add_gaussian_release(name="h", noise_multiplier=4.0, purpose="p")
    critic = JournaledAccountant(log, run="class_critic", max_grad_norm=0.5)
    critic.step(noise_multiplier=2.0, sample_rate=0.1)
    rebuilt = replay(log.records())
    assert rebuilt.other_runs[0]["history"] == [[2.0, 0.1, 1]]
    assert rebuilt.other_runs[0]["max_grad_norm"] == 0.5


def test_a_torn_last_line_is_skipped_and_a_torn_middle_line_refused(tmp_path: Path) -> None:
    log = SpendLog(tmp_path / "spend.jsonl")
    acc = JournaledAccountant(log)
    for _ in range(3):
        acc.step(noise_multiplier=1.0, sample_rate=0.1)
    with log.path.open("a") as fh:
        fh.write('{"event": "sgd_st')  # killed while writing: that step was never applied
    assert replay(log.records()).sgd_steps == 3
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[1][:10], *lines[2:]]) + "\n")
    with pytest.raises(ResumeRefused, match="damaged"):
        log.records()


def test_covers_needs_the_same_releases_and_at_least_the_steps(tmp_path: Path) -> None:
    a = JournaledAccountant()
    a.add_gaussian_release(name="h", noise_multiplier=4.0, purpose="p")
    a.step(noise_multiplier=1.0, sample_rate=0.1)
    b = JournaledAccountant()
    b.add_gaussian_release(name="h", noise_multiplier=4.0, purpose="p")
    assert covers(a, b) and not covers(b, a)
    c = JournaledAccountant()
    c.step(noise_multiplier=1.0, sample_rate=0.1)
    assert not covers(c, b)
