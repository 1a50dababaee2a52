"""Routing jobs to Celery queues by the devices they gain from (pipelines.routing)."""

from __future__ import annotations

import pytest

from pipelines.routing import GPU_KINDS, QueueRouter, gpu_queue, worker_queues


class Probe:
    def __init__(self, answers: list[bool | Exception]) -> None:
        self.answers, self.calls = answers, 0

    def __call__(self) -> bool:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_image_training_goes_to_the_gpu_queue_only_while_a_gpu_worker_listens() -> None:
    now = [0.0]
    probe = Probe([True, False])
    router = QueueRouter("sg", probe, ttl=30.0, clock=lambda: now[0])
    assert router.queue_for("synthesize_image") == "sg.gpu"
    assert router.queue_for("synthesize_tabular") == "sg"  # tables stay on CPU workers
    assert router.queue_for("check_source") == "sg" and router.queue_for("sample") == "sg"
    now[0] = 10.0
    assert router.queue_for("synthesize_image") == "sg.gpu" and probe.calls == 1  # cached
    now[0] = 31.0  # the answer is old: ask again; the GPU worker is gone
    assert router.queue_for("synthesize_image") == "sg" and probe.calls == 2


def test_a_failing_probe_routes_to_the_cpu_queue_which_always_has_workers() -> None:
    router = QueueRouter("sg", Probe([ConnectionError("broker down")]))
    assert router.queue_for("synthesize_image") == "sg"


def test_worker_queues_by_devices() -> None:
    assert worker_queues("sg", "cpu") == ["sg"]
    assert worker_queues("sg", "gpu") == [gpu_queue("sg"), "sg"]  # GPU work first
    assert "synthesize_image" in GPU_KINDS


@pytest.mark.parametrize("devices", ["tpu", "GPU"])
def test_worker_refuses_unknown_devices(devices: str) -> None:
    from typer.testing import CliRunner

    from synthgen.cli import commands  # noqa: F401  (registers the commands)
    from synthgen.cli.app import app

    result = CliRunner().invoke(app, ["worker", "--celery", "--devices", devices])
    assert result.exit_code == 2 and result.stderr.startswith("error: --devices must be")
