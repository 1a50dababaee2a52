"""The API process never imports torch, opacus or great_expectations, even when it
serves an upload and a job request (heavy work belongs to workers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import COHORT_SCHEMA, REPO, cohort_csv

SCRIPT = """
import io, json, sys
from fastapi.testclient import TestClient
from api.main import create_app
from pipelines import auth
from pipelines.settings import Settings

settings = Settings(data_dir=sys.argv[1])
app = create_app(settings)
with app.state.services.db.transaction() as s:
    key = auth.create_user(s, name="s", role="steward", actor=auth.operator()).key
h = {"Authorization": "Bearer " + key}
with TestClient(app) as c:
    r = c.post("/v1/sources", headers=h, data={"name": "t", "target": "outcome", "epsilon_budget": "5"},
               files={"file": ("t.csv", open(sys.argv[2], "rb")), "schema": ("s.yaml", open(sys.argv[3], "rb"))})
    assert r.status_code == 201, r.text
    j = c.post("/v1/jobs", headers=h, json={"source_id": r.json()["id"], "epsilon": 1, "rows": 10, "seed": 0})
    assert j.status_code == 202, j.text
    c.get("/openapi.json")
heavy = sorted(m for m in ("torch", "opacus", "great_expectations", "sklearn") if m in sys.modules)
print(json.dumps(heavy))
"""


@pytest.mark.slow
def test_api_process_does_not_import_heavy_libraries(tmp_path: Path) -> None:
    table, schema = tmp_path / "t.csv", tmp_path / "s.yaml"
    table.write_bytes(cohort_csv())
    schema.write_bytes(COHORT_SCHEMA)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data"), str(table), str(schema)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
