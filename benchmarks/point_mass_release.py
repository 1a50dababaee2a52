"""The DP statistics alone (no training) of Adult's training half without a schema: which
heaps the point-mass release finds, each atom's share, each column's null share and
precision, over a few noise draws. Seconds, not minutes:

    python benchmarks/point_mass_release.py --epsilon 1 --runs 5
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.tabular_benchmark import DATA, load, stratified_split  # noqa: E402
from synthgen.privacy.accountant import RunAccountant  # noqa: E402
from synthgen.privacy.secure_random import NoiseSource  # noqa: E402
from synthgen.tabular.preprocess import estimate_statistics  # noqa: E402
from synthgen.tabular.train import _load_schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--preprocessing-share", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-dir", default=str(DATA))
    args = parser.parse_args()
    df, _ = load("adult", Path(args.data_dir))
    train, _ = stratified_split(df, "income", 0.5, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inferred = _load_schema(None, train, "income")
    print(f"real share of hours-per-week == 40: {(train['hours-per-week'] == 40).mean():.3f}")
    for run in range(args.runs):
        accountant = RunAccountant()
        stats = estimate_statistics(train, inferred, epsilon=args.epsilon, delta=1e-6,
                                    preprocessing_share=args.preprocessing_share,
                                    accountant=accountant, noise=NoiseSource(secure=False))
        shares = stats.class_counts / stats.class_counts.sum()
        print(f"run {run}: releases {[r['name'] for r in accountant.releases]}")
        for j, layout in enumerate(stats.numeric):
            p = shares @ stats.numeric_probs[j]
            atoms = {v: round(float(p[i]), 3) for i, (t, v) in enumerate(zip(layout.cell_types, layout.cell_low, strict=True))
                     if t == "atom" and p[i] > 0.01}
            null = float(p[layout.cell_types.index("missing")]) if layout.nullable else 0.0
            print(f"  {layout.column}: bounds [{layout.minimum:g}, {layout.maximum:g}], {layout.n_cells} cells, "
                  f"null share {null:.4f}, decimals {layout.decimals}, atoms over 1% {atoms}")


if __name__ == "__main__":
    main()
