"""Pairwise contingency similarity: the joint distribution of every pair of columns.

For each pair, 1 - the total variation distance between the real and the synthetic joint
frequencies of their codes (categories; ten quantile bins of the real training values for
numerics; null as its own code). Averaged over all pairs. Unlike the association
similarity, it also sees a pair whose joint frequencies moved while the strength of the
dependency stayed the same. SDMetrics calls this ContingencySimilarity.
"""

from __future__ import annotations

import itertools

import numpy as np

from synthgen.evaluate.fidelity.associations import contingency
from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult


class PairwiseContingencySimilarity(TabularMetric):
    name = "pairwise_contingency_similarity"
    title = "Pairwise joint-distribution similarity"
    family = "fidelity"
    direction = "higher_is_better"
    bounds = (0.0, 1.0)
    ideal = 1.0
    description = "mean over column pairs of 1 - total variation distance of the joint frequencies"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        enc = inputs.encoding
        names = enc.columns
        if len(names) < 2:
            return self.unavailable("fewer than two columns")
        real, syn = inputs.train, inputs.synthetic
        if len(real) == 0 or len(syn) == 0:
            return self.unavailable("a table is empty")
        real_codes = [enc.codes(real, n) for n in names]
        syn_codes = [enc.codes(syn, n) for n in names]
        levels = [enc.n_levels(n) for n in names]
        scores: dict[str, float] = {}
        for i, j in itertools.combinations(range(len(names)), 2):
            p = contingency(real_codes[i], real_codes[j], levels[i], levels[j]) / len(real)
            q = contingency(syn_codes[i], syn_codes[j], levels[i], levels[j]) / len(syn)
            scores[f"{names[i]} × {names[j]}"] = 1.0 - 0.5 * float(np.abs(p - q).sum())
        worst = min(scores, key=lambda k: scores[k])
        return self.result(
            float(np.mean(list(scores.values()))),
            details={"pairs": scores, "worst_pair": worst},
        )
