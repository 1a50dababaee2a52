"""Progress on stderr: log lines when stderr is not a terminal, bars that end complete."""

from __future__ import annotations

from typing import ClassVar

import pytest

from synthgen.cli import progress_bar
from synthgen.cli.progress_bar import LOG_INTERVAL_S, ProgressBar
from synthgen.progress import ProgressEvent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_without_terminal_writes_a_log_line_every_few_seconds(capsys) -> None:
    clock = Clock()
    with ProgressBar(interactive=False, clock=clock) as bar:
        bar(ProgressEvent("train", 0, 100))
        for step in range(1, 101):
            clock.now += 0.5  # 2 steps a second
            bar(ProgressEvent("train", step, 100, epsilon_spent=0.01 * step))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 50 / LOG_INTERVAL_S + 1, lines  # 50 s of training, then "done"
    assert "\r" not in "".join(lines)
    first = lines[0]
    assert first.startswith("train: step 10/100 (10%)"), first
    assert "epsilon 0.100" in first and "2 step/s" in first and "about 45 s left" in first
    assert lines[-1].startswith("train: done, 100 steps"), lines[-1]


def test_progress_bar_without_terminal_stays_quiet_for_a_short_command(capsys) -> None:
    clock = Clock()
    with ProgressBar(interactive=False, clock=clock) as bar:
        bar(ProgressEvent("sample", 1, 2))
        clock.now += 1
        bar(ProgressEvent("sample", 2, 2))
    assert capsys.readouterr().err == ""


class FakeTqdm:
    made: ClassVar[list[FakeTqdm]] = []

    def __init__(self, *, total=None, desc="", **kwargs) -> None:
        self.total, self.desc, self.n, self.closed = total, desc, 0, False
        FakeTqdm.made.append(self)

    def set_postfix_str(self, *args, **kwargs) -> None: ...
    def set_description_str(self, *args, **kwargs) -> None: ...
    def refresh(self) -> None: ...

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch):
    import tqdm

    FakeTqdm.made = []
    monkeypatch.setattr(tqdm, "tqdm", FakeTqdm)
    return FakeTqdm.made


def test_progress_bar_on_a_terminal_shows_loading_then_completes_each_stage(fake_tqdm) -> None:
    with ProgressBar(interactive=True) as bar:
        assert [b.desc for b in fake_tqdm] == ["loading..."] and fake_tqdm[0].total is None
        bar(ProgressEvent("preprocess", 1, 3))
        assert fake_tqdm[0].closed  # loading ends with the first event
        bar(ProgressEvent("train", 5, 10))
        bar(ProgressEvent("train", 9, 10))
    preprocess, train = fake_tqdm[1], fake_tqdm[2]
    assert (preprocess.n, train.n) == (3, 10) and train.closed


def test_progress_bar_on_a_terminal_leaves_a_failed_stage_where_it_stopped(fake_tqdm) -> None:
    with pytest.raises(RuntimeError), ProgressBar(interactive=True) as bar:
        bar(ProgressEvent("train", 4, 10))
        raise RuntimeError
    assert fake_tqdm[-1].n == 4 and fake_tqdm[-1].closed


def test_echo_writes_above_the_bar(monkeypatch, fake_tqdm) -> None:
    written = []
    monkeypatch.setattr(FakeTqdm, "write", staticmethod(lambda message, file=None: written.append(message)),
                        raising=False)
    with ProgressBar(interactive=True) as bar:
        bar(ProgressEvent("train", 1, 10))
        progress_bar.echo("model written")
    assert written == ["model written"]
