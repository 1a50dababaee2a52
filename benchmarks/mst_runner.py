"""Run MST (smartnoise-synth) on an integer-coded table: CSV in, CSV out.

Runs with the python of smartnoise-synth's own environment (it pins an old Opacus, so it
cannot share ours; see benchmarks/small_tables.py, which codes the table from the public
schema and decodes the result). Imports nothing from synthgen.

    ../mstenv/bin/python benchmarks/mst_runner.py CODES.csv DOMAIN.json OUT.csv \
        --epsilon 1 --delta 1e-4 --rows 150 --seed 0

DOMAIN.json maps each column to its number of codes (public: from the schema), so MST's
domain is the declared one, never the values seen in the data.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("codes")
    parser.add_argument("domain")
    parser.add_argument("out")
    parser.add_argument("--epsilon", type=float, required=True)
    parser.add_argument("--delta", type=float, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from mbi import Dataset, Domain
    from snsynth.mst.mst import MSTSynthesizer

    # smartnoise draws its Gaussian noise from numpy's global generator
    np.random.seed(args.seed)
    with open(args.domain) as f:
        sizes: dict[str, int] = json.load(f)
    codes = pd.read_csv(args.codes)[list(sizes)]
    domain = Domain(list(sizes), [sizes[c] for c in sizes])
    mst = MSTSynthesizer(epsilon=args.epsilon, delta=args.delta)
    mst.MST(Dataset(codes.to_numpy(), domain=domain), args.epsilon, args.delta)
    synthetic = mst.undo_compress_fn(mst.synthesizer.synthetic_data(rows=args.rows))
    synthetic.df[list(sizes)].to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
