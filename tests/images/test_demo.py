"""``synthgen demo --images`` at a tiny size: train, sample, validate, write the report."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthgen.cli import commands  # noqa: F401  (registers the commands)
from synthgen.cli.app import app
from tests.evaluate.image_builders import FAST
from tests.images.conftest import TINY_MODEL

TINY_DEMO = {**TINY_MODEL, "batch_size": 8, "noise_multiplicity": 2, "secure_rng": False,
             "class_proportions": [0.5, 0.5]}  # declared: both classes in 20 images


@pytest.mark.slow
def test_image_demo_ends_with_the_validated_report_and_its_verdict(
        tiny_npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import synthgen.evaluate.images.inputs as inputs
    import synthgen.images.demo as demo

    # the data resolution is tested in test_medmnist; the tiny file stands in for BreastMNIST
    monkeypatch.setattr("synthgen.images.medmnist.resolve_medmnist", lambda data, *a, **k: data)
    monkeypatch.setattr(demo, "run_image_demo", functools.partial(
        demo.run_image_demo, train_minutes=0.02, samples=20, overrides=TINY_DEMO))
    monkeypatch.setattr(inputs, "DEFAULT_OPTIONS", FAST)  # a few CNN steps, the same protocol
    out = tmp_path / "demo"

    result = CliRunner().invoke(app, ["demo", "--images", "--data", str(tiny_npz), "--out-dir", str(out)])

    assert result.exit_code == 0, result.output
    assert (out / "synthetic.npz").exists() and (out / "synthetic_png").is_dir()
    for name in ("report.html", "report.pdf", "report.json"):
        assert (out / "report" / name).exists(), name
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["modality"] == "image" and report["verdict"] in ("pass", "warn", "fail")
    assert f"(verdict: {report['verdict']})" in result.output
    assert "ROC AUC" in result.output and "synthetic / holdout" in result.output
