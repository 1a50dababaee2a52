"""Record-level against patient-level privacy on parkinsons_voice (195 recordings of 32
persons, about 6 each; the person is the part of `name` before the last "_").

The persons are dealt into 4 folds; for each fold synthgen trains on the other persons'
recordings (a person is never on both sides) at each epsilon, once with rows as the unit of privacy (the person column is an identifier: about
6x epsilon per person by group privacy) and once with persons as the unit (``entity``).
Both declare the published sizes (195 recordings, 32 persons) as public upper bounds, so no
budget goes to a DP count. Prints TSTR ROC AUC (gradient boosting trained on synthetic rows,
each recording scored by the model of the fold that held out its person, one AUC over all
195) and TRTR (the same with the real training rows):

    python benchmarks/patient_level.py --epsilons 1,10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from synthgen.errors import InsufficientData  # noqa: E402
from synthgen.synthesizers import TabularSynthesizer  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "tabular" / "parkinsons_voice.csv"  # ../shared/data
SCHEMA = ROOT / "benchmarks" / "schemas" / "parkinsons.yaml"
TARGET, PERSON = "status", "person"
PUBLIC_RECORDS, PUBLIC_PERSONS = 195, 32  # the published size of the UCI set


def load(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    df[PERSON] = df["name"].str.rsplit("_", n=1).str[0]
    return df.drop(columns=["name"])


def synthesize(
    train: pd.DataFrame, *, epsilon: float, patient: bool, seed: int, max_steps: int | None
) -> pd.DataFrame:
    options = (
        {"entity": PERSON, "public_entity_count": PUBLIC_PERSONS}
        if patient
        else {"public_record_count": PUBLIC_RECORDS}
    )
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthesizer = TabularSynthesizer(
            epsilon=epsilon,
            schema=SCHEMA,
            seed=seed,
            holdout=0.0,
            max_steps=max_steps,
            secure_rng=False,
            private_dir=Path(tmp) / "private",
            **options,
        )
        synthesizer.fit(train)
        return synthesizer.sample(len(train), seed=seed)


def scores(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """P(status = 1) on ``test`` from gradient boosting fitted on ``train``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    features = [c for c in test.columns if c not in (TARGET, PERSON)]
    y = train[TARGET].astype(int)
    if y.nunique() < 2:
        return np.full(len(test), float(y.iloc[0]))
    clf = HistGradientBoostingClassifier(random_state=0)
    clf.fit(train[features].astype(float), y)
    return clf.predict_proba(test[features].astype(float))[:, 1]


def person_folds(df: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """The fold of each row: persons shuffled with ``seed``, dealt round-robin."""
    persons = sorted(df[PERSON].unique())
    order = np.random.default_rng(seed).permutation(len(persons))
    fold_of = {persons[j]: i % folds for i, j in enumerate(order)}
    return df[PERSON].map(fold_of).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", default="1,10")
    parser.add_argument("--units", default="record,patient")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    df = load(args.source)
    y = df[TARGET].astype(int).to_numpy()
    epsilons = [float(e) for e in args.epsilons.split(",")]
    units = args.units.split(",")
    fold = person_folds(df, args.folds, args.seed)
    pooled = {
        key: np.zeros(len(df))
        for key in [("real", 0.0)] + [(u, e) for e in epsilons for u in units]
    }
    failed: dict[tuple[str, float], list[int]] = {}
    for f in range(args.folds):
        train, test = df[fold != f], df[fold == f]
        assert not set(train[PERSON]) & set(test[PERSON])
        pooled[("real", 0.0)][fold == f] = scores(train, test)
        for epsilon in epsilons:
            for unit in units:
                start = time.perf_counter()
                try:
                    synthetic = synthesize(
                        train,
                        epsilon=epsilon,
                        patient=unit == "patient",
                        seed=args.seed + f,
                        max_steps=args.max_steps,
                    )
                except InsufficientData as exc:  # e.g. no class count above the noise
                    failed.setdefault((unit, epsilon), []).append(f)
                    print(f"# fold {f} eps {epsilon:g} {unit}: failed ({exc})", flush=True)
                    pooled[(unit, epsilon)][fold == f] = 0.5  # an uninformative score
                    continue
                pooled[(unit, epsilon)][fold == f] = scores(synthetic, test)
                print(
                    f"# fold {f} eps {epsilon:g} {unit}: {len(train)} train rows, "
                    f"{test[PERSON].nunique()} test persons, {time.perf_counter() - start:.0f} s",
                    flush=True,
                )
    from sklearn.metrics import roc_auc_score

    print(
        f"\nROC AUC over all {len(df)} recordings, each scored by the model of the fold that held "
        f"out its person ({args.folds} person-level folds, seed {args.seed})\n"
    )
    print("| epsilon | unit of privacy | TSTR ROC AUC |")
    print("|---|---|---|")
    print(f"| - | real training rows (TRTR) | {roc_auc_score(y, pooled[('real', 0.0)]):.3f} |")
    for (unit, epsilon), s in pooled.items():
        if unit != "real":
            note = (
                f" (training failed in folds {failed[(unit, epsilon)]}: scored 0.5 there)"
                if (unit, epsilon) in failed
                else ""
            )
            print(f"| {epsilon:g} | {unit} | {roc_auc_score(y, s):.3f}{note} |")


if __name__ == "__main__":
    main()
