"""Attribute inference on the columns the schema declares sensitive.

The attacker knows every other column of a target record (the quasi-identifiers) and the
synthetic table. For each target it takes the synthetic row closest on those columns and
reads off its sensitive value; the guess is right when it equals the true category (or,
for a numeric column, lies within 5% of the column's range). Some guesses are right for
any useful synthetic data, because the population's statistics predict the attribute; DP
does not and should not prevent that. What must not happen is that the attack works better
on training records than on unseen records. The metric is therefore the advantage
accuracy(training targets) - accuracy(holdout targets), the largest over sensitive
columns; near 0 is good. Targets are every holdout record (up to 5,000) and as many
training records; the details give the standard error of each advantage (two independent
proportions), which is large on small tables (about 0.13 with 30 targets per side). (The train-vs-control comparison follows Giomi et al. 2023,
"A unified framework for quantifying privacy risk in synthetic data", anonymeter.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult

NUMERIC_TOLERANCE = 0.05  # of the column's range


class AttributeInferenceAdvantage(TabularMetric):
    name = "attribute_inference_advantage"
    title = "Attribute inference advantage on sensitive columns (train - holdout accuracy)"
    family = "privacy"
    direction = "lower_is_better"
    bounds = (-1.0, 1.0)
    ideal = 0.0
    description = "largest over sensitive columns of nearest-synthetic-row guess accuracy on training targets minus on holdout targets"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        sensitive = inputs.sensitive
        if not sensitive:
            return self.unavailable("the schema declares no sensitive column")
        if inputs.holdout is None or len(inputs.holdout) < 4 or len(inputs.synthetic) == 0:
            return self.unavailable("the holdout split is too small (needs at least 4 rows)")
        columns = inputs.encoding.columns
        if len(columns) < 2:
            return self.unavailable("no other column to link records on")
        per_column: dict[str, dict[str, Any]] = {}
        for name in sensitive:
            known = tuple(c for c in columns if c != name)
            accuracy = {}
            for side in ("targets_train", "targets_holdout"):
                _, idx = inputs.nearest(side, "synthetic", 1, columns=known)
                guess = inputs.synthetic[name].to_numpy()[idx[:, 0]]
                truth = inputs.rows(side)[name].to_numpy()
                accuracy[side] = float(self._correct(inputs, name, guess, truth).mean())
            n = len(inputs.subset("targets_holdout")[1])
            a, b = accuracy["targets_train"], accuracy["targets_holdout"]
            per_column[name] = {
                "accuracy_training_targets": a,
                "accuracy_holdout_targets": b,
                "advantage": a - b,
                "standard_error": float(np.sqrt((a * (1 - a) + b * (1 - b)) / n)),
            }
        worst = max(per_column, key=lambda n: per_column[n]["advantage"])
        return self.result(
            per_column[worst]["advantage"],
            details={
                "columns": per_column,
                "worst_column": worst,
                "targets_per_side": len(inputs.subset("targets_holdout")[1]),
            },
        )

    @staticmethod
    def _correct(
        inputs: TabularInputs, name: str, guess: np.ndarray, truth: np.ndarray
    ) -> np.ndarray:
        if name in inputs.encoding.scale:
            lo, hi = inputs.encoding.scale[name]
            g, t = guess.astype(float), truth.astype(float)
            both_null = np.isnan(g) & np.isnan(t)
            with np.errstate(invalid="ignore"):
                close = np.abs(g - t) <= NUMERIC_TOLERANCE * (hi - lo)
            return both_null | close
        return np.array([a == b for a, b in zip(guess, truth, strict=True)], dtype=bool)
