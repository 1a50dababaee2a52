"""Every check the release gate knows: the tabular metrics and the two non-metric checks.

A policy file may only name checks listed here, and its thresholds must lie within each
check's bounds. Image metrics will add their classes to a list of their own here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from synthgen.evaluate.fidelity.associations import PairwiseAssociationSimilarity
from synthgen.evaluate.fidelity.column_shapes import ColumnShapeSimilarity
from synthgen.evaluate.fidelity.contingency import PairwiseContingencySimilarity
from synthgen.evaluate.fidelity.detection import DetectionAUC
from synthgen.evaluate.inputs import TabularMetric
from synthgen.evaluate.metric import Direction, Family
from synthgen.evaluate.privacy.attribute_inference import AttributeInferenceAdvantage
from synthgen.evaluate.privacy.dcr import DCRCloserToTrainShare
from synthgen.evaluate.privacy.exact_copies import ExactCopyShare
from synthgen.evaluate.privacy.membership import MembershipInferenceAUC
from synthgen.evaluate.privacy.nndr import NearestNeighbourDistanceRatio
from synthgen.evaluate.utility.augmentation import AugmentationLift
from synthgen.evaluate.utility.tstr import TrainSyntheticTestReal


@dataclass(frozen=True)
class CheckDefinition:
    name: str
    title: str
    family: Family
    direction: Direction
    bounds: tuple[float, float]


CONTRACT = CheckDefinition(
    "data_contract_failed_expectations", "Failed Great Expectations (data contract)",
    "contract", "lower_is_better", (0.0, math.inf),
)
CERTIFICATE = CheckDefinition(
    "certificate_epsilon", "Epsilon of the DP certificate", "certificate",
    "lower_is_better", (0.0, math.inf),
)


def tabular_metrics() -> list[TabularMetric]:
    """The metrics a tabular validation runs, in report order."""
    return [
        ColumnShapeSimilarity(),
        PairwiseAssociationSimilarity(),
        PairwiseContingencySimilarity(),
        DetectionAUC(),
        TrainSyntheticTestReal(),
        AugmentationLift(),
        ExactCopyShare(),
        DCRCloserToTrainShare(),
        NearestNeighbourDistanceRatio(),
        MembershipInferenceAUC(),
        AttributeInferenceAdvantage(),
    ]


def check_definitions() -> dict[str, CheckDefinition]:
    checks = {CONTRACT.name: CONTRACT, CERTIFICATE.name: CERTIFICATE}
    for m in tabular_metrics():
        checks[m.name] = CheckDefinition(m.name, m.title, m.family, m.direction, m.bounds)
    return checks
