"""Rows that break a constraint the schema declares (synthgen.tabular.constraints).

The sampler holds every row to the declared rules (by construction or by redrawing), so a
release from a synthgen model scores 0; a non-zero share means the table was edited after
sampling, or comes from a model trained before the rule was declared. The real training
rows are measured too, for reference (training drops real rows that break a rule, so the
training split of a model trained with the rules scores 0 as well).
"""

from __future__ import annotations

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.tabular.constraints import ConstraintSet


class ConstraintViolationShare(TabularMetric):
    name = "constraint_violation_share"
    title = "Fidelity: share of synthetic rows that break a declared constraint"
    family = "fidelity"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    ideal = 0.0
    description = "share of synthetic rows breaking at least one of the schema's constraints"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        constraints = ConstraintSet.of(inputs.schema.constraints, inputs.schema.columns)
        if not constraints:
            return self.unavailable("the schema declares no constraints")
        synthetic = constraints.broken_by_each(inputs.synthetic)
        real = constraints.broken_by_each(inputs.train)
        rules = {
            rule: {
                "synthetic_share": float(synthetic[rule].mean()) if len(inputs.synthetic) else 0.0,
                "real_share": float(real[rule].mean()) if len(inputs.train) else 0.0,
            }
            for rule in synthetic
        }
        share = (
            float(constraints.broken_rows(inputs.synthetic).mean())
            if len(inputs.synthetic)
            else 0.0
        )
        worst = max(rules, key=lambda rule: rules[rule]["synthetic_share"])
        return self.result(
            share,
            details={
                "constraints": rules,
                "real_share": float(constraints.broken_rows(inputs.train).mean())
                if len(inputs.train)
                else 0.0,
            },
            note=f"most broken: {worst}" if share > 0 else f"{len(rules)} constraint(s) kept",
        )
