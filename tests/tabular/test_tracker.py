"""Experiment trackers (issue 19, finding 6): a tracker is a machine outside the private area,
so a private run sends it only epsilon and the learning rate, never the loss."""

import json
import math
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

from synthgen.requests import TrainRequest
from synthgen.tabular.train import train_tabular
from synthgen.tabular.trainer import TRACKED_OPTIONS

warnings.filterwarnings("ignore", category=UserWarning)


class Sent:
    """What a fake tracker module received."""

    def __init__(self) -> None:
        self.params: list[dict[str, Any]] = []
        self.metrics: list[tuple[int, dict[str, Any]]] = []
        self.closed = 0


def fake_mlflow(sent: Sent) -> types.ModuleType:
    module = types.ModuleType("mlflow")
    module.start_run = lambda *a, **k: object()  # type: ignore[attr-defined]
    module.log_params = lambda params: sent.params.append(dict(params))  # type: ignore[attr-defined]
    module.log_metrics = lambda metrics, step: sent.metrics.append((step, dict(metrics)))  # type: ignore[attr-defined]

    def end_run() -> None:
        sent.closed += 1

    module.end_run = end_run  # type: ignore[attr-defined]
    return module


def fake_wandb(sent: Sent) -> types.ModuleType:
    class Run:
        def log(self, metrics: dict[str, Any], step: int) -> None:
            sent.metrics.append((step, dict(metrics)))

        def finish(self) -> None:
            sent.closed += 1

    def init(project: str, config: dict[str, Any]) -> Run:
        sent.params.append(dict(config))
        return Run()

    module = types.ModuleType("wandb")
    module.init = init  # type: ignore[attr-defined]
    return module


def logged(private: Path) -> dict[int, dict[str, Any]]:
    lines = (private / "training_log.jsonl").read_text().splitlines()
    return {r["step"]: r for r in map(json.loads, lines)}


@pytest.mark.slow
@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_a_private_run_sends_only_epsilon_and_learning_rate(tracker: str, heart_csv, heart_schema,
                                                            tmp_path: Path, monkeypatch) -> None:
    sent = Sent()
    monkeypatch.setitem(sys.modules, tracker, (fake_mlflow if tracker == "mlflow" else fake_wandb)(sent))
    result = train_tabular(TrainRequest(
        source=heart_csv, table_schema=heart_schema, epsilon=2.0, out=tmp_path / "m", max_steps=4,
        overrides={"tracker": tracker, "secure_rng": False},
    ))
    truth = logged(result.private_dir)
    assert sorted(step for step, _ in sent.metrics) == sorted(truth) == [1, 2, 3, 4]
    for step, metrics in sent.metrics:
        # ground truth: exactly the private log's epsilon and lr, and nothing else
        assert metrics == {"epsilon": truth[step]["epsilon"], "lr": truth[step]["lr"]}
        assert "loss" in truth[step]  # the loss exists, and stayed in the private log
    # parameters: options fixed before the data was read (no batch size or steps from N)
    assert len(sent.params) == 1 and set(sent.params[0]) <= set(TRACKED_OPTIONS)
    assert sent.closed == 1


def test_a_non_private_benchmark_run_may_send_the_loss(heart_csv, heart_schema, tmp_path: Path,
                                                      monkeypatch) -> None:
    sent = Sent()
    monkeypatch.setitem(sys.modules, "mlflow", fake_mlflow(sent))
    result = train_tabular(TrainRequest(
        source=heart_csv, table_schema=heart_schema, epsilon=math.inf, out=tmp_path / "m",
        max_steps=3, overrides={"tracker": "mlflow"},
    ))
    truth = logged(result.private_dir)
    assert [metrics for _, metrics in sent.metrics] == [
        {"loss": truth[s]["loss"], "lr": truth[s]["lr"]} for s in (1, 2, 3)]


def test_image_runs_refuse_a_tracker() -> None:
    from synthgen.errors import ConfigurationError
    from synthgen.images.config import build_recipe

    with pytest.raises(ConfigurationError, match="tracker"):
        build_recipe({"tracker": "wandb"})
