"""Record-level against patient-level privacy on tables where a person has many rows.

Datasets (``--datasets``, all in ../shared/data/tabular):

- ``voice``: parkinsons_voice (195 recordings of 32 persons, 6-7 each; the person is the
  part of ``name`` before the last "_"; target ``status``). Persons are dealt into 4 folds;
  each fold's recordings are scored by a model trained on the other persons' synthetic
  rows, one ROC AUC over all 195. ``--repeats`` deals (seeds ``--seed``, ``--seed`` + 1, ...)
  give the mean and the spread.
- ``telemonitoring``: parkinsons_telemonitoring (5,875 recordings of 42 persons, 101-168
  each; ``subject#``). Derived target ``updrs_high``: total_UPDRS above the table's median;
  motor_UPDRS and total_UPDRS are dropped (they define it). One split by person: persons
  dealt into 4 folds as for voice, the first fold (a quarter of them) held out.
- ``adult``: UCI Adult (train and test files, 48,842 rows) with a declared grouping into
  pseudo-patients of 1-10 rows (``pseudo_patients``: rows shuffled with a fixed seed and cut
  into groups of sizes drawn uniformly from 1..10). One split: the pseudo-patients are dealt
  into 2 halves, training on one and testing on the other. Both units cap a patient at 10
  records (nothing is dropped), with the same settings.

Each fit trains synthgen once with rows as the unit of privacy (the person column an
identifier) and once with persons as the unit (``entity``), at each epsilon; the published
sizes (records, persons; Adult: its rows and its declared pseudo-patients) are declared
public upper bounds, so no budget goes to a DP count. Prints per dataset: TSTR ROC AUC
(gradient boosting on synthetic rows, tested on the held-out persons' real rows) beside
TRTR, 1-way TV of the synthetic rows against the real training rows, the certificate
(epsilon, delta, unit, max_records_per_entity), fit seconds, and for record-level runs
the guarantee per person by group privacy (``group_guarantee``) at k = the most rows one
person has in the training rows:

    python benchmarks/patient_level.py --datasets voice --repeats 3 --epsilons 1,10 --force
    python benchmarks/patient_level.py --datasets telemonitoring --seed 0 --epsilons 1,10 --force
    python benchmarks/patient_level.py --datasets adult --epsilons 1,10 --max-steps 40 --force

``--force`` trains where the feasibility estimate refuses (voice at epsilon 1, patient
level); results and timings: docs/research/2026-12-05-patient-level-tables.md.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.tabular_metrics import marginal_tv, positive_scores  # noqa: E402
from synthgen.errors import InsufficientData  # noqa: E402
from synthgen.privacy.certificate import group_privacy  # noqa: E402
from synthgen.synthesizers import TabularSynthesizer  # noqa: E402
from synthgen.tabular.conform import conform  # noqa: E402
from synthgen.tabular.io import read_table  # noqa: E402
from synthgen.tabular.schema import Schema  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "tabular"  # ../shared/data
SCHEMAS = ROOT / "benchmarks" / "schemas"
UNITS = ("record", "patient")
PSEUDO_PATIENT_SIZES = (1, 10)  # Adult: pseudo-patients of 1..10 rows, uniformly
PSEUDO_PATIENT_SEED = 2026


@dataclass
class Study:
    """One dataset ready to benchmark: rows with a person column, a binary target, a
    schema naming the person an identifier, and the public sizes declared to training."""

    name: str
    frame: pd.DataFrame
    target: str
    positive: str  # the positive class, as a string
    person: str
    schema: Schema
    public_records: int
    public_persons: int
    folds: int
    test_folds: tuple[int, ...]  # which folds are scored (Adult: one split)
    max_records: int | None = None  # the patient-level cap; None: the product default
    notes: list[str] = field(default_factory=list)


def voice(data: Path) -> Study:
    df = pd.read_csv(data / "parkinsons_voice.csv")
    df["person"] = df["name"].str.rsplit("_", n=1).str[0]
    return Study(
        name="voice",
        frame=df.drop(columns=["name"]),
        target="status",
        positive="1",
        person="person",
        schema=Schema.load(SCHEMAS / "parkinsons.yaml"),
        public_records=195,  # the published size of the UCI set
        public_persons=32,
        folds=4,
        test_folds=(0, 1, 2, 3),
    )


def updrs_target(df: pd.DataFrame) -> pd.DataFrame:
    """``updrs_high`` = 1 when total_UPDRS is above the table's median (a derived target);
    motor_UPDRS and total_UPDRS are dropped, since they define it."""
    high = (df["total_UPDRS"] > df["total_UPDRS"].median()).astype(int)
    return df.drop(columns=["motor_UPDRS", "total_UPDRS"]).assign(updrs_high=high)


def telemonitoring(data: Path) -> Study:
    df = updrs_target(pd.read_csv(data / "parkinsons_telemonitoring.csv"))
    return Study(
        name="telemonitoring",
        frame=df,
        target="updrs_high",
        positive="1",
        person="subject#",
        schema=Schema.load(SCHEMAS / "parkinsons_telemonitoring.yaml"),
        public_records=5875,  # the published size of the UCI set
        public_persons=42,
        folds=4,
        test_folds=(0,),  # one split (3/4 of the persons train): record-level fits take minutes
    )


def pseudo_patients(n_rows: int, seed: int = PSEUDO_PATIENT_SEED) -> np.ndarray:
    """A pseudo-patient id for each of ``n_rows`` rows: the rows in an order shuffled with
    ``seed``, cut into consecutive groups whose sizes are drawn uniformly from 1..10 (the
    last group takes what is left). Deterministic in (n_rows, seed), never in the values."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_rows)
    low, high = PSEUDO_PATIENT_SIZES
    ids = np.empty(n_rows, dtype=np.int64)
    start, patient = 0, 0
    while start < n_rows:
        size = int(rng.integers(low, high + 1))
        ids[order[start : start + size]] = patient
        start += size
        patient += 1
    return ids


