"""The demo: the whole tabular path on bundled, public data.

scikit-learn ships the Breast Cancer Wisconsin (Diagnostic) table (569 patients, 30
measurements of cell nuclei, malignant or benign), so the demo needs no download. It
trains at epsilon 3 with the dataset's published schema, samples a synthetic copy and
prints the certificate; the CLI then validates the release and writes the report.
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
from synthgen.requests import SampleOptions, TrainRequest

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
            raise OutputError(
                f"{out_dir} exists and was not made by `synthgen demo`; choose another --out-dir"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / MARKER).write_text("files written by `synthgen demo`; safe to delete\n")


def run_tabular_demo(
    out_dir: Path = Path("synthgen-demo"),
    *,
    echo: Callable[[str], None] = print,
    progress: Any = None,
    seed: int = 0,
) -> dict[str, Any]:
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
            TrainRequest(
                source=source,
                target="diagnosis",
                table_schema=breast_cancer_schema_path(),
                epsilon=DEMO_EPSILON,
                out=out_dir / "model",
                seed=seed,
            ),
            progress=progress,
        )
    synthetic = sample_tabular(
        result.model_dir,
        SampleOptions(rows=569, seed=seed),
        out=out_dir / "synthetic.csv",
        progress=progress,
    )
    echo(f"synthetic data: {synthetic}")
    echo("DP certificate:")
    cert = json.loads((result.model_dir / "certificate.json").read_text())
    echo(
        json.dumps(
            {
                k: cert[k]
                for k in (
                    "epsilon",
                    "delta",
                    "unit",
                    "private",
                    "noise_multiplier",
                    "sample_rate",
                    "steps",
                    "max_grad_norm",
                    "noise_multiplicity",
                    "accountant",
                    "preprocessing_epsilon",
                    "secure_rng",
                )
            },
            indent=2,
        )
    )
    return {
        "model_dir": result.model_dir,
        "private_dir": result.private_dir,
        "synthetic": synthetic,
        "certificate": cert,
    }
