"""Missing classes: is every class the release promises present in the synthetic table?

The classes a release promises are public: the label's categories in the schema (declared
by the steward) and the model's class list (declared, or kept by DP partition selection).
A synthetic table without one of them is worse than useless for that class: a model trained
on it can never predict the class, and a team augmenting real data with it shifts every
prediction away from it. On a 150-row table at epsilon 1 this happened by rounding: the DP
count of the minority class was clipped to zero and sampling never drew it (issue 27).

The value is the number of promised classes with no synthetic row. The details list each
class's rows in the training split and in the synthetic table and, when the model's
statistics are known, the share ``synthgen sample`` draws it with by default.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.tables import column_key
from synthgen.privacy.class_shares import sampling_shares


class MissingDeclaredClasses(TabularMetric):
    name = "missing_declared_classes"
    title = "Utility: declared classes missing from the synthetic table"
    family = "utility"
    direction = "lower_is_better"
    bounds = (0.0, math.inf)
    ideal = 0.0
    description = "classes the schema or the model declares that no synthetic row carries"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        spec = inputs.schema.target
        if spec is None:
            return self.unavailable("the schema declares no label column")
        declared = [column_key(c, spec) for c in spec.declared_categories() or ()]
        model = list(inputs.model.classes) if inputs.model is not None else []
        classes = list(dict.fromkeys([*declared, *model]))
        if not classes:
            return self.unavailable("neither the schema nor the model lists the label's classes")
        real = _counts(inputs.train[spec.name])
        synthetic = _counts(inputs.synthetic[spec.name])
        shares: dict[str, float] = {}
        details: dict[str, Any] = {}
        if inputs.model is not None:
            m = inputs.model
            computed = sampling_shares(np.asarray(m.class_counts), cell_noise_std=m.cell_noise_std)
            shares = dict(zip(m.classes, computed.shares.tolist(), strict=True))
            details["default_sampling"] = computed.describe()
            details["noise_weight"] = computed.noise_weight
            details["floor"] = computed.floor
        n_real, n_syn = max(len(inputs.train), 1), max(len(inputs.synthetic), 1)
        rows = []
        for c in classes:
            source = (
                "schema and model"
                if c in declared and c in model
                else "schema"
                if c in declared
                else "model"
            )
            rows.append(
                {
                    "class": c,
                    "declared_by": source,
                    "real_rows": real.get(c, 0),
                    "real_share": real.get(c, 0) / n_real,
                    "synthetic_rows": synthetic.get(c, 0),
                    "synthetic_share": synthetic.get(c, 0) / n_syn,
                    "default_sampling_share": shares.get(c),
                }
            )
        missing = [str(r["class"]) for r in rows if r["synthetic_rows"] == 0]
        note = f"missing: {', '.join(missing)}" if missing else ""
        return self.result(
            float(len(missing)), details={"classes": rows, "missing": missing, **details}, note=note
        )


def _counts(column: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in column.dropna().value_counts().items()}
