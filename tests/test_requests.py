"""The typed requests (synthgen/requests.py): each option is checked once, where the request
is built; options of the other modality are refused in one place; an option given on the
command line reaches the trainer's config untouched."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from pipelines.specs import TrainingParameters
from synthgen.cli import commands  # noqa: F401  (registers the commands)
from synthgen.cli.app import app
from synthgen.errors import ConfigurationError, SynthgenError
from synthgen.requests import SampleChoices, SampleOptions, TrainRequest, build, check_epsilon


@pytest.mark.parametrize("epsilon", [0, -1.0, math.nan])
def test_train_request_bad_epsilon_is_refused(epsilon: float) -> None:
    with pytest.raises(ValidationError, match="epsilon must be a positive number"):
        TrainRequest(source="t.csv", out="m", epsilon=epsilon)
    with pytest.raises(ConfigurationError, match=r"^epsilon must be a positive number"):
        build(TrainRequest, source="t.csv", out="m", epsilon=epsilon)


def test_epsilon_inf_is_a_benchmark_run_for_the_library_and_refused_by_the_service() -> None:
    assert math.isinf(TrainRequest(source="t.csv", out="m", epsilon=math.inf).epsilon)
    with pytest.raises(ValidationError, match="positive finite number"):
        TrainingParameters(epsilon=math.inf, seed=0)
    with pytest.raises(ValueError, match="positive finite number"):  # the same rule, flagged
        check_epsilon(math.inf, finite=True)
    assert TrainingParameters(epsilon=2.0, seed=0).epsilon == 2.0


def test_cli_bad_values_are_one_clear_line() -> None:
    with pytest.raises(ConfigurationError, match=r"^rows: Input should be greater than 0$"):
        build(SampleOptions, rows=-5)
    with pytest.raises(ConfigurationError, match=r"^max_steps: Input should be greater than 0$"):
        build(TrainRequest, source="t.csv", out="m", epsilon=1.0, max_steps=0)


@pytest.mark.parametrize(("source", "option", "message"), [
    ("t.csv", {"channels": 3}, "--channels applies to image models"),
    ("t.csv", {"init_from": "public_model"}, "--init-from applies to image models"),
    ("t.csv", {"classes": ("a", "b")}, "--classes applies to image models"),
    ("t.csv", {"public_source": True}, "--public-source applies to image models"),
    ("i.npz", {"target": "label"}, "--target applies to tables"),
    ("i.npz", {"table_schema": "s.yaml"}, "--schema applies to tables"),
    ("i.npz", {"preprocessing_share": 0.3}, "--preprocessing-share applies to tables"),
    ("i.npz", {"tracker": "mlflow"}, "--tracker applies to tables"),
])
def test_train_request_options_of_the_other_modality_are_refused(
    source: str, option: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TrainRequest(source=source, out="m", epsilon=1.0, **option)  # type: ignore[arg-type]


def test_sample_options_of_image_models_are_refused_for_tables_as_the_caller_spells_them() -> None:
    options = SampleOptions(rows=5, sampler="euler")
    options.check_modality("image")
    with pytest.raises(ConfigurationError, match="--sampler applies to image models"):
        options.check_modality("tabular")
    with pytest.raises(ConfigurationError, match=r"^critic_guidance applies to image models only$"):
        SampleChoices(rows=5, critic_guidance=1.0).check_modality("tabular", spell=str)


def test_modality_is_resolved_once_from_the_source(tmp_path: Path) -> None:
    assert TrainRequest(source="t.csv", out="m", epsilon=1.0).kind == "tabular"
    assert TrainRequest(source="i.npz", out="m", epsilon=1.0).kind == "image"
    assert TrainRequest(source=tmp_path, out="m", epsilon=1.0).kind == "image"  # a folder
    assert TrainRequest(source="i.npz", out="m", epsilon=1.0, modality="tabular").kind == "tabular"


class Captured(SynthgenError):
    pass


def test_a_cli_option_reaches_the_tabular_trainer_config(monkeypatch, tmp_path: Path) -> None:
    """One field in TrainRequest and its use in the trainer: nothing in between."""
    import synthgen.tabular.train as tabular_train
    from synthgen.tabular.config import TabularTrainingConfig

    seen: list[TrainRequest] = []

    def fake_train(request: TrainRequest, **_: object) -> None:
        seen.append(request)
        raise Captured("captured")

    monkeypatch.setattr(tabular_train, "train_tabular", fake_train)
    result = CliRunner().invoke(app, [
        "train", str(tmp_path / "t.csv"), "--epsilon", "2", "--out", str(tmp_path / "m"),
        "--public-record-count", "500", "-K", "3", "--insecure-rng",
    ])
    assert result.exit_code == 2 and "captured" in result.output
    (request,) = seen
    config = TabularTrainingConfig().with_overrides(request.config_overrides())
    assert (config.public_record_count, config.noise_multiplicity) == (500, 3)
    assert config.secure_rng is False


def test_a_cli_option_reaches_the_image_recipe(monkeypatch, tmp_path: Path) -> None:
    import synthgen.images.train as image_train
    from synthgen.images.config import build_recipe

    seen: list[TrainRequest] = []

    def fake_train(request: TrainRequest, **_: object) -> None:
        seen.append(request)
        raise Captured("captured")

    monkeypatch.setattr(image_train, "train_images", fake_train)
    result = CliRunner().invoke(app, [
        "train", str(tmp_path / "i.npz"), "--epsilon", "2", "--out", str(tmp_path / "m"),
        "--channels", "3", "--classes", "benign,malignant", "--public-record-count", "40",
    ])
    assert result.exit_code == 2 and "captured" in result.output
    recipe = build_recipe(seen[0].config_overrides())
    assert recipe.source.channels == 3 and recipe.source.classes == ("benign", "malignant")
    assert recipe.source.public_record_count == 40


def test_requests_and_modalities_import_no_torch() -> None:
    """The API process builds these requests; it must not need torch."""
    code = ("import sys, synthgen.requests, synthgen.modalities, pipelines.specs; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
