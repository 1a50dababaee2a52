"""Worker subprocesses for fault tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.settings import Settings
from tests.support.service import REPO


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SYNTHGEN_DATA_DIR=str(settings.data_dir),
        SYNTHGEN_DATABASE_URL=settings.sqlalchemy_url,
        SYNTHGEN_LIBRARY=settings.library,
        SYNTHGEN_LEASE_SECONDS=str(settings.lease_seconds),
        SYNTHGEN_POLL_SECONDS="0.2",
        SYNTHGEN_EXECUTOR=settings.executor,
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


def start_worker(settings: Settings, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.worker", "--no-migrate"],
            cwd=REPO,
            env=worker_env(settings, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
