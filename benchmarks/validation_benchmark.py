"""Benchmark: validate an Adult-sized synthetic release (24,000 x 15) end to end.

Builds a model directory by hand in a temporary folder (``benchmarks/model_dirs.py``): the
benchmarks' Adult schema (schemas/adult.yaml), a private run directory holding 24,000
training and 8,000 holdout rows of Adult, and a "synthetic" table of 24,000 rows drawn
(with replacement) from the Adult rows left over. Then times
``reports.validate_release``: Great Expectations (import included), every metric, the
plots and the HTML/PDF/JSON report. The target is under 60 s on a 2-core machine.

    OMP_NUM_THREADS=1 python benchmarks/validation_benchmark.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_SECONDS = 60.0
N_TRAIN, N_HOLDOUT, N_SYNTHETIC = 24_000, 8_000, 24_000


def main() -> int:
    from benchmarks.model_dirs import to_csv_like_sampler, write_model
    from benchmarks.tabular_benchmark import DATA, load

    with tempfile.TemporaryDirectory(prefix="synthgen-bench-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        adult, schema = load("adult", DATA)
        table = adult.sample(frac=1.0, random_state=0).reset_index(drop=True)
        synthetic = table.iloc[N_TRAIN + N_HOLDOUT :].sample(n=N_SYNTHETIC, replace=True, random_state=0)
        model = write_model(root, schema, table.iloc[:N_TRAIN], table.iloc[N_TRAIN : N_TRAIN + N_HOLDOUT])
        synthetic_csv = to_csv_like_sampler(synthetic.reset_index(drop=True), schema, root / "synthetic.csv")
        print(f"setup (not timed): {time.perf_counter() - t:.1f} s; train {N_TRAIN}, holdout {N_HOLDOUT}, "
              f"synthetic {N_SYNTHETIC} rows x {len(schema.synthesized)} columns")

        started = time.perf_counter()
        from reports import validate_release

        result = validate_release(model, synthetic_csv, report_dir=root / "report")
        total = time.perf_counter() - started

        print(f"verdict: {result.verdict}")
        for check in result.checks:
            value = "n/a" if check.value is None else f"{check.value:.4g}"
            print(f"  {check.status:7s} {check.name:36s} {value}")
        print("seconds per stage:")
        for stage, seconds in result.timings.items():
            print(f"  {stage:36s} {seconds:6.2f}")
        print(f"  {'report rendering (html, pdf, json)':36s} {total - result.timings['total']:6.2f}")
        sizes = {p.name: p.stat().st_size for p in sorted((root / 'report').iterdir())}
        print("report files: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sizes.items()))
        verdict = "OK" if total < BUDGET_SECONDS else "TOO SLOW"
        print(f"validation wall time: {total:.1f} s (budget {BUDGET_SECONDS:.0f} s, "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}): {verdict}")
        return 0 if total < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
