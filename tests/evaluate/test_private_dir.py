"""Validation finds the private run directory without run.json recording a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthgen.errors import ModelLoadError, PrivateDataMissing
from synthgen.evaluate.release import private_run_dir


def _dirs(tmp_path: Path, run_id: str, provenance_id: str) -> tuple[Path, dict]:
    model = tmp_path / "model"
    model.mkdir()
    private = tmp_path / "model.private"
    private.mkdir()
    (private / "provenance.json").write_text(json.dumps({"run_id": provenance_id, "n_train": 9}))
    return model, {"run_id": run_id}


def test_private_dir_defaults_to_the_sibling_with_the_same_run_id(tmp_path: Path) -> None:
    model, run = _dirs(tmp_path, "abc", "abc")
    assert private_run_dir(model, run) == tmp_path / "model.private"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "provenance.json").write_text(json.dumps({"run_id": "abc"}))
    assert private_run_dir(model, run, elsewhere) == elsewhere


def test_private_dir_of_another_run_is_refused(tmp_path: Path) -> None:
    model, run = _dirs(tmp_path, "abc", "xyz")
    with pytest.raises(ModelLoadError, match="run ids differ"):
        private_run_dir(model, run)
    with pytest.raises(PrivateDataMissing):
        private_run_dir(model, run, tmp_path / "missing")
