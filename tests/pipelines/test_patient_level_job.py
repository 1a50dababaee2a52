"""The service's training stage with the real library: a source whose schema declares
`role: entity` trains at patient level without any option (the request is built as
pipelines/stages.py builds it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.library import SynthgenLibrary
from synthgen.requests import TrainRequest
from tests.privacy.test_neighbouring import TINY_TABLE
from tests.privacy.test_patient_level import PATIENT_SCHEMA


def test_a_schema_with_an_entity_makes_the_job_patient_level(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 150
    pd.DataFrame({"patient": [f"p{i % 45}" for i in range(n)], "age": rng.integers(20, 90, n),
                  "weight": np.round(rng.normal(75, 12, n), 1), "ward": rng.choice(["a", "b", "c"], n),
                  "outcome": rng.choice(["no", "yes"], n)}).to_csv(tmp_path / "source.csv", index=False)
    (tmp_path / "schema.yaml").write_text(PATIENT_SCHEMA)
    request = TrainRequest(epsilon=5.0, seed=7, overrides=TINY_TABLE, source=tmp_path / "source.csv",
                           modality="tabular", target=None, table_schema=tmp_path / "schema.yaml",
                           out=tmp_path / "model", private_dir=tmp_path / "run", resume=False,
                           # 45 patients: the DP patient count is mostly noise at epsilon 5
                           accept_infeasible=True)
    outcome = SynthgenLibrary().train(request, progress=lambda event: None, should_stop=lambda: False)
    certificate = outcome.certificate
    assert certificate["unit"] == "patient" and certificate["entity_column"] == "patient"
    assert certificate["adjacency"] == "add/remove one patient with all their records"
    assert certificate["max_records_per_entity"] == 8
