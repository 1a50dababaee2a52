"""MST (McKenna et al., smartnoise-synth) as a baseline, run in its own environment.

smartnoise-synth pins an old Opacus, so it lives in a virtual environment of its own
(``SYNTHGEN_MST_PYTHON``, default ../mstenv/bin/python beside the repository; set it up with
``python3 -m venv ../mstenv`` (from the repository root) and the packages listed in
docs/research/2026-12-05-small-tables-vs-mst.md). This module codes a table as integers
from the public schema, hands it to benchmarks/mst_runner.py through a CSV, and decodes
what comes back. MST sees the same public facts as synthgen: the declared bounds (cut into
equal-width bins) and the declared categories, plus one code for "missing" where the schema
says nullable. Nothing about the domain is read from the rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from synthgen.tabular.schema import ColumnSpec, Schema

RUNNER = Path(__file__).with_name("mst_runner.py")
DEFAULT_PYTHON = str(Path(__file__).resolve().parents[2] / "mstenv" / "bin" / "python")
# equal-width bins per numeric column within its declared bounds (MST's own examples use
# 16-32; 16 keeps the 2-way marginals of 150-row tables from being mostly empty cells)
NUMERIC_BINS = 16


def mst_python() -> Path | None:
    """The MST environment's python, or None when it is not installed."""
    path = Path(os.environ.get("SYNTHGEN_MST_PYTHON", DEFAULT_PYTHON))
    return path if path.exists() else None


def _edges(spec: ColumnSpec) -> np.ndarray:
    lo, hi = float(spec.minimum), float(spec.maximum)  # type: ignore[arg-type]
    if spec.kind == "integer" and hi - lo + 1 <= NUMERIC_BINS:  # one bin per whole number
        return np.arange(lo - 0.5, hi + 1.0, 1.0)
    return np.linspace(lo, hi, NUMERIC_BINS + 1)


def _categories(spec: ColumnSpec) -> tuple[object, ...]:
    categories = spec.declared_categories()
    if categories is None:
        raise ValueError(f"MST needs the categories of {spec.name!r} declared in the schema")
    return categories


def domain_sizes(schema: Schema) -> dict[str, int]:
    """Codes per column: bins or categories, plus one for missing when nullable."""
    sizes = {}
    for spec in schema.synthesized:
        n = len(_edges(spec)) - 1 if spec.is_numeric else len(_categories(spec))
        sizes[spec.name] = n + int(spec.nullable)
    return sizes


def encode(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Integer codes of a conformed table; missing is the last code of a nullable column."""
    out = {}
    for spec in schema.synthesized:
        values = df[spec.name]
        missing = values.isna().to_numpy()
        if spec.is_numeric:
            edges = _edges(spec)
            x = pd.to_numeric(values, errors="coerce").to_numpy(float)
            code = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
            missing_code = len(edges) - 1
        else:
            lookup = {str(c): i for i, c in enumerate(_categories(spec))}
            code = np.array([lookup.get(str(v), 0) for v in values])
            missing_code = len(lookup)
        out[spec.name] = np.where(missing, missing_code, code).astype(int)
    return pd.DataFrame(out)


def decode(codes: pd.DataFrame, schema: Schema, seed: int) -> pd.DataFrame:
    """Values from codes: a bin becomes a uniform draw inside it (rounded for integers)."""
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {}
    for spec in schema.synthesized:
        code = codes[spec.name].to_numpy(int)
        if spec.is_numeric:
            edges = _edges(spec)
            inside = np.clip(code, 0, len(edges) - 2)
            x = rng.uniform(edges[inside], edges[inside + 1])
            if spec.kind == "integer":
                x = np.round(x) + 0.0  # no "-0.0" from rounding a draw just below 0
            x = np.clip(x, spec.minimum, spec.maximum)
            out[spec.name] = np.where(code == len(edges) - 1, np.nan, x)
        else:
            categories = _categories(spec)
            out[spec.name] = pd.Series(
                [categories[c] if c < len(categories) else None for c in code], dtype=object
            )
    return pd.DataFrame(out)


def fit_sample(
    train: pd.DataFrame, schema: Schema, *, epsilon: float, delta: float, rows: int, seed: int
) -> pd.DataFrame:
    """Fit MST on ``train`` at (epsilon, delta) and sample ``rows`` rows."""
    python = mst_python()
    if python is None:
        raise FileNotFoundError("the MST environment is not installed (SYNTHGEN_MST_PYTHON)")
    with tempfile.TemporaryDirectory() as tmp:
        codes, domain, out = Path(tmp, "codes.csv"), Path(tmp, "domain.json"), Path(tmp, "out.csv")
        encode(train, schema).to_csv(codes, index=False)
        domain.write_text(json.dumps(domain_sizes(schema)))
        command = [str(python), str(RUNNER), str(codes), str(domain), str(out)]
        command += [f"--epsilon={epsilon}", f"--delta={delta}", f"--rows={rows}", f"--seed={seed}"]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        subprocess.run(command, check=True, env=env, capture_output=True, text=True)
        return decode(pd.read_csv(out), schema, seed)
