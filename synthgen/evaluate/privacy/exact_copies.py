"""Exact copies: synthetic rows identical to a training record.

Rows are compared on every synthesized column in canonical form (numbers rounded to ten
significant digits, so that a value written to CSV and read back still matches). The
metric is the share of synthetic rows that equal some training row. For comparison the
details give the share that equals some holdout row: in a table with few distinct
possible rows (a handful of categorical columns), matches happen by chance and show up on
both sides; a share against train far above the share against holdout is memorisation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult


def row_hashes(df: pd.DataFrame, numeric: list[str]) -> np.ndarray:
    """64-bit hash of each row's canonical values."""
    canonical = {}
    for name in df.columns:
        if name in numeric:
            x = df[name].to_numpy(dtype=float)
            canonical[name] = np.array(
                ["" if np.isnan(v) else f"{v:.10g}" for v in x.tolist()], dtype=object
            )
        else:
            canonical[name] = df[name].to_numpy(dtype=object)
    frame = pd.DataFrame(canonical).fillna("\0null")
    return pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()


class ExactCopyShare(TabularMetric):
    name = "exact_copy_share"
    title = "Share of synthetic rows that copy a training record"
    family = "privacy"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    ideal = 0.0
    description = "share of synthetic rows identical (all columns) to a training row"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        syn = inputs.synthetic
        if len(syn) == 0:
            return self.unavailable("the synthetic table is empty")
        numeric = inputs.encoding.numeric
        h_syn = row_hashes(syn, numeric)
        h_train = row_hashes(inputs.train, numeric)
        copies = np.isin(h_syn, h_train)
        details: dict[str, int | float] = {
            "copies": int(copies.sum()),
            "synthetic_rows": len(syn),
            "distinct_training_records_copied": len(np.intersect1d(h_syn, h_train)),
            "training_rows": len(inputs.train),
        }
        if inputs.holdout is not None and len(inputs.holdout):
            matches = np.isin(h_syn, row_hashes(inputs.holdout, numeric))
            details["holdout_matches"] = int(matches.sum())
            details["holdout_match_share"] = float(matches.mean())
            details["holdout_rows"] = len(inputs.holdout)
        return self.result(float(copies.mean()), details=details)
