"""docker/: the compose file names the four services and validates with `docker compose
config` (or docker-compose) where one is installed; the Dockerfile builds both roles."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.support.service import REPO

COMPOSE = REPO / "docker" / "compose.yaml"


def test_compose_file_describes_the_deployment() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {"api", "worker", "gpu-worker", "postgres", "redis"}
    for role in ("api", "worker", "gpu-worker"):
        env = services[role]["environment"]
        assert env["SYNTHGEN_EXECUTOR"] == "celery"
        assert env["SYNTHGEN_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["SYNTHGEN_BROKER_URL"].startswith("redis://redis:")
        assert "synthgen-data:/data" in services[role]["volumes"]
        assert services[role]["build"]["dockerfile"] == "docker/Dockerfile"
    assert services["api"]["command"][:2] == ["synthgen", "serve"]
    assert services["worker"]["command"][:3] == ["synthgen", "worker", "--celery"]
    gpu = services["gpu-worker"]  # only with --profile gpu, declaring its device
    assert gpu["profiles"] == ["gpu"] and gpu["command"][-2:] == ["--devices", "gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "torch==${TORCH_VERSION}" in dockerfile and "USER synthgen" in dockerfile


def test_compose_config_validates() -> None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        cmd = ["docker", "compose", "-f", str(COMPOSE), "config", "-q"]
    elif shutil.which("docker-compose"):
        cmd = ["docker-compose", "-f", str(COMPOSE), "config", "-q"]
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
