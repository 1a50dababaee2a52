"""Per-column distribution similarity (the "column shapes" of SDMetrics).

Numeric columns: 1 - the Kolmogorov-Smirnov statistic, the largest gap between the two
empirical CDFs. Nulls are a point mass below every value, so a column whose null share is
off by 10 points scores at most 0.9. Categorical, boolean and label columns: 1 - the total
variation distance between the category frequencies (null is a category). Both scores are
1 for identical distributions and 0 for disjoint ones; the metric is their mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult

HISTOGRAM_BINS = 30
MAX_BARS = 12  # categories drawn per column; the rest are pooled as "other"


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic with NaN treated as -infinity (nulls first)."""
    a = np.sort(np.where(np.isnan(a), -np.inf, a))
    b = np.sort(np.where(np.isnan(b), -np.inf, b))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def total_variation(codes_a: np.ndarray, codes_b: np.ndarray, n_levels: int) -> float:
    p = np.bincount(codes_a, minlength=n_levels) / len(codes_a)
    q = np.bincount(codes_b, minlength=n_levels) / len(codes_b)
    return float(0.5 * np.abs(p - q).sum())


class ColumnShapeSimilarity(TabularMetric):
    name = "column_shape_similarity"
    title = "Column distribution similarity"
    family = "fidelity"
    direction = "higher_is_better"
    bounds = (0.0, 1.0)
    ideal = 1.0
    description = "mean over columns of 1 - KS (numeric) or 1 - total variation (categorical)"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        real, syn, enc = inputs.train, inputs.synthetic, inputs.encoding
        if len(real) == 0 or len(syn) == 0:
            return self.unavailable("a table is empty")
        per_column: dict[str, dict[str, Any]] = {}
        for name in enc.columns:
            if name in enc.scale:
                a = real[name].to_numpy(dtype=float)
                b = syn[name].to_numpy(dtype=float)
                statistic = ks_statistic(a, b)
                entry = {"kind": "numeric", "statistic": "KS", "distance": statistic}
                entry["plot"] = _numeric_plot(inputs, name, a, b)
            else:
                ca, cb = enc.codes(real, name), enc.codes(syn, name)
                statistic = total_variation(ca, cb, enc.n_levels(name))
                entry = {"kind": "categorical", "statistic": "TVD", "distance": statistic}
                entry["plot"] = _categorical_plot(enc.vocabulary[name], ca, cb)
            entry["score"] = 1.0 - statistic
            entry["null_share_real"] = float(real[name].isna().mean())
            entry["null_share_synthetic"] = float(syn[name].isna().mean())
            per_column[name] = entry
        value = float(np.mean([e["score"] for e in per_column.values()]))
        worst = min(per_column, key=lambda n: per_column[n]["score"])
        return self.result(value, details={"columns": per_column, "worst_column": worst})


def _numeric_plot(inputs: TabularInputs, name: str, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    lo, hi = inputs.encoding.scale[name]
    spec = inputs.schema.column(name)
    if spec.kind == "integer" and hi - lo + 1 <= 40:
        edges = np.arange(lo - 0.5, hi + 1.5)
    else:
        edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    fa, fb = a[~np.isnan(a)], b[~np.isnan(b)]
    ha = np.histogram(fa, bins=edges)[0]
    hb = np.histogram(fb, bins=edges)[0]
    return {
        "type": "histogram",
        "edges": edges,
        "real": ha / max(len(a), 1),
        "synthetic": hb / max(len(b), 1),
        "outside_real": float(((fa < edges[0]) | (fa > edges[-1])).sum() / max(len(a), 1)),
        "outside_synthetic": float(((fb < edges[0]) | (fb > edges[-1])).sum() / max(len(b), 1)),
    }


def _categorical_plot(vocab: list[str], ca: np.ndarray, cb: np.ndarray) -> dict[str, Any]:
    n = len(vocab) + 1
    fa = np.bincount(ca, minlength=n) / len(ca)
    fb = np.bincount(cb, minlength=n) / len(cb)
    labels = [*vocab, "(missing)"]
    order = [i for i in np.argsort(-(fa + fb), kind="stable") if fa[i] + fb[i] > 0]
    shown, rest = order[:MAX_BARS], order[MAX_BARS:]
    out_labels = [labels[i] for i in shown]
    real = [float(fa[i]) for i in shown]
    synthetic = [float(fb[i]) for i in shown]
    if rest:
        out_labels.append(f"other ({len(rest)})")
        real.append(float(fa[rest].sum()))
        synthetic.append(float(fb[rest].sum()))
    return {"type": "bars", "labels": out_labels, "real": real, "synthetic": synthetic}
