"""Model directories built by hand, for timing and testing validation without training.

The layout follows docs/architecture.md: the model directory holds schema.json,
certificate.json, config.json and run.json (pointing at the private directory), and the
private directory holds the conformed train/holdout split as Parquet. The certificate is
made up: nothing here was trained. Used by ``validation_benchmark.py`` and the tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from synthgen.privacy.certificate import Certificate
from synthgen.tabular.schema import Schema


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
        "source": str(root / "source.csv"),
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
