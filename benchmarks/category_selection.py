"""Which categories the DP statistics keep: Adult without a schema, stroke's rare gender.

Runs the preprocessing alone (the DP record count, then ``estimate_statistics``: seconds
per run, no DP-SGD) over several noise seeds, on the training half of the tabular
benchmark's split (``tabular_benchmark.stratified_split``, seed 0):

    OMP_NUM_THREADS=1 python benchmarks/category_selection.py --epsilon 1 --runs 10

Prints, for Adult trained without a schema, each category holding at least 2% of the
training rows and in how many runs partition selection kept it, the share of epsilon the
statistics spent and the DP share of "(other)" per column; for stroke (its public schema,
which declares gender "Other"), the share of "Other" in the statistics against its real
share. ``--rare-sweep 1,1.5,2`` instead prints the categorical TV of the statistics for
each rare-cell threshold. ``--fit`` also trains one model on Adult without a schema (minutes) and prints the
benchmark's TSTR and 1-/2-way TV for it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.tabular_benchmark import DATA, load, stratified_split  # noqa: E402
from synthgen.privacy.accountant import RunAccountant  # noqa: E402
from synthgen.privacy.record_count import estimate_record_count  # noqa: E402
from synthgen.privacy.secure_random import NoiseSource  # noqa: E402
from synthgen.tabular.conform import conform  # noqa: E402
from synthgen.tabular.preprocess import TabularStatistics, estimate_statistics  # noqa: E402
from synthgen.tabular.schema import Schema  # noqa: E402

KEEP_SHARE = 0.02


def seeded_noise(seed: int) -> NoiseSource:
    """A reproducible noise source (benchmarks only; training uses the OS CSPRNG)."""
    noise = NoiseSource(secure=False)
    noise._numpy = np.random.default_rng(seed)
    return noise


def statistics(df: pd.DataFrame, schema: Schema, epsilon: float, seed: int) -> TabularStatistics:
    accountant = RunAccountant()
    noise = seeded_noise(seed)
    count = estimate_record_count(
        len(df), epsilon=epsilon, delta=None, accountant=accountant, noise=noise, share=0.02
    )
    return estimate_statistics(
        df,
        schema,
        epsilon=epsilon,
        delta=count.default_delta(),
        preprocessing_share=None,
        accountant=accountant,
        noise=noise,
        record_count=count,
    )


def no_schema(train: pd.DataFrame, target: str) -> tuple[pd.DataFrame, Schema]:
    from synthgen.tabular.train import _load_schema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = _load_schema(None, train, target)
    return conform(train, schema), schema


def adult_kept(epsilon: float, runs: int) -> None:
    df, _ = load("adult", DATA)
    train, _ = stratified_split(df, "income", 0.5, seed=0)
    conformed, schema = no_schema(train, "income")
    big = {
        c.name: [v for v, s in conformed[c.name].value_counts(normalize=True).items() if s >= KEEP_SHARE]
        for c in schema.features
        if not c.is_numeric
    }
    kept = {(col, v): 0 for col, values in big.items() for v in values}
    other: dict[str, list[float]] = {col: [] for col in big}
    threshold = None
    start = time.perf_counter()
    for seed in range(runs):
        stats = statistics(conformed, schema, epsilon, seed)
        for layout in stats.categorical:
            for v in big.get(layout.column, []):
                kept[(layout.column, v)] += v in layout.categories
        for col, summary in stats.category_selection.items():
            other[col].append(summary["other_share"])
            threshold = summary["threshold_records"]
    seconds = (time.perf_counter() - start) / runs
    print(f"Adult, no schema, epsilon {epsilon:g}: {len(conformed)} training rows, "
          f"{runs} runs, {seconds:.1f} s per run; selection threshold ~{threshold} records")
    print("| column | category | real share | kept in runs |")
    print("|---|---|---|---|")
    for (col, v), n in kept.items():
        real = (conformed[col] == v).mean()
        print(f"| {col} | {v} | {real:.3f} | {n}/{runs} |")
    print(f"categories >= {KEEP_SHARE:.0%} kept in every run: "
          f"{sum(n == runs for n in kept.values())}/{len(kept)}; in >= 9 of 10 runs: "
          f"{sum(n >= 0.9 * runs for n in kept.values())}/{len(kept)}")
    print("mean DP share of (other): " + ", ".join(
        f"{col} {np.mean(v):.3f}" for col, v in other.items() if v))


def stroke_rare(epsilon: float, runs: int) -> None:
    """Every declared stroke category under 10% of the rows: real share against its mean
    share in the statistics (the whole table: gender "Other" is 1 row of 5,110)."""
    df, schema = load("stroke", DATA)
    columns = [c.name for c in schema.features if not c.is_numeric]
    shares: dict[tuple[str, object], list[float]] = {}
    for seed in range(runs):
        stats = statistics(df, schema, epsilon, seed)
        for layout, probs in zip(stats.categorical, stats.categorical_probs, strict=True):
            marginal = stats.class_proportions @ probs
            for v, p in zip(layout.categories, marginal, strict=True):
                shares.setdefault((layout.column, v), []).append(float(p))
    print(f"\nstroke (public schema, all {len(df)} rows), epsilon {epsilon:g}, {runs} runs")
    print("| column | category | real share | mean share in the statistics | max |")
    print("|---|---|---|---|---|")
    for (col, v), values in shares.items():
        real = (df[col].isna() if v is None else df[col] == v).mean()
        if col in columns and real < 0.1:
            print(f"| {col} | {v} | {real:.5f} | {np.mean(values):.5f} | {np.max(values):.5f} |")


def statistics_tv(name: str, epsilon: float, runs: int) -> float:
    """Mean 1-way TV of the categorical columns of the statistics (class proportions times
    per-class probabilities) against the real training half, public schema."""
    from synthgen.tabular.preprocess import category_cell_key

    df, schema = load(name, DATA)
    train, _ = stratified_split(df, schema.target.name, 0.5, seed=0)  # type: ignore[union-attr]
    tvs = []
    for seed in range(runs):
        stats = statistics(train, schema, epsilon, seed)
        for layout, probs in zip(stats.categorical, stats.categorical_probs, strict=True):
            keys = train[layout.column].map(category_cell_key)
            real = np.array([
                (keys.isna() if v is None else keys == category_cell_key(v)).mean()
                for v in layout.categories
            ])
            tvs.append(0.5 * np.abs(stats.class_proportions @ probs - real).sum())
    return float(np.mean(tvs))


def rare_threshold_sweep(thresholds: list[float], epsilon: float, runs: int) -> None:
    from synthgen.tabular import category_selection

    for threshold in thresholds:
        category_selection.RARE_CATEGORY_THRESHOLD = threshold
        print(f"rare-cell threshold {threshold:g}: categorical 1-way TV of the statistics, "
              f"epsilon {epsilon:g}: adult {statistics_tv('adult', epsilon, runs):.4f}, "
              f"stroke {statistics_tv('stroke', epsilon, runs):.4f}")


def adult_fit(epsilon: float) -> None:
    from benchmarks.tabular_metrics import marginal_tv, tstr_auc
    from synthgen.requests import TrainRequest
    from synthgen.tabular.model import TabularModel
    from synthgen.tabular.train import train_tabular

    df, public = load("adult", DATA)
    train, test = stratified_split(df, "income", 0.5, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = train_tabular(TrainRequest(
                source=train, target="income", epsilon=epsilon, out=Path(tmp) / "model",
                seed=0, holdout=0.0, overrides={"secure_rng": False},
            ))
        fit = time.perf_counter() - start
        model = TabularModel.load(Path(tmp) / "model")
        synthetic = model.sample(len(train), seed=1)
        config = model.config.preprocessing_share
    one_way, two_way = marginal_tv(train, synthetic, public)
    print(f"Adult, no schema, epsilon {epsilon:g}: TSTR AUC {tstr_auc(synthetic, test, 'income'):.3f}, "
          f"1-way TV {one_way:.3f}, 2-way TV {two_way:.3f}, epsilon spent "
          f"{result.certificate.epsilon:.3f}, preprocessing share {config:.3f}, fit {fit:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fit", action="store_true", help="also train one Adult model")
    parser.add_argument("--rare-sweep", default=None, metavar="T1,T2",
                        help="only: statistics' TV for these rare-cell thresholds (in stds)")
    args = parser.parse_args()
    if args.rare_sweep:
        rare_threshold_sweep([float(t) for t in args.rare_sweep.split(",")], args.epsilon, 5)
        return
    adult_kept(args.epsilon, args.runs)
    stroke_rare(args.epsilon, args.runs)
    if args.fit:
        adult_fit(args.epsilon)


if __name__ == "__main__":
    main()
