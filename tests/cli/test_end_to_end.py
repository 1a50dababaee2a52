"""End to end, as a user would: ``synthgen serve`` on 127.0.0.1, keys from ``synthgen users
create``, a real table (UCI Heart Disease, Cleveland) uploaded with ``synthgen client``, a dataset at epsilon 3 trained
by the real library, polled to completion, approved, downloaded by an ML engineer, and the
report read by an auditor.

On the way, the worker training the job is killed with SIGKILL: ``serve`` starts another,
which picks the job up once its lease has run out and resumes it from the last checkpoint
with the accountant state intact (the certificate counts every step once) and the ledger
charged once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.support.live import free_port
from tests.support.service import REPO, SHARED_DATA

pytestmark = pytest.mark.slow

TABLE = SHARED_DATA / "tabular" / "heart_disease_cleveland.csv"
TARGET = "num"
# public metadata: clinical ranges and the code lists of the UCI documentation (not read
# from the records); "?" marks the missing values of ca and thal
SCHEMA = """\
version: 1
draft: false
columns:
- {name: age, kind: integer, min: 18, max: 100}
- {name: sex, kind: categorical, categories: [0, 1]}
- {name: cp, kind: categorical, categories: [1, 2, 3, 4]}
- {name: trestbps, kind: integer, min: 60, max: 250}
- {name: chol, kind: integer, min: 80, max: 700}
- {name: fbs, kind: categorical, categories: [0, 1]}
- {name: restecg, kind: categorical, categories: [0, 1, 2]}
- {name: thalach, kind: integer, min: 50, max: 250}
- {name: exang, kind: categorical, categories: [0, 1]}
- {name: oldpeak, kind: continuous, min: 0, max: 10}
- {name: slope, kind: categorical, categories: [1, 2, 3]}
- {name: ca, kind: categorical, categories: [0, 1, 2, 3], nullable: true}
- {name: thal, kind: categorical, categories: [3, 6, 7], nullable: true}
- {name: num, kind: categorical, role: label, categories: [0, 1, 2, 3, 4]}
"""
SYNTHGEN = [sys.executable, "-c", "from synthgen.cli import main; main()"]
STEPS = 100


def kill_worker_mid_training(data_dir: Path, job_id: str) -> int:
    """SIGKILL the worker holding ``job_id`` once a checkpoint exists; returns its step."""
    state = data_dir / "private" / "runs" / job_id / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while True:
        step = json.loads(state.read_text())["step"] if state.exists() else 0
        if step >= 20:
            break
        with sqlite3.connect(data_dir / "synthgen.db") as db:
            (job_state, error) = db.execute(
                "SELECT state, error FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        assert job_state in ("queued", "running"), (
            f"the job ended before the kill: {job_state} {error}"
        )
        assert time.monotonic() < deadline, "training never reached a checkpoint"
        time.sleep(0.05)
    with sqlite3.connect(data_dir / "synthgen.db") as db:
        (owner,) = db.execute("SELECT lease_owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
    os.kill(int(owner.split(":")[1]), signal.SIGKILL)  # lease owner: host:pid:nonce
    assert step < STEPS, "training finished before the kill: raise STEPS"
    return int(step)


def test_end_to_end_serve_train_approve_download_audit(tmp_path: Path) -> None:
    if not TABLE.exists():
        pytest.skip(f"{TABLE} is not available")
    port = free_port()
    env = dict(os.environ)
    env.update(
        SYNTHGEN_DATA_DIR=str(tmp_path / "data"),
        SYNTHGEN_TRAIN_MAX_STEPS=str(STEPS),  # seconds, not minutes: the path is what is tested
        SYNTHGEN_TRAIN_OVERRIDES=json.dumps({"checkpoint_every": 10}),
        SYNTHGEN_LEASE_SECONDS="4",
        SYNTHGEN_URL=f"http://127.0.0.1:{port}",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO),
    )
    env.pop("SYNTHGEN_DATABASE_URL", None)
    env.pop("SYNTHGEN_LIBRARY", None)

    def cli(
        *args: str, key: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        run_env = dict(env, SYNTHGEN_API_KEY=key) if key else env
        out = subprocess.run(
            [*SYNTHGEN, *args],
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if ok:
            assert out.returncode == 0, f"synthgen {' '.join(args)}: {out.stderr[-2000:]}"
        return out

    keys = {
        role: cli("users", "create", role, "--role", role).stdout.strip().splitlines()[-1]
        for role in ("steward", "ml_engineer", "auditor")
    }
    assert all(k.startswith("sg_") for k in keys.values())

    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [*SYNTHGEN, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ok = False
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200

        (tmp_path / "schema.yaml").write_text(SCHEMA)
        steward, ml, auditor = keys["steward"], keys["ml_engineer"], keys["auditor"]
        source = cli(
            "client",
            "upload",
            str(TABLE),
            "--name",
            "heart",
            "--target",
            TARGET,
            "--epsilon-budget",
            "10",
            "--schema",
            "schema.yaml",
            "--wait",
            key=steward,
        ).stdout.strip()
        job_id = cli(
            "client",
            "request",
            source,
            "--epsilon",
            "3",
            "--rows",
            "1000",
            "--seed",
            "1",
            key=steward,
        ).stdout.strip()
        killed_at = kill_worker_mid_training(tmp_path / "data", job_id)
        status = json.loads(cli("client", "status", job_id, "--wait", key=steward).stdout)
        assert status["state"] == "succeeded" and status["progress"] == 100.0
        assert status["attempts"] == 2  # picked up again after the kill
        assert 0 < status["epsilon_spent"] <= 3.0
        release = status["release_id"]
        ledger = json.loads(cli("client", "ledger", source, key=steward).stdout)
        assert (
            ledger["epsilon_spent"] == pytest.approx(status["epsilon_spent"])
            and ledger["epsilon_reserved"] == 0
        )

        assert release not in cli("client", "releases", key=ml).stdout  # not approved yet
        refused = cli("client", "download", release, "--out", "early.csv", key=ml, ok=False)
        assert refused.returncode != 0 and "404" in refused.stderr
        cli("client", "approve", release, "--reason", "report reviewed", key=steward)

        assert release in cli("client", "releases", key=ml).stdout
        cli("client", "download", release, "--out", "synthetic.csv", key=ml)
        cli(
            "client",
            "download",
            release,
            "--out",
            "synthetic.parquet",
            "--format",
            "parquet",
            key=ml,
        )
        real = pd.read_csv(TABLE)
        for name in ("synthetic.csv", "synthetic.parquet"):
            frame = (
                pd.read_csv(tmp_path / name)
                if name.endswith("csv")
                else pd.read_parquet(tmp_path / name)
            )
            assert len(frame) == 1000 and list(frame.columns) == list(real.columns)
        certificate = json.loads(cli("client", "certificate", release, key=ml).stdout)
        assert certificate["private"] is True and certificate["epsilon"] <= 3.0
        # resumed, not restarted: every step counted once by the restored accountant
        assert certificate["steps"] == STEPS and killed_at > 0
        with sqlite3.connect(tmp_path / "data" / "synthgen.db") as db:
            (outputs,) = db.execute("SELECT outputs FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert json.loads(outputs)["train"]["resumed"] is True
        assert certificate["epsilon"] == pytest.approx(status["epsilon_spent"])
        assert len(ledger["entries"]) == 1
        assert "403" in cli("client", "report", release, "--out", "r.html", key=ml, ok=False).stderr

        for fmt in ("html", "json", "pdf"):
            cli("client", "report", release, "--out", f"report.{fmt}", "--format", fmt, key=auditor)
        assert json.loads((tmp_path / "report.json").read_text())["verdict"] in (
            "pass",
            "warn",
            "fail",
        )
        assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
        assert "<html" in (tmp_path / "report.html").read_text().lower()
        trail = cli("client", "audit", "--limit", "100", key=auditor).stdout
        for action in (
            "source.upload",
            "job.create",
            "release.approve",
            "release.download",
            "report.read",
        ):
            assert action in trail
        ok = True
    finally:
        if not ok:  # the server's and workers' log, for whoever reads the failure
            print((tmp_path / "serve.log").read_text()[-6000:])
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