def adult(data: Path) -> Study:
    spec = yaml.safe_load((SCHEMAS / "adult.yaml").read_text())
    spec["columns"].append({"name": "pseudo_patient", "role": "identifier"})
    schema = Schema.from_dict(spec)
    frames = [
        read_table(data / f, na_values=schema.na_values)
        for f in ("adult_train.csv", "adult_test.csv")
    ]
    df = pd.concat(frames, ignore_index=True)
    df["income"] = df["income"].str.rstrip(".")  # the test file's labels end with a period
    df = conform(df, schema)  # types the columns (and drops identifiers: the id comes after)
    df["pseudo_patient"] = pseudo_patients(len(df))
    return Study(
        name="adult",
        frame=df,
        target="income",
        positive=">50K",
        person="pseudo_patient",
        schema=schema,
        public_records=48842,  # the published size of train + test
        public_persons=int(df["pseudo_patient"].nunique()),  # declared by the grouping
        folds=2,
        test_folds=(0,),
        max_records=PSEUDO_PATIENT_SIZES[1],
    )


STUDIES = {"voice": voice, "telemonitoring": telemonitoring, "adult": adult}


def person_folds(persons: pd.Series, folds: int, seed: int) -> np.ndarray:
    """The fold of each row: persons shuffled with ``seed``, dealt round-robin."""
    names = sorted(persons.unique())
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: i % folds for i, j in enumerate(order)}
    return persons.map(fold_of).to_numpy()


def group_guarantee(epsilon: float, delta: float, k: int) -> tuple[float, float]:
    """What an (epsilon, delta) record-level guarantee gives a person with k records, as the
    certificate's ``per_patient_group_privacy`` states it (a delta of 1 or more as inf)."""
    bound = group_privacy(epsilon, delta, k)
    return bound["epsilon"], bound["delta"] if bound["delta"] is not None else math.inf


