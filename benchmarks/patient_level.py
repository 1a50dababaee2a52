"""Record-level against patient-level privacy on parkinsons_voice (195 recordings of 32
persons, about 6 each; the person is the part of `name` before the last "_").

Each split seed holds out about a quarter of the *persons* (every recording of a held-out
person is in the test set, ``record_split`` by person); synthgen trains on the rest at each
epsilon, once with rows as the unit of privacy (the person column is an identifier: about
6x epsilon per person by group privacy) and once with persons as the unit (``entity``).
Both declare the published sizes (195 recordings, 32 persons) as public upper bounds, so no
budget goes to a DP count. Prints TSTR ROC AUC (gradient boosting trained on synthetic rows,
tested on the held-out persons), mean and standard deviation over the split seeds, and TRTR
(trained on the real training persons):

    python benchmarks/patient_level.py --epsilons 1,10 --seeds 0,1,2
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
from benchmarks.tabular_metrics import tstr_auc  # noqa: E402
from synthgen.synthesizers import TabularSynthesizer  # noqa: E402
from synthgen.tabular.train import record_split  # noqa: E402

SOURCE = Path("/work/shared/data/tabular/parkinsons_voice.csv")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", default="1,10")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    df = load(args.source)
    epsilons = [float(e) for e in args.epsilons.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[tuple[str, float], list[float]] = {}
    trtr = []
    for seed in seeds:
        train, test = record_split(df, 0.25, seed=seed, entity=PERSON)
        assert not set(train[PERSON]) & set(test[PERSON])
        trtr.append(tstr_auc(train.drop(columns=[PERSON]), test.drop(columns=[PERSON]), TARGET))
        for epsilon in epsilons:
            for unit, patient in (("record", False), ("patient", True)):
                start = time.perf_counter()
                synthetic = synthesize(
                    train, epsilon=epsilon, patient=patient, seed=seed, max_steps=args.max_steps
                )
                auc = tstr_auc(synthetic, test.drop(columns=[PERSON]), TARGET)
                results.setdefault((unit, epsilon), []).append(auc)
                print(
                    f"# seed {seed} eps {epsilon:g} {unit}: AUC {auc:.3f} "
                    f"({len(train)} train rows, {test[PERSON].nunique()} test persons, "
                    f"{time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    print(f"\nTRTR ROC AUC: {np.mean(trtr):.3f} ± {np.std(trtr):.3f} (split seeds {args.seeds})\n")
    print("| epsilon | unit of privacy | TSTR ROC AUC (mean ± sd) |")
    print("|---|---|---|")
    for (unit, epsilon), aucs in results.items():
        print(f"| {epsilon:g} | {unit} | {np.mean(aucs):.3f} ± {np.std(aucs):.3f} |")


if __name__ == "__main__":
    main()
