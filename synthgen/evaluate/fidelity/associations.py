"""Pairwise association similarity: are the dependencies between columns kept?

Every column becomes codes (categories, or ten quantile bins of the real training values
for numerics, with null as its own code), and every pair of columns gets Cramér's V (bias-corrected), the
chi-square association of their contingency table scaled to [0, 1] (0: independent,
1: one column determines the other). The metric is 1 - the mean absolute difference
between the real and the synthetic V over all pairs, each pair weighted by
max(V_real, V_synthetic): pairs associated in either table count fully, pairs independent
in both (whose V is sampling noise) hardly count, so a table of many weakly related
columns cannot hide a lost strong dependency behind many near-zero differences. 1 when
every association is kept, lower when the generator invents or loses dependencies. Binning numerics lets one measure
cover numeric, categorical and mixed pairs (a Pearson correlation would miss non-linear
and categorical dependencies). The V matrices feed the report's heatmaps.
"""

from __future__ import annotations

import itertools

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult


def contingency(a: np.ndarray, b: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    """Counts of each (a, b) code pair as an n_a x n_b matrix."""
    return np.bincount(a * n_b + b, minlength=n_a * n_b).reshape(n_a, n_b).astype(float)


def cramers_v(table: np.ndarray) -> float:
    """Bias-corrected Cramér's V of a contingency table (Bergsma 2013): the plain V of a
    small sample is biased upwards, which would make two small samples of the same
    population look differently associated. Empty rows and columns are dropped; 0 when a
    variable has a single observed level."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    n = float(table.sum())
    if min(r, c) < 2 or n < 2:
        return 0.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    phi2 = float(((table - expected) ** 2 / expected).sum()) / n
    phi2_corrected = max(0.0, phi2 - (r - 1) * (c - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    c_corrected = c - (c - 1) ** 2 / (n - 1)
    denominator = min(r_corrected, c_corrected) - 1
    if denominator <= 0:
        return 0.0
    return float(np.sqrt(min(phi2_corrected / denominator, 1.0)))


def association_matrix(inputs: TabularInputs, table: str) -> np.ndarray:
    enc = inputs.encoding
    df = inputs.table(table)
    names = enc.columns
    codes = [enc.codes(df, name) for name in names]
    levels = [enc.n_levels(name) for name in names]
    m = np.eye(len(names))
    for i, j in itertools.combinations(range(len(names)), 2):
        v = cramers_v(contingency(codes[i], codes[j], levels[i], levels[j]))
        m[i, j] = m[j, i] = v
    return m


class PairwiseAssociationSimilarity(TabularMetric):
    name = "pairwise_association_similarity"
    title = "Pairwise association similarity"
    family = "fidelity"
    direction = "higher_is_better"
    bounds = (0.0, 1.0)
    ideal = 1.0
    description = "1 - weighted mean |Cramér's V real - Cramér's V synthetic| over column pairs (weight max of the two)"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        names = inputs.encoding.columns
        if len(names) < 2:
            return self.unavailable("fewer than two columns")
        if len(inputs.train) == 0 or len(inputs.synthetic) == 0:
            return self.unavailable("a table is empty")
        real = association_matrix(inputs, "train")
        syn = association_matrix(inputs, "synthetic")
        iu = np.triu_indices(len(names), k=1)
        diff = np.abs(real - syn)
        weight = np.maximum(real, syn)[iu]
        error = float((diff[iu] * weight).sum() / weight.sum()) if weight.sum() > 0 else 0.0
        worst = int(np.argmax(diff[iu]))
        return self.result(
            1.0 - error,
            details={
                "columns": names,
                "unweighted_mean_difference": float(diff[iu].mean()),
                "real": real,
                "synthetic": syn,
                "largest_difference": {
                    "pair": [names[iu[0][worst]], names[iu[1][worst]]],
                    "difference": float(diff[iu][worst]),
                },
            },
        )
