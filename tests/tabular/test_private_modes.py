"""The private area is private on disk (issue 19, finding 9): whatever the umask, a training
run's private directory is 0700 and every file in it 0600 (tables and images)."""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthgen.requests import TrainRequest
from synthgen.tabular.train import train_tabular

warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def modes_under(root: Path) -> dict[str, int]:
    """Permission bits of ``root`` and of everything below it (links not followed)."""
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(root: Path) -> None:
    wrong = {name: oct(mode) for name, mode in modes_under(root).items()
             if mode != (0o700 if (root / name).is_dir() else 0o600)}
    assert not wrong, f"not 0700/0600: {wrong}"


@pytest.mark.slow
def test_a_table_run_writes_its_private_directory_0700_and_files_0600(
        permissive_umask: int, heart_csv, heart_schema, tmp_path: Path) -> None:
    result = train_tabular(TrainRequest(
        source=heart_csv, table_schema=heart_schema, epsilon=2.0, out=tmp_path / "m", max_steps=4,
        overrides={"secure_rng": False, "checkpoint_every": 2},
    ))
    private = result.private_dir
    names = set(modes_under(private))
    assert {"train.parquet", "holdout.parquet", "training_log.jsonl", "accountant.json",
            "spend.jsonl", "checkpoint", "checkpoint/preprocessing.json",
            "checkpoint/weights.safetensors", "checkpoint/state.json"} <= names
    assert_private(private)


def test_the_private_helpers_beat_the_umask(permissive_umask: int, tmp_path: Path) -> None:
    from synthgen import artifacts

    d = artifacts.make_private_dir(tmp_path / "a" / "b")
    artifacts.write_json(d / "x.json", {"k": 1}, private=True)
    with artifacts.open_private(d / "log.jsonl") as fh:
        fh.write("{}\n")
    (d / "sub").mkdir()
    (d / "sub" / "y.bin").write_bytes(b"1")
    artifacts.restrict_private(d / "sub")
    assert_private(d)
