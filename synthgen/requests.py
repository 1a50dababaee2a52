"""One typed request per operation (train a model, sample from one), checked once, here,
when it is built: the CLI and the service build them, ``synthgen.workflows`` hands them to
the modality, the trainers and samplers read them. Only pydantic and the standard library
are imported: the API process (no torch) uses these types."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from synthgen.errors import ConfigurationError

ModalityName = Literal["tabular", "image"]


def check_epsilon(value: float, *, finite: bool = False) -> float:
    """The one rule for epsilon: a positive number. ``inf`` trains without DP (benchmarks
    only: the model is marked not private and never released); the service, whose models
    are all meant for release, refuses it (``finite=True``, ``FiniteEpsilon``)."""
    if not value > 0 or (finite and math.isinf(value)):  # NaN is not > 0
        allowed = (
            "a positive finite number (greater than 0)"
            if finite
            else ("a positive number (greater than 0, or inf for a non-private benchmark)")
        )
        raise ValueError(f"epsilon must be {allowed}, got {value!r}")
    return value


finite_epsilon = functools.partial(check_epsilon, finite=True)
# "exclusiveMinimum" keeps the JSON schema saying what the check says
Epsilon = Annotated[
    float, Field(json_schema_extra={"exclusiveMinimum": 0}), AfterValidator(check_epsilon)
]
FiniteEpsilon = Annotated[
    float, Field(json_schema_extra={"exclusiveMinimum": 0}), AfterValidator(finite_epsilon)
]
ClassCounts = dict[str, Annotated[int, Field(ge=0)]]


def detect_modality(source: Any) -> ModalityName:
    """Tables are CSV/Parquet files (or an in-memory table); images are .npz files or
    folders (PNG/JPEG per class, or DICOM with a labels CSV)."""
    path = Path(source) if isinstance(source, str | Path) else None
    image = path is not None and (path.is_dir() or path.name.lower().endswith(".npz"))
    return "image" if image else "tabular"


IMAGE_ENTITY_FORMS = "dicom:KEYWORD (e.g. dicom:PatientID), csv:COLUMN or folder"


def check_image_entity(value: str) -> str:
    """The one grammar of an image source's patient id source (``synthgen.images.entities``):
    ``folder``, ``dicom:KEYWORD`` or ``csv:COLUMN``, returned with spaces trimmed."""
    text = value.strip()
    if text == "folder":
        return text
    kind, _, name = text.partition(":")
    if kind in ("dicom", "csv") and name.strip() and len(name.strip()) <= 200:
        return f"{kind}:{name.strip()}"
    raise ValueError(f"the patient id source of images must be {IMAGE_ENTITY_FORMS}, got {value!r}")


ImageEntity = Annotated[str, AfterValidator(check_image_entity)]
MaxRecordsPerEntity = Annotated[int, Field(ge=1, le=1000)]


Delta = Annotated[float, Field(gt=0, lt=1)]
MaxSteps = Annotated[int, Field(gt=0)]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]
NOUNS = {"tabular": "tables", "image": "image models"}


def cli_flag(name: str) -> str:
    """How the CLI spells an option: ``critic_guidance`` -> ``--critic-guidance``."""
    return "--" + {"table_schema": "schema"}.get(name, name).replace("_", "-")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    def _refuse(self, modality: str, spell: Callable[[str], str]) -> None:
        """Refuse an option given for the modality it does not apply to: the one place for
        "--sampler applies to image models only" and its kin. ``spell`` names an option
        as the caller knows it (a CLI flag, a JSON field)."""
        for name, option in _options(type(self)):
            owner, value = option.modality, getattr(self, name)
            if owner not in (None, modality) and value is not None and value is not False:
                raise ConfigurationError(
                    f"{spell(name)} applies to {NOUNS[owner]} only{option.detail}"
                )


@dataclass(frozen=True)
class Option:
    """Marks a request field: the ``modality`` it applies to (None: both), whether it is a
    trainer config field (``TrainRequest.config_overrides``), what to add when refused."""

    modality: ModalityName | None = None
    config: bool = True
    detail: str = ""


def _options(model: type[BaseModel]) -> list[tuple[str, Option]]:
    return [
        (name, marker)
        for name, info in model.model_fields.items()
        for marker in info.metadata
        if isinstance(marker, Option)
    ]


TABLES, IMAGES, BOTH = Option("tabular"), Option("image"), Option()


class ImagePatients(_Request):
    """An image source's patient-level declaration, as the service stores it with the
    source: where each image's patient id comes from, and the cap on images per patient
    (None: the library's default, ``synthgen.privacy.contribution``)."""

    entity: ImageEntity
    max_records_per_entity: MaxRecordsPerEntity | None = None


class TrainingOptions(_Request):
    """What decides a run apart from its files (the service keeps these in a job's spec)."""

    epsilon: Epsilon  # total budget, preprocessing included; inf: not private
    delta: Delta | None = None  # None: min(1e-5, 1/(10 N-hat))
    seed: Seed = 0  # split, initialisation and diffusion draws (never privacy noise)
    max_steps: MaxSteps | None = None  # cap on DP-SGD steps
    holdout: float = Field(default=0.2, ge=0, lt=0.9)  # share kept out for validation
    # fields of the trainer's config (tables: TabularTrainingConfig; images:
    # synthgen.images.config), e.g. the service's settings
    overrides: dict[str, Any] = Field(default_factory=dict)


class TrainRequest(TrainingOptions):
    """Train a DP generator on ``source`` and write the model directory ``out``."""

    source: Any  # a file or folder (Path); library callers may pass a pandas DataFrame
    out: Path  # model directory to create (must not exist)
    modality: ModalityName | None = None  # None: detected from ``source``
    private_dir: Path | None = None  # default MODEL_DIR.private
    resume: bool = False  # continue an interrupted run from its checkpoint
    # tables
    target: Annotated[
        str | None,
        Option(
            "tabular",
            config=False,
            detail=(
                "; image labels come from the .npz labels, the class folder names or the labels CSV"
            ),
        ),
    ] = None  # label column the model conditions on
    table_schema: Annotated[
        Any,
        Option(
            "tabular",
            config=False,
            detail=("; an image source needs none (its spec comes from the files)"),
        ),
    ] = None  # --schema: a YAML/JSON file (Path) or a Schema
    # patient-level privacy: the unit of privacy becomes the patient with all their
    # records. Tables: the column naming the patient (or the schema's `role: entity`);
    # images: where each image's patient id comes from, dicom:KEYWORD, csv:COLUMN or
    # folder (synthgen.images.entities). None (default): record level
    entity: Annotated[str | None, Option(config=False)] = None
    # records kept per patient, at random (default 8, synthgen.privacy.contribution)
    max_records_per_entity: Annotated[int | None, Option(config=False)] = Field(default=None, ge=1)
    # the number of patients of the source (or an upper bound), declared public: no budget
    # goes to a DP patient count (patient-level runs only)
    public_entity_count: Annotated[int | None, Option(config=False)] = Field(default=None, ge=1)
    preprocessing_share: Annotated[float | None, TABLES] = Field(default=None, gt=0, lt=1)
    tracker: Annotated[str | None, TABLES] = None  # also log to "wandb" or "mlflow"
    # go ahead when the feasibility estimate says infeasible (synthgen.tabular.feasibility)
    accept_infeasible: Annotated[bool | None, Option("tabular", config=False)] = None
    # DP-SGD processes on this machine (synthgen.training.distributed; under torchrun the
    # world size comes from torchrun); not part of the run's identity: resume with any.
    # (images: CPU only)
    processes: Annotated[int | None, Option(config=False)] = Field(default=None, ge=1, le=64)
    # both
    noise_multiplicity: Annotated[int | None, BOTH] = Field(default=None, ge=1)  # K per example
    batch_size: Annotated[int | None, BOTH] = Field(default=None, ge=1)  # expected Poisson batch
    secure_rng: Annotated[bool | None, BOTH] = None  # False: noise from a seeded fast PRNG
    public_record_count: Annotated[int | None, BOTH] = Field(default=None, ge=1)  # public N
    # images
    init_from: Annotated[Path | None, IMAGES] = None  # model trained on PUBLIC images
    public_source: Annotated[Literal[True] | None, IMAGES] = None  # the source is PUBLIC
    channels: Annotated[Literal[1, 3] | None, IMAGES] = None
    classes: Annotated[int | tuple[str, ...] | None, IMAGES] = None  # declared public classes
    # an .npz source's patient ids (.npy or one-column .csv, one per training then
    # validation image): pseudo-patients for MedMNIST, which has none
    entity_file: Annotated[Path | None, Option("image", config=False)] = None

    @field_validator("source", "table_schema", "entity_file", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return Path(value) if isinstance(value, str) else value

    @field_validator("classes", mode="before")
    @classmethod
    def _declared_classes(cls, value: Any) -> Any:
        """``--classes``: a count (``3``) or comma-separated names (``benign,malignant``)."""
        if not isinstance(value, str):
            return value
        return (
            int(value)
            if value.strip().isdigit()
            else tuple(name.strip() for name in value.split(",") if name.strip())
        )

    @model_validator(mode="after")
    def _resolve_modality(self) -> TrainRequest:
        modality = self.modality or detect_modality(self.source)
        table_options = [
            cli_flag(n) for n in ("target", "table_schema") if getattr(self, n) is not None
        ]
        if (
            self.modality is None
            and table_options
            and isinstance(self.source, str | Path)
            and Path(self.source).is_dir()
        ):
            # A folder given with table options is a table gone wrong, not an image source
            raise ConfigurationError(
                f"{self.source} is a folder, not a table: {' and '.join(table_options)} "
                f"{'take' if len(table_options) > 1 else 'takes'} a table, a .csv or .parquet file (a folder is read as images, one subfolder "
                f"per class)"
            )
        object.__setattr__(self, "modality", modality)
        self._refuse(modality, cli_flag)
        return self

    @property
    def kind(self) -> ModalityName:  # the modality, resolved when the request was built
        return self.modality or detect_modality(self.source)

    def config_overrides(self) -> dict[str, Any]:
        """The trainer options as config fields: ``overrides`` and every option given."""
        given = {
            name: getattr(self, name)
            for name, option in _options(TrainRequest)
            if option.config and getattr(self, name) is not None
        }
        return {
            **self.overrides,
            **{k: str(v) if isinstance(v, Path) else v for k, v in given.items()},
        }


class SampleChoices(_Request):
    """What anyone who samples may choose (the CLI, the service's HTTP bodies)."""

    rows: int | None = Field(
        default=None, gt=0, le=10**9, description="records to generate (or give class_counts)"
    )
    seed: Seed = 0  # same seed, same records
    class_counts: ClassCounts | None = Field(
        default=None, description='records per class, e.g. {"0": 500, "1": 500}'
    )
    guidance_scale: float | None = Field(
        default=None, ge=0, le=100, description="classifier-free guidance"
    )
    steps: int | None = Field(
        default=None, gt=0, le=10_000, description="reverse diffusion steps (default: the model's)"
    )
    candidates: Annotated[int | None, IMAGES] = Field(
        default=None,
        ge=1,
        le=64,
        description="images only: draws per image the class critic chooses from "
        "(default: the model's)",
    )
    critic_guidance: Annotated[float | None, IMAGES] = Field(
        default=None,
        ge=0,
        le=100,
        description="images only: the class critic's guidance scale, 0 off (default: the model's)",
    )

    @model_validator(mode="after")
    def _rows_from_class_counts(self) -> SampleChoices:
        """``rows`` defaults to the sum of ``class_counts``; given both, they must agree."""
        if self.class_counts is None:
            if self.rows is None:
                raise ValueError("give rows, or class_counts")
            return self
        total = sum(self.class_counts.values())
        if total <= 0:
            raise ValueError("class_counts must ask for at least one record")
        if self.rows is not None and self.rows != total:
            raise ValueError(f"rows ({self.rows}) differs from the sum of class_counts ({total})")
        object.__setattr__(self, "rows", total)
        return self

    def check_modality(self, modality: str, *, spell: Callable[[str], str] = cli_flag) -> None:
        self._refuse(modality, spell)

    def sample_options(self, **changes: Any) -> SampleOptions:
        """These choices (and ``changes``) as the library's ``SampleOptions``."""
        fields = self.model_dump(include=set(SampleChoices.model_fields))
        return SampleOptions.model_validate({**fields, **changes})


class SampleOptions(SampleChoices):
    """Draw synthetic records from a trained model (post-processing: no budget)."""

    sampler: Annotated[str | None, IMAGES] = None  # images: euler, heun, dpmpp2m, ancestral, churn
    spreadsheet_safe: bool = True  # tables: a CSV neutralises text a spreadsheet would run
    # tables: worker processes drawing the chunks; the rows are the same for any number
    processes: Annotated[int | None, TABLES] = Field(default=None, ge=1, le=64)


def build(model: type[_Request], **fields: Any) -> Any:
    """``model(**fields)`` with pydantic's errors as one ConfigurationError line, as the CLI
    prints them: our checks' own messages, others after their field (``rows: Input ...``)."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise ConfigurationError(
            "; ".join(
                str(e["ctx"]["error"])
                if e["type"] == "value_error"
                else ".".join(map(str, e["loc"])) + ": " + e["msg"]
                for e in exc.errors()
            )
        ) from None
