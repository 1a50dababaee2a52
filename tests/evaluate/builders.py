"""Real tables and schemas for the evaluation tests; model directories are built by hand
with ``benchmarks.model_dirs`` (shared with the validation benchmark)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.model_dirs import to_csv_like_sampler as to_csv_like_sampler
from benchmarks.model_dirs import write_model as write_model
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


def split(df: pd.DataFrame, holdout_fraction: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(df))
    n_holdout = round(len(df) * holdout_fraction)
    holdout = df.iloc[order[:n_holdout]].reset_index(drop=True)
    train = df.iloc[order[n_holdout:]].reset_index(drop=True)
    return train, holdout


def independent_columns(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every column shuffled on its own: the marginals stay, every dependency is gone."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: df[c].to_numpy()[rng.permutation(len(df))] for c in df.columns})


def with_sensitive(schema: Schema, *names: str) -> Schema:
    cols = tuple(replace(c, sensitive=c.name in names) for c in schema.columns)
    return replace(schema, columns=cols)
