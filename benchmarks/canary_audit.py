"""Canary audit benchmark: the one-run audit of the production DP-SGD recipe at full size.

For each epsilon, trains on a public table with the production recipe (the noise multiplier
calibrated to epsilon, the production step count and sample rate) plus white-box gradient
canaries, and prints the empirical epsilon lower bound next to the claim; then again with
the noise multiplier scaled down (audit only: 0 = no noise, 0.25 = a noise term 4x too
small). Prints a Markdown table:

    python benchmarks/canary_audit.py --epsilons 1,10 --scales 1,0.25,0 --canaries 1000

A bound above the claim is a violation: with scale 1 that would be a bug in synthgen.

The whole-patient audit (issue 25): each canary is a patient of K near-duplicate records,
trained with patient-level DP-SGD (one clip per patient) or record-level DP-SGD (one clip
per record) at the same epsilon; only the record-level run should be flagged:

    python benchmarks/canary_audit.py --epsilons 1,10 --scales 1 --units patient,record --records-per-patient 8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from synthgen.demo import breast_cancer_schema_path, breast_cancer_table  # noqa: E402
from synthgen.tabular.audit import AuditReport, audit_tabular  # noqa: E402
from synthgen.tabular.schema import Schema  # noqa: E402


def load(name: str) -> tuple[Any, Schema]:
    if name == "breast_cancer":
        return breast_cancer_table(), Schema.load(breast_cancer_schema_path())
    from benchmarks.tabular_benchmark import DATA
    from benchmarks.tabular_benchmark import load as load_benchmark_table

    return load_benchmark_table(name, DATA)


def row(epsilon: float, scale: float, r: AuditReport) -> str:
    b = r.bound
    return (f"| {epsilon:g} | {r.unit} | {r.records_per_patient} | {scale:g} | {r.claimed_epsilon:.3f} | {r.noise_multiplier_used:.3f} | "
            f"{r.sample_rate:.3f} | {r.steps} | {r.canaries} | {b.guesses} | {b.correct} | "
            f"**{b.epsilon:.3f}** | {r.detectable_epsilon:.2f} | {r.verdict} | {r.seconds:.0f} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="breast_cancer", help="breast_cancer (bundled) or a tabular_benchmark dataset (adult, stroke, pima)")
    p.add_argument("--epsilons", default="1,10")
    p.add_argument("--scales", default="1,0.25,0", help="noise multiplier scales; 1 = production")
    p.add_argument("--canaries", type=int, default=1000)
    p.add_argument("--steps", type=int, default=None, help="default: the production step count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--units", default="record", help="record and/or patient (comma-separated): the unit of privacy of the training")
    p.add_argument("--records-per-patient", type=int, default=1, help="records of each canary patient (1: single-record canaries)")
    args = p.parse_args(argv)
    table, schema = load(args.dataset)
    scales = [float(s) for s in args.scales.split(",")]
    started = time.perf_counter()
    units = args.units.split(",")
    print(f"dataset {args.dataset}: {len(table)} rows, {args.canaries} canaries, 95% confidence\n")
    print("| epsilon | unit | records per canary | noise scale | claimed epsilon | noise multiplier | q | steps | canaries | guesses | correct | lower bound | detectable up to | verdict | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for epsilon in (float(e) for e in args.epsilons.split(",")):
        for unit in units:
            for scale in scales:
                report = audit_tabular(table, schema, epsilon=epsilon, canaries=args.canaries,
                                       steps=args.steps, seed=args.seed, noise_scale=scale, unit=unit,
                                       records_per_patient=args.records_per_patient)
                print(row(epsilon, scale, report), flush=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
