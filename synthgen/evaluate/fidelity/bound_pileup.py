"""Values piled on a bound: the largest excess share of a column's values at one of its bounds.

The sampler clips every numeric value to the column's bounds (declared in the schema, or
estimated with DP). A model that has not learnt a column (too much noise, too few steps)
sends much of its mass past a bound, and the clipping piles it there: on a 150-row table at
epsilon 1, most synthetic `serum_sodium` values sat on the lower bound (issue 27). Such a
column looks plausible row by row and is useless to anyone who models it.

For each numeric column with bounds (the model's, else the schema's) and each of its two
bounds, the share of non-null synthetic values on the bound is compared with the share of
non-null training values on or beyond it (real values past a DP bound are clipped there
too). The value is the largest difference, synthetic minus real, over columns and bounds:
0 when the synthetic table piles up no more than the real data, 0.1 when one bound holds
ten points more of a column's values than in the real data. A column whose real values
often sit on a bound (a count that is mostly 0) is judged against that share.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.tables import is_categorical

RELATIVE_TOLERANCE = 1e-6  # of the bound range: a value this close to a bound is on it


def share_on_bounds(values: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """Shares of the non-null ``values`` on or below ``low`` and on or above ``high``
    (0, 0 when there is none)."""
    x = values[np.isfinite(values)]
    if x.size == 0:
        return 0.0, 0.0
    tol = RELATIVE_TOLERANCE * max(high - low, 1.0)
    return float(np.mean(x <= low + tol)), float(np.mean(x >= high - tol))


class BoundShareExcess(TabularMetric):
    name = "bound_share_excess"
    title = "Fidelity: largest excess share of a column's values on one of its bounds"
    family = "fidelity"
    direction = "lower_is_better"
    bounds = (-1.0, 1.0)
    ideal = 0.0
    description = (
        "max over numeric columns and bounds of share(synthetic on bound) - share(real on bound)"
    )

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        model_bounds = inputs.model.bounds if inputs.model is not None else {}
        columns: dict[str, dict[str, Any]] = {}
        for spec in inputs.schema.synthesized:
            if is_categorical(spec):
                continue
            if spec.name in model_bounds:
                (low, high), source = model_bounds[spec.name], "model"
            elif spec.has_bounds:
                low, high, source = float(spec.minimum), float(spec.maximum), "schema"  # type: ignore[arg-type]
            else:
                continue
            real = share_on_bounds(inputs.train[spec.name].to_numpy(dtype=float), low, high)
            synthetic = share_on_bounds(
                inputs.synthetic[spec.name].to_numpy(dtype=float), low, high
            )
            excess = [s - r for s, r in zip(synthetic, real, strict=True)]
            side = int(np.argmax(excess))
            columns[spec.name] = {
                "minimum": low,
                "maximum": high,
                "bounds_from": source,
                "real_share_at_minimum": real[0],
                "real_share_at_maximum": real[1],
                "synthetic_share_at_minimum": synthetic[0],
                "synthetic_share_at_maximum": synthetic[1],
                "excess": excess[side],
                "worst_bound": ("minimum", "maximum")[side],
            }
        if not columns:
            return self.unavailable("no numeric column has bounds")
        worst = max(columns, key=lambda name: float(columns[name]["excess"]))
        return self.result(
            float(columns[worst]["excess"]),
            details={"columns": columns, "worst_column": worst},
            note=f"worst: {worst} ({columns[worst]['worst_bound']})",
        )
