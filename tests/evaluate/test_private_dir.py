"""Validation finds the private run directory without run.json recording a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthgen.errors import ModelLoadError, PrivateDataMissing
from synthgen.evaluate.release import private_run_dir
from synthgen.requests import SampleOptions, TrainRequest


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


@pytest.mark.slow
def test_validation_of_a_trained_model_finds_its_private_dir(tmp_path: Path, shared_data: Path) -> None:
    """End to end: run.json names no path; validation reads the sibling or --private-dir."""
    import pandas as pd

    from synthgen.evaluate.release import evaluate_release
    from synthgen.tabular.sample import sample_tabular
    from synthgen.tabular.train import train_tabular
    from tests.tabular.conftest import HEART_SCHEMA

    df = pd.read_csv(shared_data / "tabular" / "heart_disease_cleveland.csv", na_values=["?"])
    df["disease"] = (df["num"] > 0).map({False: "no", True: "yes"})
    df.to_csv(tmp_path / "heart.csv", index=False)
    (tmp_path / "heart.yaml").write_text(HEART_SCHEMA)
    tiny = {"steps": 2, "hidden_width": 8, "n_blocks": 1, "noise_multiplicity": 1,
            "secure_rng": False, "sample_steps": 2}
    result = train_tabular(TrainRequest(
        source=tmp_path / "heart.csv", table_schema=tmp_path / "heart.yaml", epsilon=5.0,
        out=tmp_path / "model", private_dir=tmp_path / "vault", overrides=tiny,
    ))
    synthetic = tmp_path / "synthetic.csv"
    sample_tabular(result.model_dir, SampleOptions(rows=300, seed=1), out=synthetic)
    with pytest.raises(PrivateDataMissing):  # not the default sibling: it must be named
        evaluate_release(result.model_dir, synthetic)
    validated = evaluate_release(result.model_dir, synthetic, private_dir=tmp_path / "vault")
    assert validated.verdict in ("pass", "warn", "fail")