@dataclass
class Fit:
    seconds: float
    one_way_tv: float
    epsilon: float
    delta: float
    unit: str
    max_records: int | None
    group_k: int


def fit(
    study: Study,
    train: pd.DataFrame,
    *,
    epsilon: float,
    unit: str,
    seed: int,
    max_steps: int | None,
    force: bool = False,
) -> tuple[Fit, pd.DataFrame]:
    options: dict[str, object] = (
        {
            "entity": study.person,
            "public_entity_count": study.public_persons,
            "max_records_per_entity": study.max_records,
        }
        if unit == "patient"
        else {"public_record_count": study.public_records}
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthesizer = TabularSynthesizer(
            epsilon=epsilon,
            schema=study.schema,
            seed=seed,
            holdout=0.0,
            max_steps=max_steps,
            secure_rng=False,
            accept_infeasible=force,
            private_dir=Path(tmp) / "private",
            **options,  # type: ignore[arg-type]
        )
        synthesizer.fit(train)
        seconds = time.perf_counter() - start
        synthetic = synthesizer.sample(len(train), seed=seed)
        certificate = synthesizer.certificate
    return Fit(
        seconds=seconds,
        one_way_tv=marginal_tv(train, synthetic, study.schema)[0],
        epsilon=certificate.epsilon,
        delta=certificate.delta,
        unit=certificate.unit,
        max_records=certificate.max_records_per_entity,
        group_k=int(train[study.person].value_counts().max()),
    ), synthetic


def _features(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    return frame.drop(columns=[study.person], errors="ignore")


def run_study(study: Study, args: argparse.Namespace, epsilons: list[float]) -> None:
    from sklearn.metrics import roc_auc_score

    df = study.frame.reset_index(drop=True)
    y = (df[study.target].astype(str) == study.positive).astype(int).to_numpy()
    repeats = args.repeats if len(study.test_folds) == study.folds else 1
    keys = [("real", 0.0)] + [(u, e) for e in epsilons for u in args.units]
    aucs: dict[tuple[str, float], list[float]] = {key: [] for key in keys}
    fits: dict[tuple[str, float], list[Fit]] = {key: [] for key in keys[1:]}
    failed: dict[tuple[str, float], int] = {}
    for repeat in range(repeats):
        fold = person_folds(df[study.person], study.folds, args.seed + repeat)
        scored = np.isin(fold, study.test_folds)
        pooled = {key: np.zeros(len(df)) for key in keys}
        for f in study.test_folds:
            train, test = df[fold != f], df[fold == f]
            assert not set(train[study.person]) & set(test[study.person])
            held = fold == f
            pooled[("real", 0.0)][held] = positive_scores(
                _features(train, study), _features(test, study), study.target, study.positive
            )
            for epsilon in epsilons:
                for unit in args.units:
                    seed = args.seed + 100 * repeat + f
                    try:
                        result, synthetic = fit(
                            study,
                            train,
                            epsilon=epsilon,
                            unit=unit,
                            seed=seed,
                            max_steps=args.max_steps,
                            force=args.force,
                        )
                    except InsufficientData as exc:  # e.g. no class count above the noise
                        failed[(unit, epsilon)] = failed.get((unit, epsilon), 0) + 1
                        pooled[(unit, epsilon)][held] = 0.5  # an uninformative score
                        print(
                            f"# {study.name} r{repeat} f{f} eps {epsilon:g} {unit}: failed ({exc})",
                            flush=True,
                        )
                        continue
                    fits[(unit, epsilon)].append(result)
                    pooled[(unit, epsilon)][held] = positive_scores(
                        _features(synthetic, study),
                        _features(test, study),
                        study.target,
                        study.positive,
                    )
                    print(
                        f"# {study.name} r{repeat} f{f} eps {epsilon:g} {unit}: {len(train)} rows, "
                        f"eps spent {result.epsilon:.3f}, TV {result.one_way_tv:.3f}, {result.seconds:.0f} s",
                        flush=True,
                    )
        for key, s in pooled.items():
            aucs[key].append(float(roc_auc_score(y[scored], s[scored])))
    report(study, aucs, fits, failed, repeats)


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def _guarantee(fits: list[Fit], unit: str) -> str:
    epsilon, delta = max(f.epsilon for f in fits), max(f.delta for f in fits)
    if unit == "patient":
        return f"({epsilon:.2f}, {delta:.1e}) per person"
    k = max(f.group_k for f in fits)
    group_epsilon, group_delta = group_guarantee(epsilon, delta, k)
    shown = "none (delta >= 1)" if group_delta >= 1 else f"({group_epsilon:.1f}, {group_delta:.1e})"
    return f"k = {k}: {shown}"


def report(
    study: Study,
    aucs: dict[tuple[str, float], list[float]],
    fits: dict[tuple[str, float], list[Fit]],
    failed: dict[tuple[str, float], int],
    repeats: int,
) -> None:
    rows = len(study.frame)
    what = (
        f"{repeats} deal(s) of persons into {study.folds} folds, one ROC AUC over all {rows} rows "
        "per deal: mean (min-max)"
        if len(study.test_folds) == study.folds
        else f"one split by person, {len(study.test_folds)} of {study.folds} folds scored"
    )
    print(
        f"\n## {study.name}: {rows} rows, {study.frame[study.person].nunique()} persons; {what}\n"
    )
    print(
        "| epsilon | unit | TSTR ROC AUC | 1-way TV | certificate epsilon / delta | "
        "max_records_per_entity | per-person guarantee | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(f"| - | real rows (TRTR) | {_spread(aucs[('real', 0.0)])} | - | - | - | none | - |")
    for (unit, epsilon), results in fits.items():
        note = (
            f" ({failed[(unit, epsilon)]} fits failed: scored 0.5)"
            if (unit, epsilon) in failed
            else ""
        )
        if not results:
            print(
                f"| {epsilon:g} | {unit} | {_spread(aucs[(unit, epsilon)])}{note} | - | - | - | - | - |"
            )
            continue
        print(
            f"| {epsilon:g} | {results[0].unit} | {_spread(aucs[(unit, epsilon)])}{note} | "
            f"{np.mean([r.one_way_tv for r in results]):.3f} | "
            f"{max(r.epsilon for r in results):.2f} / {max(r.delta for r in results):.1e} | "
            f"{results[0].max_records or '-'} | {_guarantee(results, unit)} | "
            f"{np.mean([r.seconds for r in results]):.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="voice,telemonitoring,adult")
    parser.add_argument("--epsilons", default="1,10")
    parser.add_argument("--units", default=",".join(UNITS))
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="deals of persons, where every fold is scored (voice, --all-folds)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument(
        "--max-records-per-entity",
        type=int,
        default=None,
        help="the patient-level cap k (default: the product's 8; Adult: 10)",
    )
    parser.add_argument(
        "--all-folds",
        action="store_true",
        help="score every fold, one ROC AUC over all rows (telemonitoring, Adult: one split)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="train where the feasibility estimate says the output would be noise "
        "(accept_infeasible; without it such a fit fails and is scored 0.5)",
    )
    args = parser.parse_args()
    args.units = args.units.split(",")
    epsilons = [float(e) for e in args.epsilons.split(",")]
    for name in args.datasets.split(","):
        if name not in STUDIES:
            parser.error(f"unknown dataset {name!r} (known: {', '.join(STUDIES)})")
    for name in args.datasets.split(","):
        study = STUDIES[name](args.data_dir)
        if args.max_records_per_entity is not None:
            study.max_records = args.max_records_per_entity
        if args.all_folds:
            study.test_folds = tuple(range(study.folds))
        run_study(study, args, epsilons)


if __name__ == "__main__":
    main()
