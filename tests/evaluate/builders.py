"""Build small model directories and private run directories by hand, from real tables.

The layout follows docs/architecture.md: the model directory holds schema.json,
certificate.json, config.json and run.json (pointing at the private directory), and the
private directory holds the conformed train/holdout split as Parquet.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from synthgen.privacy.certificate import Certificate
from synthgen.tabular.conform import conform
from synthgen.tabular.io import read_table
from synthgen.tabular.schema import Schema

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SYNTHGEN_SHARED_DATA", REPO.parent / "shared" / "data")) / "tabular"

HEART_SCHEMA = {
    "name": "heart",
    "draft": False,
    "columns": [
        {"name": "age", "kind": "integer", "min": 18, "max": 100},
        {"name": "sex", "kind": "categorical", "categories": [0, 1], "sensitive": False},
        {"name": "cp", "kind": "categorical", "categories": [1, 2, 3, 4]},
        {"name": "trestbps", "kind": "integer", "min": 60, "max": 250},
        {"name": "chol", "kind": "integer", "min": 80, "max": 700},
        {"name": "fbs", "kind": "boolean"},
        {"name": "restecg", "kind": "categorical", "categories": [0, 1, 2]},
        {"name": "thalach", "kind": "integer", "min": 50, "max": 250},
        {"name": "exang", "kind": "boolean"},
        {"name": "oldpeak", "kind": "continuous", "min": 0, "max": 10},
        {"name": "slope", "kind": "categorical", "categories": [1, 2, 3]},
        {"name": "ca", "kind": "categorical", "categories": [0, 1, 2, 3], "nullable": True},
        {"name": "thal", "kind": "categorical", "categories": [3, 6, 7], "nullable": True, "sensitive": True},
        {"name": "num", "kind": "integer", "role": "label", "min": 0, "max": 4},
    ],
}

ADULT_CATEGORIES = {
    "workclass": ["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
                  "State-gov", "Without-pay", "Never-worked"],
    "education": ["Bachelors", "Some-college", "11th", "HS-grad", "Prof-school", "Assoc-acdm",
                  "Assoc-voc", "9th", "7th-8th", "12th", "Masters", "1st-4th", "10th",
                  "Doctorate", "5th-6th", "Preschool"],
    "marital-status": ["Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
                       "Married-spouse-absent", "Married-AF-spouse"],
    "occupation": ["Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
                   "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
                   "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
                   "Armed-Forces"],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"],
    "race": ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"],
    "sex": ["Female", "Male"],
    "native-country": ["United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany",
                       "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece", "South", "China",
                       "Cuba", "Iran", "Honduras", "Philippines", "Italy", "Poland", "Jamaica",
                       "Vietnam", "Mexico", "Portugal", "Ireland", "France", "Dominican-Republic",
                       "Laos", "Ecuador", "Taiwan", "Haiti", "Columbia", "Hungary", "Guatemala",
                       "Nicaragua", "Scotland", "Thailand", "Yugoslavia", "El-Salvador",
                       "Trinadad&Tobago", "Peru", "Hong", "Holand-Netherlands"],
}


def adult_schema() -> Schema:
    """A reviewed Adult schema: public category lists (adult.names) and generous bounds."""
    cat = ADULT_CATEGORIES
    columns = [
        {"name": "age", "kind": "integer", "min": 17, "max": 90},
        {"name": "workclass", "kind": "categorical", "categories": cat["workclass"], "nullable": True},
        {"name": "fnlwgt", "kind": "continuous", "min": 10000, "max": 1500000},
        {"name": "education", "kind": "categorical", "categories": cat["education"]},
        {"name": "education-num", "kind": "integer", "min": 1, "max": 16},
        {"name": "marital-status", "kind": "categorical", "categories": cat["marital-status"]},
        {"name": "occupation", "kind": "categorical", "categories": cat["occupation"], "nullable": True},
        {"name": "relationship", "kind": "categorical", "categories": cat["relationship"]},
        {"name": "race", "kind": "categorical", "categories": cat["race"], "sensitive": True},
        {"name": "sex", "kind": "categorical", "categories": cat["sex"]},
        {"name": "capital-gain", "kind": "integer", "min": 0, "max": 100000},
        {"name": "capital-loss", "kind": "integer", "min": 0, "max": 5000},
        {"name": "hours-per-week", "kind": "integer", "min": 1, "max": 99},
        {"name": "native-country", "kind": "categorical", "categories": cat["native-country"], "nullable": True},
        {"name": "income", "kind": "categorical", "role": "label", "categories": ["<=50K", ">50K"]},
    ]
    return Schema.from_dict({"name": "adult", "draft": False, "columns": columns})


def heart_schema() -> Schema:
    return Schema.from_dict(HEART_SCHEMA)


def heart_table() -> pd.DataFrame:
    """The Cleveland table conformed to its schema (303 rows)."""
    schema = heart_schema()
    return conform(read_table(DATA / "heart_disease_cleveland.csv", na_values=schema.na_values), schema)


def adult_table(which: str = "train") -> pd.DataFrame:
    """Adult conformed to its schema; test labels lose their trailing period."""
    schema = adult_schema()
    raw = read_table(DATA / f"adult_{which}.csv", na_values=schema.na_values)
    raw["income"] = raw["income"].str.rstrip(".")
    return conform(raw, schema)


def certificate(*, private: bool = True, epsilon: float = 3.0) -> Certificate:
    return Certificate(
        epsilon=epsilon if private else math.inf,
        delta=1e-5,
        unit="one row of the source table",
        private=private,
        noise_multiplier=1.1 if private else None,
        sample_rate=0.05 if private else None,
        steps=2000,
        max_grad_norm=1.0 if private else None,
        noise_multiplicity=4,
        accountant="rdp",
        preprocessing_epsilon=0.1 if private else math.inf,
        secure_rng=private,
        target_epsilon=epsilon if private else None,
        training_epsilon=epsilon - 0.1 if private else math.inf,
        mechanisms=[{"name": "class counts", "mechanism": "Gaussian", "epsilon": 0.1}] if private else [],
        code_version="0.1.0",
        created_at="2026-11-27T12:00:00+00:00",
    )


def write_model(
    root: Path,
    schema: Schema,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    private: bool = True,
    name: str = "model",
) -> Path:
    """A model directory and its private run directory under ``root``."""
    model_dir = root / name
    private_dir = root / f"{name}.private"
    model_dir.mkdir(parents=True)
    private_dir.mkdir()
    names = [c.name for c in schema.synthesized]
    train[names].to_parquet(private_dir / "train.parquet", index=False)
    holdout[names].to_parquet(private_dir / "holdout.parquet", index=False)
    (model_dir / "schema.json").write_text(schema.to_json())
    certificate(private=private).save(model_dir / "certificate.json")
    (model_dir / "config.json").write_text(json.dumps({"modality": "tabular", "synthgen_version": "0.1.0"}))
    target = schema.target
    run = {
        "source": str(DATA / "source.csv"),
        "source_sha256": "0" * 64,
        "schema_sha256": schema.hash(),
        "code_version": "0.1.0",
        "seed": 7,
        "created_at": "2026-11-27T12:00:00+00:00",
        "holdout_fraction": len(holdout) / (len(train) + len(holdout)),
        "n_train": len(train),
        "n_holdout": len(holdout),
        "target": target.name if target else None,
        "private_dir": str(private_dir.resolve()),
    }
    (model_dir / "run.json").write_text(json.dumps(run))
    return model_dir


def split(df: pd.DataFrame, holdout_fraction: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(df))
    n_holdout = round(len(df) * holdout_fraction)
    holdout = df.iloc[order[:n_holdout]].reset_index(drop=True)
    train = df.iloc[order[n_holdout:]].reset_index(drop=True)
    return train, holdout


def to_csv_like_sampler(df: pd.DataFrame, schema: Schema, path: Path) -> Path:
    """Write a table as the sampler does: integers as ints, nulls as empty cells."""
    out = df.copy()
    for spec in schema.synthesized:
        if spec.kind == "integer" and spec.name in out.columns:
            out[spec.name] = pd.array(
                [None if pd.isna(v) else round(float(v)) for v in out[spec.name]], dtype="Int64"
            )
    out.to_csv(path, index=False)
    return path


def independent_columns(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every column shuffled on its own: the marginals stay, every dependency is gone."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: df[c].to_numpy()[rng.permutation(len(df))] for c in df.columns})


def with_sensitive(schema: Schema, *names: str) -> Schema:
    cols = tuple(replace(c, sensitive=c.name in names) for c in schema.columns)
    return replace(schema, columns=cols)
