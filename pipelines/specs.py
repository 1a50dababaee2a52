"""Job specifications: what a worker needs to run a job, stored as JSON in ``jobs.spec``.

One model per job kind and modality, told apart by ``kind``:
- ``synthesize_tabular`` / ``synthesize_image``: train a DP model on a source, sample,
  validate, report. Everything that decides the privacy cost (epsilon, delta) is fixed
  here, when the job is created and its budget reserved, before any data is read.
- ``sample``: more records from an approved release's model (post-processing: no budget).
- ``check_source``: run the expectation suite on a new upload.

Specs are written once, by the API, after the request was validated; workers read them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from synthgen.requests import (
    FiniteEpsilon,
    ImageEntity,
    MaxRecordsPerEntity,
    SampleOptions,
    TrainingOptions,
)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingParameters(TrainingOptions):
    """The library's training options; a released model's epsilon must be finite."""

    epsilon: FiniteEpsilon
    # tables: train even when the feasibility estimate says infeasible (None: no)
    accept_infeasible: bool | None = None


class _Synthesis(SampleOptions):
    """Train on a source, then sample from the model with these options."""

    source_id: str
    training: TrainingParameters
    rows: int = Field(gt=0)  # records to generate


class TabularSynthesisSpec(_Synthesis):
    kind: Literal["synthesize_tabular"] = "synthesize_tabular"
    target: str  # the label column the model conditions on
    output_formats: tuple[str, ...] = ("csv", "parquet")


class ImageSynthesisSpec(_Synthesis):
    kind: Literal["synthesize_image"] = "synthesize_image"
    output_formats: tuple[str, ...] = ("npz", "png_zip")
    # patient-level privacy, copied from the source when the job is created (so the unit
    # is fixed with the reservation): the patient id source and the cap on images per
    # patient (synthgen.requests.ImagePatients). None: one image is the unit
    entity: ImageEntity | None = None
    max_records_per_entity: MaxRecordsPerEntity | None = None


class SampleSpec(SampleOptions):
    """More records from an approved release's model: post-processing, no budget."""

    kind: Literal["sample"] = "sample"
    release_id: str
    rows: int = Field(gt=0)


class CheckSourceSpec(_Spec):
    kind: Literal["check_source"] = "check_source"
    source_id: str


JobSpec = Annotated[
    TabularSynthesisSpec | ImageSynthesisSpec | SampleSpec | CheckSourceSpec,
    Field(discriminator="kind"),
]
_adapter: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)

OUTPUT_FORMATS = {"tabular": ("csv", "parquet"), "image": ("npz", "png_zip")}
MEDIA_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "npz": "application/octet-stream",
    "png_zip": "application/zip",
}
FILE_SUFFIXES = {"csv": ".csv", "parquet": ".parquet", "npz": ".npz", "png_zip": ".zip"}


def parse_spec(data: dict[str, Any]) -> JobSpec:
    # specs stored before the step count had one name call it "sampling_steps"
    return _adapter.validate_python(
        {"steps" if k == "sampling_steps" else k: v for k, v in data.items()}
    )


def dump_spec(spec: JobSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json")
