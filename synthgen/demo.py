"""The demo: the whole tabular path on bundled, public data.

scikit-learn ships the Breast Cancer Wisconsin (Diagnostic) table (569 patients, 30
measurements of cell nuclei, malignant or benign), so the demo needs no download. It
trains at epsilon 3 with the dataset's published schema, samples a synthetic copy,
prints the certificate and a fidelity/utility summary measured on the holdout.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from synthgen.errors import OutputError

DEMO_EPSILON = 3.0
MARKER = ".synthgen-demo"


def breast_cancer_table() -> Any:
    """The bundled table with a readable label column ``diagnosis``."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


def breast_cancer_schema_path() -> Path:
    return Path(str(resources.files("synthgen.datasets") / "breast_cancer.schema.yaml"))


def prepare_directory(out_dir: Path) -> None:
    """Create ``out_dir`` or clear a previous demo's files in it; refuse any other folder."""
    if out_dir.exists():
        if not (out_dir / MARKER).exists() and any(out_dir.iterdir()):
            raise OutputError(f"{out_dir} exists and was not made by `synthgen demo`; choose another --out-dir")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / MARKER).write_text("files written by `synthgen demo`; safe to delete\n")


def run_tabular_demo(out_dir: Path = Path("synthgen-demo"), *, echo: Callable[[str], None] = print,
                     progress: Any = None, seed: int = 0) -> dict[str, Any]:
    from synthgen.tabular.sample import sample_tabular
    from synthgen.tabular.train import train_tabular

    prepare_directory(out_dir)
    source = out_dir / "breast_cancer.csv"
    breast_cancer_table().to_csv(source, index=False)
    echo(f"source: {source} (scikit-learn's Breast Cancer Wisconsin table, 569 rows)")
    echo(f"training a DP diffusion model at epsilon {DEMO_EPSILON:g} ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_tabular(
            source, target="diagnosis", schema=breast_cancer_schema_path(), epsilon=DEMO_EPSILON,
            out=out_dir / "model", seed=seed, progress=progress,
        )
    synthetic = sample_tabular(result.model_dir, rows=569, out=out_dir / "synthetic.csv", seed=seed, progress=progress)
    echo(f"synthetic data: {synthetic}")
    echo("DP certificate:")
    cert = json.loads((result.model_dir / "certificate.json").read_text())
    echo(json.dumps({k: cert[k] for k in (
        "epsilon", "delta", "unit", "private", "noise_multiplier", "sample_rate", "steps",
        "max_grad_norm", "noise_multiplicity", "accountant", "preprocessing_epsilon", "secure_rng",
    )}, indent=2))
    summary = quick_summary(result.private_dir, synthetic)
    echo(
        "fidelity/utility (on the real holdout; for the steward only): "
        f"TSTR ROC AUC {summary['tstr_auc']:.3f} vs {summary['trtr_auc']:.3f} trained on real; "
        f"mean 1-way TV distance {summary['one_way_tv']:.3f}"
    )
    return {"model_dir": result.model_dir, "synthetic": synthetic, "certificate": cert, **summary}


def quick_summary(private_dir: Path, synthetic_path: Path) -> dict[str, float]:
    """TSTR/TRTR ROC AUC of a logistic regression and the mean 1-way TV distance (numerics in
    10 quantile bins of the real training split)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = pd.read_parquet(private_dir / "train.parquet")
    holdout = pd.read_parquet(private_dir / "holdout.parquet")
    synthetic = pd.read_csv(synthetic_path)
    features = [c for c in train.columns if c != "diagnosis"]

    def auc(fit_on: pd.DataFrame) -> float:
        y = (fit_on["diagnosis"] == "malignant").astype(int)
        if y.nunique() < 2:
            return 0.5
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(fit_on[features], y)
        return float(roc_auc_score((holdout["diagnosis"] == "malignant").astype(int),
                                   clf.predict_proba(holdout[features])[:, 1]))

    tvs = []
    for col in features:
        edges = np.unique(np.quantile(train[col], np.linspace(0, 1, 11)))[1:-1]
        p = np.bincount(np.searchsorted(edges, train[col]), minlength=len(edges) + 1) / len(train)
        q = np.bincount(np.searchsorted(edges, synthetic[col]), minlength=len(edges) + 1) / len(synthetic)
        tvs.append(0.5 * np.abs(p - q).sum())
    return {"tstr_auc": auc(synthetic), "trtr_auc": auc(train), "one_way_tv": float(np.mean(tvs))}
