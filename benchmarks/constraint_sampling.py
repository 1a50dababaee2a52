"""Constraint benchmark: violations and sampling time with and without the schema's rules.

Trains one model on the benchmark split of a dataset (benchmarks/tabular_benchmark.py) with
its public schema, then samples the same rows twice from it, in one process: once with the
schema's constraints (construction and redraws) and once with them switched off, so the
cost of the rules and what they prevent are measured on the same model and the same load:

    OMP_NUM_THREADS=1 python benchmarks/constraint_sampling.py --dataset liver --epsilon 1

Prints, per run: the share of rows breaking each rule without and with enforcement, 1-way
and 2-way TV against the real training half (as in the tabular benchmark), the redraw rate
(share of first draws replaced), all rows drawn per row returned, and seconds per sample.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.tabular_benchmark import DATA, DATASETS, load, stratified_split  # noqa: E402
from benchmarks.tabular_metrics import marginal_tv  # noqa: E402
from synthgen.requests import TrainRequest  # noqa: E402
from synthgen.tabular.constraint_redraw import RedrawTally  # noqa: E402
from synthgen.tabular.constraints import ConstraintSet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="liver")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="sample from this model directory instead of training")
    parser.add_argument("--data-dir", default=str(DATA))
    args = parser.parse_args()

    from synthgen.tabular.model import TabularModel
    from synthgen.tabular.train import train_tabular

    df, schema = load(args.dataset, Path(args.data_dir))
    rules = ConstraintSet.of(schema.constraints, schema.columns)
    if not rules:
        raise SystemExit(f"error: the {args.dataset} schema declares no constraints")
    train, _ = stratified_split(df, schema.target.name, 0.5, seed=0)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.model) if args.model else Path(tmp) / "model"
        if not args.model:
            print(f"real training half: {rules.broken_rows(train).mean():.4f} of rows break a rule")
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                train_tabular(TrainRequest(
                    source=train, table_schema=schema, epsilon=args.epsilon, out=out,
                    seed=args.seed, holdout=0.0, max_steps=args.max_steps,
                    overrides={"secure_rng": False},
                    accept_infeasible=True,  # liver at epsilon 1 is infeasible by the estimate
                ))
            print(f"fit: {time.perf_counter() - start:.0f} s")
        model = TabularModel.load(out)
        enforced = model.constraints
        for label, constraints in (("without rules", ConstraintSet(())), ("with rules", enforced)):
            model.constraints = constraints
            tally = RedrawTally()
            start = time.perf_counter()
            sample = model.sample(args.rows, seed=1, tally=tally)
            seconds = time.perf_counter() - start
            broken = {rule: f"{m.mean():.4f}" for rule, m in rules.broken_by_each(sample).items()}
            one_way, two_way = marginal_tv(train, sample.iloc[: len(train)], schema)
            print(
                f"{label}: {seconds:.1f} s for {args.rows} rows; breaking: {broken}; "
                f"1-way TV {one_way:.3f}, 2-way TV {two_way:.3f}; "
                f"redraw rate {tally.redraw_rate:.3f}; rows drawn per row "
                f"{(tally.draws / tally.rows) if tally.rows else 1.0:.2f}"
            )


if __name__ == "__main__":
    main()
