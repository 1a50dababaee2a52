"""The metric interface every validation metric implements, whatever the modality.

A metric is a small object with a ``name`` that says what it measures, a ``direction``
(is a larger value better or worse), ``bounds`` and an ``ideal`` value, and one method that
turns inputs into a ``MetricResult``. Tabular metrics take ``compute(real, synthetic, ...)``
with plain DataFrames (handy in notebooks and tests) and ``evaluate(inputs)`` with the
prepared, shared inputs of a validation run (so expensive work such as nearest-neighbour
searches is done once). Image metrics (an FID-like distance, TSTR with a CNN, memorised
pairs) will take their own input bundle and return the same ``MetricResult``: the release
gate and the report only ever see results.
"""

from __future__ import annotations

import math
from abc import ABC
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Direction = Literal["higher_is_better", "lower_is_better"]
Family = Literal["contract", "certificate", "fidelity", "utility", "privacy"]


@dataclass
class MetricResult:
    """One number with what is needed to judge it, plus JSON-safe details for the report.

    ``value`` is None when the metric could not be computed on these inputs (for example
    utility without a label column); ``note`` then says why. ``details`` hold aggregated
    numbers only (counts, histogram bins, curve points), never raw records.
    """

    name: str
    title: str
    family: Family
    value: float | None
    direction: Direction
    bounds: tuple[float, float]
    ideal: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "family": self.family,
            "value": json_number(self.value),
            "direction": self.direction,
            "bounds": [json_number(b) for b in self.bounds],
            "ideal": json_number(self.ideal),
            "note": self.note,
            "details": json_safe(self.details),
        }


class Metric(ABC):
    """Base class: subclasses set the class attributes and implement ``evaluate``."""

    name: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[Family]
    direction: ClassVar[Direction]
    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)
    ideal: ClassVar[float | None] = None
    description: ClassVar[str] = ""

    def result(
        self, value: float | None, *, details: dict[str, Any] | None = None, note: str = ""
    ) -> MetricResult:
        if value is not None:
            value = float(value)
        return MetricResult(
            name=self.name,
            title=self.title,
            family=self.family,
            value=value,
            direction=self.direction,
            bounds=self.bounds,
            ideal=self.ideal,
            details=details or {},
            note=note,
        )

    def unavailable(self, note: str) -> MetricResult:
        return self.result(None, note=note)


def evaluate_metrics(
    metrics: Sequence[Any],
    inputs: Any,
    *,
    timings: dict[str, float],
    on_metric: Callable[[int, str], None],
    first_step: int = 0,
) -> list[MetricResult]:
    """Run each metric on ``inputs`` in order (any modality), timing it and announcing it
    as progress step ``first_step + i``."""
    import time

    results = []
    for i, metric in enumerate(metrics, start=first_step):
        on_metric(i, metric.title)
        started = time.perf_counter()
        results.append(metric.evaluate(inputs))
        timings[metric.name] = time.perf_counter() - started
    return results


def json_number(x: Any) -> Any:
    """Floats as JSON allows them: infinity as the string "Infinity" (as the DP certificate
    writes it), NaN as null."""
    if x is None or isinstance(x, bool | int | str):
        return x
    f = float(x)
    if math.isnan(f):
        return None
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return f


def json_safe(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays, tuples and non-finite floats for json.dumps.
    Objects with a ``json_summary()`` method (images carried by a figure) are replaced by
    that summary."""
    import numpy as np

    summary = getattr(obj, "json_summary", None)
    if callable(summary):
        return json_safe(summary())
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return json_number(float(obj))
    return obj
