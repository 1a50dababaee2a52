from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthgen.tabular.schema import Schema

HEART_SCHEMA = """
version: 1
name: heart
draft: false
columns:
- {name: age, kind: integer, min: 18, max: 100}
- {name: sex, kind: categorical, categories: [0, 1], sensitive: true}
- {name: cp, kind: categorical, categories: [1, 2, 3, 4]}
- {name: trestbps, kind: integer, min: 80, max: 220}
- {name: chol, kind: integer, min: 100, max: 600}
- {name: fbs, kind: categorical, categories: [0, 1]}
- {name: restecg, kind: categorical, categories: [0, 1, 2]}
- {name: thalach, kind: integer, min: 60, max: 220}
- {name: exang, kind: categorical, categories: [0, 1]}
- {name: oldpeak, kind: continuous, min: 0, max: 7}
- {name: slope, kind: categorical, categories: [1, 2, 3]}
- {name: ca, kind: categorical, categories: [0, 1, 2, 3], nullable: true}
- {name: thal, kind: categorical, categories: [3, 6, 7], nullable: true}
- {name: num, kind: integer, min: 0, max: 4}
- {name: disease, kind: categorical, role: label, categories: ["no", "yes"]}
"""


@pytest.fixture()
def heart_csv(shared_data: Path, tmp_path: Path) -> Path:
    """UCI Cleveland heart disease (303 rows) with the usual binary label added."""
    df = pd.read_csv(shared_data / "tabular" / "heart_disease_cleveland.csv", na_values=["?"])
    df["disease"] = (df["num"] > 0).map({False: "no", True: "yes"})
    path = tmp_path / "heart.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture()
def heart_schema(tmp_path: Path) -> Path:
    path = tmp_path / "heart.yaml"
    path.write_text(HEART_SCHEMA)
    return path


@pytest.fixture()
def heart_schema_obj(heart_schema: Path) -> Schema:
    return Schema.load(heart_schema)
