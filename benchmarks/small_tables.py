"""Small clinical tables (150-430 training rows): synthgen beside MST at the same budget.

Each run splits a table 50/50 (stratified, seed = run), trains synthgen on one half with
the public schema (benchmarks/schemas/) and MST on the same half with the same declared
bounds and categories and the same (epsilon, delta), samples as many rows as the half
holds, and scores both against the other half:

    OMP_NUM_THREADS=1 python benchmarks/small_tables.py --datasets heart,pima \\
        --epsilons 1,3,10 --runs 5 --results small.jsonl
    python benchmarks/small_tables.py --summarise small.jsonl

Columns: TSTR ROC AUC (gradient boosting trained on synthetic, tested on the real test
half; heart: disease present, num > 0), 1-way / 2-way TV (benchmarks/tabular_metrics.py),
detection AUC (benchmarks/tabular_metrics.py: 0.5 = indistinguishable), and "classes": whether
every declared class of the label is in the synthetic rows. Each run appends one JSON line
per (dataset, epsilon, method) to --results; --summarise prints mean and standard deviation
over runs. MST runs in its own environment (benchmarks/mst_baseline.py) and is skipped, with
a message, when that is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import mst_baseline  # noqa: E402
from benchmarks.tabular_benchmark import DATA, stratified_split  # noqa: E402
from benchmarks.tabular_metrics import detection_auc, marginal_tv, tstr_auc  # noqa: E402
from synthgen.tabular.conform import conform  # noqa: E402
from synthgen.tabular.io import read_table  # noqa: E402
from synthgen.tabular.schema import Schema  # noqa: E402

SCHEMAS = ROOT / "benchmarks" / "schemas"


@dataclass(frozen=True)
class SmallTable:
    schema: Path
    csv: str | None  # a file in the data folder; None: the bundled breast cancer table
    # the binary task TSTR scores: which label values count as positive
    positive: Callable[[object], bool]


def _breast_cancer_schema() -> Path:
    from synthgen.demo import breast_cancer_schema_path

    return breast_cancer_schema_path()


TABLES = {
    "heart": SmallTable(
        SCHEMAS / "heart.yaml", "heart_disease_cleveland.csv", lambda v: str(v) != "0"
    ),
    "breast": SmallTable(Path(), None, lambda v: str(v) == "malignant"),
    "liver": SmallTable(
        SCHEMAS / "liver.yaml", "indian_liver_patient.csv", lambda v: str(v) == "1"
    ),
    "pima": SmallTable(SCHEMAS / "pima.yaml", "pima_indians_diabetes.csv", lambda v: str(v) == "1"),
    "cervical": SmallTable(
        SCHEMAS / "cervical.yaml", "cervical_cancer_risk_factors.csv", lambda v: str(v) == "1"
    ),
}


def load(name: str, data_dir: Path) -> tuple[pd.DataFrame, Schema]:
    table = TABLES[name]
    if table.csv is None:
        from synthgen.demo import breast_cancer_table

        schema = Schema.load(_breast_cancer_schema())
        return conform(breast_cancer_table(), schema), schema
    schema = Schema.load(table.schema)
    return conform(read_table(data_dir / table.csv, na_values=schema.na_values), schema), schema


def binary_tstr(
    synthetic: pd.DataFrame, test: pd.DataFrame, target: str, positive: Callable[[object], bool]
) -> float:
    """TSTR ROC AUC of the table's binary task (0.5 when the synthetic rows hold one side only)."""

    def binarise(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(**{target: df[target].map(lambda v: "1" if positive(v) else "0")})

    # a column the synthetic rows leave entirely missing teaches nothing, and gradient
    # boosting cannot bin it (cervical's "time since diagnosis", missing in 92% of rows)
    usable = [c for c in test.columns if c in synthetic.columns and synthetic[c].notna().any()]
    return tstr_auc(binarise(synthetic[usable]), binarise(test[usable]), target)


def _synthgen(
    train: pd.DataFrame,
    schema: Schema,
    target: str,
    epsilon: float,
    seed: int,
    overrides: dict[str, object],
) -> tuple[pd.DataFrame, float, dict[str, object]]:
    from synthgen.requests import TrainRequest
    from synthgen.tabular.model import TabularModel
    from synthgen.tabular.train import train_tabular

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_tabular(
            TrainRequest(
                source=train,
                target=target,
                table_schema=schema,
                epsilon=epsilon,
                out=Path(tmp) / "model",
                seed=seed,
                holdout=0.0,
                overrides={"secure_rng": False, **overrides},
                # the estimate's verdict is recorded, not obeyed: the benchmark measures
                # what an infeasible run still delivers
                accept_infeasible=True,
            )
        )
        model = TabularModel.load(Path(tmp) / "model")
        synthetic = model.sample(len(train), seed=seed + 1)
    config = {"N-hat": result.certificate.n_training_records} | {
        k: getattr(model.config, k)
        for k in (
            "preprocessing_share",
            "batch_size",
            "steps",
            "hidden_width",
            "n_blocks",
            "histogram_bins",
        )
    }
    return synthetic, result.certificate.delta, config


def run(
    name: str,
    epsilon: float,
    seed: int,
    methods: list[str],
    data_dir: Path,
    overrides: dict[str, object],
) -> list[dict[str, object]]:
    df, schema = load(name, data_dir)
    target = schema.target.name  # type: ignore[union-attr]
    positive = TABLES[name].positive
    train, test = stratified_split(df, target, 0.5, seed=seed)
    declared = {str(c) for c in schema.target.declared_categories() or ()}  # type: ignore[union-attr]
    rows: list[dict[str, object]] = []
    delta = None
    for method in methods:
        start = time.perf_counter()
        extra: dict[str, object] = {}
        if method == "synthgen":
            synthetic, delta, extra = _synthgen(train, schema, target, epsilon, seed, overrides)
        else:
            if mst_baseline.mst_python() is None:
                print(
                    "MST skipped: its environment is not installed (see benchmarks/mst_baseline.py)",
                    file=sys.stderr,
                )
                continue
            # the same delta as synthgen's run (its default from the DP count), else ours' formula on the declared size
            mst_delta = delta if delta is not None else min(1e-5, 1 / (10 * len(train)))
            synthetic = mst_baseline.fit_sample(
                train, schema, epsilon=epsilon, delta=mst_delta, rows=len(train), seed=seed
            )
        seconds = time.perf_counter() - start
        one_way, two_way = marginal_tv(train, synthetic, schema)
        rows.append(
            {
                "dataset": name,
                "epsilon": epsilon,
                "method": method,
                "run": seed,
                "TSTR": binary_tstr(synthetic, test, target, positive),
                "TRTR": binary_tstr(train, test, target, positive),
                "1-way TV": one_way,
                "2-way TV": two_way,
                "detection": detection_auc(train, synthetic, schema, seed=seed),
                "classes": declared <= {str(v) for v in synthetic[target].dropna()},
                "seconds": seconds,
                **({"config": extra} if extra else {}),
            }
        )
    return rows


METRICS = ("TSTR", "TRTR", "1-way TV", "2-way TV", "detection")


def summarise(records: list[dict[str, object]]) -> str:
    """Markdown table: one line per (dataset, epsilon, method), mean ± standard deviation."""
    frame = pd.DataFrame(records)
    lines = [
        "| dataset | epsilon | method | runs | " + " | ".join(METRICS) + " | all classes |",
        "|" + "---|" * (5 + len(METRICS)),
    ]
    order = {n: i for i, n in enumerate(TABLES)}
    keys = sorted(
        {(r["dataset"], r["epsilon"], r["method"]) for r in records},
        key=lambda k: (order.get(k[0], 99), k[1], k[2]),
    )
    for dataset, epsilon, method in keys:
        part = frame[
            (frame.dataset == dataset) & (frame.epsilon == epsilon) & (frame.method == method)
        ]
        cells = [
            f"{part[m].mean():.3f} ± {part[m].std(ddof=1) if len(part) > 1 else 0:.3f}"
            for m in METRICS
        ]
        lines.append(
            f"| {dataset} | {epsilon:g} | {method} | {len(part)} | "
            + " | ".join(cells)
            + f" | {int(part['classes'].sum())}/{len(part)} |"
        )
    return "\n".join(lines)


def _parse_option(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    return key, json.loads(value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default=",".join(TABLES))
    parser.add_argument("--epsilons", default="1,3,10")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-run", type=int, default=0)
    parser.add_argument("--methods", default="synthgen,mst")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a synthgen training option for every run (e.g. steps=200)",
    )
    parser.add_argument("--data-dir", default=str(DATA))
    parser.add_argument("--results", default=None, help="append one JSON line per result here")
    parser.add_argument(
        "--summarise", default=None, metavar="JSONL", help="print the table of a results file"
    )
    args = parser.parse_args()
    if args.summarise:
        with open(args.summarise) as f:
            print(summarise([json.loads(line) for line in f if line.strip()]))
        return
    overrides = dict(_parse_option(o) for o in args.option)
    records = []
    for seed in range(args.first_run, args.first_run + args.runs):
        for name in args.datasets.split(","):
            for eps in args.epsilons.split(","):
                for row in run(
                    name, float(eps), seed, args.methods.split(","), Path(args.data_dir), overrides
                ):
                    records.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    if args.results:
                        with open(args.results, "a") as f:
                            f.write(json.dumps(row) + "\n")
    if records:
        print(summarise(records))


if __name__ == "__main__":
    main()
