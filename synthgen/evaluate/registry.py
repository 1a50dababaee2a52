"""Every check the release gate knows: the tabular metrics, the image metrics and the two
non-metric checks (the data contract of tables, the certificate of every model).

A policy file may only name checks listed here, and its thresholds must lie within each
check's bounds. One policy file serves both modalities: image checks are prefixed
``image_``, and a check that does not apply to a release's modality is simply not run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from synthgen.evaluate.fidelity.associations import PairwiseAssociationSimilarity
from synthgen.evaluate.fidelity.bound_pileup import BoundShareExcess
from synthgen.evaluate.fidelity.column_shapes import ColumnShapeSimilarity
from synthgen.evaluate.fidelity.constraint_violations import ConstraintViolationShare
from synthgen.evaluate.fidelity.contingency import PairwiseContingencySimilarity
from synthgen.evaluate.fidelity.detection import DetectionAUC
from synthgen.evaluate.images.copies import ExactCopyShare as ImageExactCopyShare
from synthgen.evaluate.images.copies import NearCopyShare
from synthgen.evaluate.images.distances import (
    DCRCloserToTrainShare as ImageDCRCloserToTrainShare,
)
from synthgen.evaluate.images.distances import NearestTrainingDistanceRatio
from synthgen.evaluate.images.fidelity import (
    FrechetClassifierDistance,
    ImageCoverage,
    ImageDensity,
    ImagePrecision,
    ImageRecall,
)
from synthgen.evaluate.images.inputs import ImageMetric
from synthgen.evaluate.images.utility import TrainSyntheticTestRealImages
from synthgen.evaluate.inputs import TabularMetric
from synthgen.evaluate.metric import Direction, Family
from synthgen.evaluate.privacy.attribute_inference import AttributeInferenceAdvantage
from synthgen.evaluate.privacy.dcr import DCRCloserToTrainShare
from synthgen.evaluate.privacy.exact_copies import ExactCopyShare
from synthgen.evaluate.privacy.membership import MembershipInferenceAUC
from synthgen.evaluate.privacy.nndr import NearestNeighbourDistanceRatio
from synthgen.evaluate.utility.augmentation import AugmentationLift, AugmentationLiftUpperBound
from synthgen.evaluate.utility.class_coverage import MissingDeclaredClasses
from synthgen.evaluate.utility.tstr import TrainSyntheticTestReal


@dataclass(frozen=True)
class CheckDefinition:
    name: str
    title: str
    family: Family
    direction: Direction
    bounds: tuple[float, float]


CONTRACT = CheckDefinition(
    "data_contract_failed_expectations",
    "Failed Great Expectations (data contract)",
    "contract",
    "lower_is_better",
    (0.0, math.inf),
)
CERTIFICATE = CheckDefinition(
    "certificate_epsilon",
    "Epsilon of the DP certificate",
    "certificate",
    "lower_is_better",
    (0.0, math.inf),
)


# Checks with a floor no policy can lower: a value below it is at least a warning. A negative
# augmentation lift means adding the release to real data makes models worse (issue 22: a
# lift of -0.014 was labelled pass).
NEVER_PASS_BELOW: dict[str, float] = {AugmentationLift.name: 0.0}


def tabular_metrics() -> list[TabularMetric]:
    """The metrics a tabular validation runs, in report order."""
    return [
        ColumnShapeSimilarity(),
        PairwiseAssociationSimilarity(),
        PairwiseContingencySimilarity(),
        DetectionAUC(),
        BoundShareExcess(),
        ConstraintViolationShare(),
        MissingDeclaredClasses(),
        TrainSyntheticTestReal(),
        AugmentationLift(),
        AugmentationLiftUpperBound(),
        ExactCopyShare(),
        DCRCloserToTrainShare(),
        NearestNeighbourDistanceRatio(),
        MembershipInferenceAUC(),
        AttributeInferenceAdvantage(),
    ]


def image_metrics() -> list[ImageMetric]:
    """The metrics an image validation runs, in report order."""
    return [
        FrechetClassifierDistance(),
        ImagePrecision(),
        ImageRecall(),
        ImageDensity(),
        ImageCoverage(),
        TrainSyntheticTestRealImages(),
        ImageExactCopyShare(),
        NearCopyShare(),
        NearestTrainingDistanceRatio(),
        ImageDCRCloserToTrainShare(),
    ]


def check_definitions(modality: str | None = None) -> dict[str, CheckDefinition]:
    """The checks of one modality ("tabular" or "image"), or of both (None): a policy
    file may name any of them."""
    checks = {CERTIFICATE.name: CERTIFICATE}
    metrics: list[TabularMetric | ImageMetric] = []
    if modality in (None, "tabular"):
        checks = {CONTRACT.name: CONTRACT, **checks}
        metrics += tabular_metrics()
    if modality in (None, "image"):
        metrics += image_metrics()
    for m in metrics:
        checks[m.name] = CheckDefinition(m.name, m.title, m.family, m.direction, m.bounds)
    return checks
