"""Routing jobs to Celery queues by the devices they gain from (pipelines.routing)."""

from __future__ import annotations

import pytest

from pipelines.routing import GPU_WORK, QueueRouter, gpu_queue, worker_queues
from tests.support.service import COHORT_SCHEMA, ServiceEnv, cohort_csv


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
    assert router.queue_for("synthesize", "image") == "sg.gpu"
    assert router.queue_for("synthesize", "tabular") == "sg"  # tables stay on CPU workers
    assert router.queue_for("check_source", "image") == "sg"
    assert router.queue_for("sample", "image") == "sg"
    now[0] = 10.0
    assert router.queue_for("synthesize", "image") == "sg.gpu" and probe.calls == 1  # cached
    now[0] = 31.0  # the answer is old: ask again; the GPU worker is gone
    assert router.queue_for("synthesize", "image") == "sg" and probe.calls == 2


def test_a_failing_probe_routes_to_the_cpu_queue_which_always_has_workers() -> None:
    router = QueueRouter("sg", Probe([ConnectionError("broker down")]))
    assert router.queue_for("synthesize", "image") == "sg"


def test_worker_queues_by_devices() -> None:
    assert worker_queues("sg", "cpu") == ["sg"]
    assert worker_queues("sg", "gpu") == [gpu_queue("sg"), "sg"]  # GPU work first
    assert ("synthesize", "image") in GPU_WORK


@pytest.mark.parametrize("devices", ["tpu", "GPU"])
def test_worker_refuses_unknown_devices(devices: str) -> None:
    from typer.testing import CliRunner

    from synthgen.cli import commands  # noqa: F401  (registers the commands)
    from synthgen.cli.app import app

    result = CliRunner().invoke(app, ["worker", "--celery", "--devices", devices])
    assert result.exit_code == 2 and result.stderr.startswith("error: --devices must be")


def test_the_recovery_sweep_routes_each_claimable_job(
    sqlite_service: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``enqueue_claimable`` (worker start, --beat) reads kind and modality from the store
    and sends each job to the queue the router picks for it now."""
    from types import SimpleNamespace

    from pipelines import celery_app, leases

    env = sqlite_service
    up = env.upload(table=cohort_csv(), schema=COHORT_SCHEMA)  # queues a source check
    check_id = up.json()["check_job_id"]
    assert (check_id, "check_source", "tabular") in leases.claimable_jobs_routed(env.db)
    sent: list[tuple[str, str]] = []
    app = SimpleNamespace(
        conf=SimpleNamespace(task_default_queue="sg"),
        send_task=lambda name, args, queue: sent.append((args[0], queue)),
    )
    routed: list[tuple[str, str | None]] = []

    class Router:
        def queue_for(self, kind: str, modality: str | None) -> str:
            routed.append((kind, modality))
            return "sg.gpu" if (kind, modality) in GPU_WORK else "sg"

    monkeypatch.setattr(celery_app, "make_router", lambda app, queue: Router())
    assert celery_app.enqueue_claimable(app, env.db) == 1  # type: ignore[arg-type]
    assert sent == [(check_id, "sg")] and routed == [("check_source", "tabular")]
