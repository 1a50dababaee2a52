"""What validation needs from a model's released DP statistics (``preprocessing.json``).

The statistics are public once the model is released (differentially private counts and
bounds, docs/privacy.md#what-is-paid-for-and-what-is-assumed-public): the class list (declared, or DP partition
selection), the DP class counts with their noise level, and the bounds each numeric
column's values are clipped to (declared, or estimated with DP). The checks that protect
downstream users read them: a class the model knows must appear in the synthetic table,
and values piled on a bound the model clips to betray a column the model failed to learn.

Read as plain JSON (no torch, no model code), so the service can validate without the
training stack.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthgen.errors import ModelLoadError
from synthgen.evaluate.tables import column_key
from synthgen.tabular.schema import Schema


@dataclass(frozen=True)
class ModelStatistics:
    classes: tuple[str, ...]  # canonical keys of the label's classes, in the model's order
    class_counts: tuple[float, ...]  # DP counts (clipped at zero), one per class
    cell_noise_std: float  # standard deviation of the noise on each count
    bounds: dict[str, tuple[float, float]]  # numeric column -> (min, max) its values are clipped to
    # column whose categories were discovered -> values kept, DP share of "(other)",
    # selection threshold in records (synthgen.tabular.category_selection)
    category_selection: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], schema: Schema) -> ModelStatistics:
        target = schema.target
        if target is None or d.get("target") != target.name:
            raise ModelLoadError("the model's statistics do not name the schema's label column")
        counts = tuple(float(c) for c in d["class_counts"])
        classes = tuple(column_key(c, target) for c in d["classes"])
        if len(classes) != len(counts):
            raise ModelLoadError("the model's statistics hold a class count per class")
        bounds = {}
        for layout in d.get("numeric", []):
            lo, hi = float(layout["minimum"]), float(layout["maximum"])
            if math.isfinite(lo) and math.isfinite(hi):
                bounds[str(layout["column"])] = (lo, hi)
        selection = {str(k): dict(v) for k, v in d.get("category_selection", {}).items()}
        return cls(classes, counts, float(d.get("cell_noise_std", 0.0)), bounds, selection)


def read_model_statistics(path: Path, schema: Schema) -> ModelStatistics | None:
    """The statistics in ``path``, or None when the model directory has none (a model
    built by hand, for tests)."""
    if not path.is_file():
        return None
    try:
        return ModelStatistics.from_dict(json.loads(path.read_text()), schema)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{path} is damaged: {type(exc).__name__}") from exc
