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

ClassCounts = dict[str, Annotated[int, Field(ge=0)]]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingParameters(_Spec):
    """Privacy and training parameters, common to both modalities."""

    epsilon: float = Field(gt=0, allow_inf_nan=False)  # total budget of the model
    # None: the trainer chooses min(1e-5, 1/(10 N-hat)) from the run's public record count
    delta: float | None = Field(default=None, gt=0, lt=1)
    seed: int
    max_steps: int | None = Field(default=None, gt=0)
    holdout: float = Field(default=0.2, ge=0, lt=1)
    overrides: dict[str, Any] = Field(default_factory=dict)  # trainer options (batch size, ...)


class TabularSynthesisSpec(_Spec):
    kind: Literal["synthesize_tabular"] = "synthesize_tabular"
    source_id: str
    target: str  # the label column the model conditions on
    training: TrainingParameters
    rows: int = Field(gt=0)
    class_counts: ClassCounts | None = None  # rows per class; default: DP class proportions
    output_formats: tuple[str, ...] = ("csv", "parquet")


class ImageSynthesisSpec(_Spec):
    kind: Literal["synthesize_image"] = "synthesize_image"
    source_id: str
    training: TrainingParameters
    rows: int = Field(gt=0)  # images to generate
    class_counts: ClassCounts | None = None
    guidance_scale: float | None = Field(default=None, ge=0)
    sampling_steps: int | None = Field(default=None, gt=0)
    candidates: int | None = Field(default=None, ge=1)  # class-critic draws per image
    critic_guidance: float | None = Field(default=None, ge=0)  # its guidance scale
    output_formats: tuple[str, ...] = ("npz", "png_zip")


class SampleSpec(_Spec):
    """More records from an approved release's model: post-processing, no budget."""

    kind: Literal["sample"] = "sample"
    release_id: str
    rows: int = Field(gt=0)
    seed: int
    class_counts: ClassCounts | None = None
    guidance_scale: float | None = Field(default=None, ge=0)  # images only
    sampling_steps: int | None = Field(default=None, gt=0)  # images only
    candidates: int | None = Field(default=None, ge=1)  # images only
    critic_guidance: float | None = Field(default=None, ge=0)  # images only


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
    return _adapter.validate_python(data)


def dump_spec(spec: JobSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def expected_rows(rows: int | None, class_counts: dict[str, int] | None) -> int:
    """Rows requested: ``rows``, or the sum of ``class_counts``; both must agree."""
    if class_counts is not None:
        if any(count < 0 for count in class_counts.values()):
            raise ValueError("class_counts must not be negative")
        total = sum(class_counts.values())
        if total <= 0:
            raise ValueError("class_counts must ask for at least one record")
        if rows is not None and rows != total:
            raise ValueError(f"rows ({rows}) differs from the sum of class_counts ({total})")
        return total
    if rows is None:
        raise ValueError("give rows, or class_counts")
    return rows
