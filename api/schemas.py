"""Request and response bodies. Create/Public models are separate from the ORM models, so
no column reaches a client unless it is listed here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipelines.jobs import SampleRequest, SynthesisRequest

# JSON bodies are small; uploads (POST /v1/sources) have their own, larger limit
JSON_BODY_LIMIT = 1 << 20


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(BaseModel):
    detail: str
    error: str | None = None


Responses = dict[int | str, dict[str, Any]]


def error_responses(*codes: int) -> Responses:
    """OpenAPI entries for the error statuses a route can answer."""
    return {code: {"model": Message} for code in codes}


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    migrations: str
    executor: str


class Me(_Public):
    id: str | None
    name: str
    role: str


# -- sources -----------------------------------------------------------------------------------
class SourceCreated(BaseModel):
    id: str
    state: str = Field(description="ready, or validating while a worker runs the expectation suite")
    check_job_id: str | None = Field(
        default=None, description="the job running the expectation suite"
    )


class SourcePublic(_Public):
    id: str
    name: str
    owner_id: str
    modality: str
    file_format: str
    target: str | None
    n_records: int
    columns: list[str] | None
    state: str
    problems: list[str] | None
    epsilon_budget: float
    delta_budget: float
    entity: str | None = Field(
        default=None,
        description="images: the patient id source (patient-level privacy); null: one image",
    )
    max_records_per_entity: int | None = None
    data_sha256: str
    schema_sha256: str | None
    size_bytes: int
    created_at: datetime
    validated_at: datetime | None


class LedgerEntryPublic(_Public):
    job_id: str
    state: str = Field(
        description="reserved (counts at the reservation) or settled (at the actual spend)"
    )
    epsilon_reserved: float
    delta_reserved: float
    epsilon_spent: float | None
    delta_spent: float | None
    note: str | None
    created_at: datetime
    settled_at: datetime | None


class LedgerPublic(_Public):
    source_id: str
    epsilon_budget: float
    delta_budget: float
    epsilon_spent: float
    delta_spent: float
    epsilon_reserved: float
    delta_reserved: float
    epsilon_remaining: float
    delta_remaining: float
    composition: str
    entries: list[LedgerEntryPublic]


# -- jobs --------------------------------------------------------------------------------------
# the service's request types (pipelines.jobs), built on the library's (synthgen.requests)
class JobCreate(SynthesisRequest):
    """A synthetic dataset: train a DP model on a source, then sample from it."""


class SampleCreate(SampleRequest):
    """More records from an approved release."""


class JobAccepted(BaseModel):
    id: str
    state: str


class JobPublic(_Public):
    id: str
    kind: str
    modality: str | None
    state: str = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str | None
    progress: float = Field(description="percent of the whole job")
    epsilon_reserved: float
    delta_reserved: float
    epsilon_spent: float | None = Field(description="live while training; final once the job ended")
    release_id: str | None
    source_id: str | None
    parent_release_id: str | None
    error: str | None
    cancel_requested: bool
    attempts: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


# -- releases ----------------------------------------------------------------------------------
class FilePublic(BaseModel):
    sha256: str
    size: int


class ReleasePublic(BaseModel):
    """Fields marked (steward, auditor) are null for ML engineers."""

    id: str
    modality: str
    state: str
    n_records: int
    epsilon: float
    delta: float
    private: bool
    files: dict[str, FilePublic]
    seed: int
    class_counts: dict[str, int] | None
    parent_id: str | None
    created_at: datetime
    decided_at: datetime | None
    source_id: str | None = Field(default=None, description="(steward, auditor)")
    job_id: str | None = Field(default=None, description="(steward, auditor)")
    verdict: str | None = Field(
        default=None, description="(steward, auditor) the validation report's verdict"
    )
    report_formats: list[str] | None = Field(default=None, description="(steward, auditor)")
    decided_by: str | None = Field(default=None, description="(steward, auditor)")
    decision_reason: str | None = Field(default=None, description="(steward, auditor)")


class Decision(_Request):
    reason: str | None = Field(default=None, max_length=2000)


# -- audit and users ---------------------------------------------------------------------------
class AuditEventPublic(_Public):
    id: int
    at: datetime
    actor_id: str | None
    actor_name: str
    actor_role: str | None
    action: str
    object_type: str | None
    object_id: str | None
    source_id: str | None = Field(default=None, description="the source the event concerns")
    outcome: str = Field(default="ok", description="ok, or refused (401, 403, 409, 429)")
    details: dict[str, Any]


class UserCreate(_Request):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    role: str = Field(pattern=r"^(steward|ml_engineer|auditor|admin)$")


class UserRoleChange(_Request):
    role: str = Field(
        pattern=r"^(steward|ml_engineer|auditor|admin)$",
        description="the user's new role; it holds from their next request",
    )


class UserPublic(_Public):
    id: str
    name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    active_keys: int = 0


class KeyIssued(BaseModel):
    user: UserPublic
    key: str = Field(description="shown once: store it now")
