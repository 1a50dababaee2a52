"""The store's tables: users and keys, sources, the privacy ledger, jobs, releases and the
audit log (SQLAlchemy 2.0 typed ORM).

The store holds references (paths relative to the data directory) and sha256 hashes of
artifacts, never their content. The job table is the source of truth for work: a job's
state, stage and progress are read from here by the API and written by whichever worker
holds the job's lease.

jobs.release_id and jobs.parent_release_id are plain columns, not foreign keys, because
releases.job_id already points the other way (no circular constraints).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone: re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(StrEnum):
    steward = "steward"
    ml_engineer = "ml_engineer"
    auditor = "auditor"
    admin = "admin"


class SourceState(StrEnum):
    validating = "validating"  # parsed and schema-checked; the expectation suite is pending
    ready = "ready"
    rejected = "rejected"  # its files are deleted; the record stays for the audit trail


class JobKind(StrEnum):
    check_source = "check_source"  # run the expectation suite on a new upload
    synthesize = "synthesize"  # ingest -> train -> sample -> validate -> report
    sample = "sample"  # more rows from an approved model (post-processing, no budget)


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_JOB_STATES = (JobState.succeeded, JobState.failed, JobState.cancelled)


class LedgerState(StrEnum):
    reserved = "reserved"  # counts against the cap at the reserved amount
    settled = "settled"  # counts at the amount actually spent


class ReleaseState(StrEnum):
    pending = "pending"  # waiting for a steward's decision
    approved = "approved"
    rejected = "rejected"


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's declarative configuration
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]


class ApiKey(Base):
    """An API key, stored as the sha256 of the key (keys are 256-bit random strings, so a
    plain hash is enough; the key itself is shown once when it is created)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Source(Base):
    """A steward's upload: a table (CSV/Parquet) or an image set, kept in the private area."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    modality: Mapped[str] = mapped_column(String(10))  # tabular | image
    file_format: Mapped[str] = mapped_column(String(20))  # csv | parquet | npz | image_zip
    target: Mapped[str | None] = mapped_column(String(200))
    data_ref: Mapped[str | None] = mapped_column(String(500))  # relative to the data dir
    data_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    n_records: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list[Any] | None]  # column names (public metadata), tables only
    schema_ref: Mapped[str | None] = mapped_column(String(500))
    schema_sha256: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    problems: Mapped[list[Any] | None]  # why the expectation suite refused it
    epsilon_budget: Mapped[float] = mapped_column(Float)
    delta_budget: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    validated_at: Mapped[datetime | None]
    # images, patient-level privacy (synthgen.requests.ImagePatients): the patient id
    # source (dicom:KEYWORD, csv:COLUMN or folder; None: record level) and the cap on
    # images per patient (None: the library's default). Tables: the schema's role: entity
    entity: Mapped[str | None] = mapped_column(String(210))
    max_records_per_entity: Mapped[int | None] = mapped_column(Integer)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))
    modality: Mapped[str | None] = mapped_column(String(10))
    source_id: Mapped[str | None] = mapped_column(ForeignKey("sources.id"), index=True)
    parent_release_id: Mapped[str | None] = mapped_column(String(32))
    release_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    spec: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(12), index=True)
    stage: Mapped[str | None] = mapped_column(String(20))
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # percent of the whole job
    epsilon_reserved: Mapped[float] = mapped_column(Float, default=0.0)
    delta_reserved: Mapped[float] = mapped_column(Float, default=0.0)
    epsilon_spent: Mapped[float | None] = mapped_column(Float)  # live while training
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per-stage results
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class LedgerEntry(Base):
    """One job's claim on its source's budget (docs/privacy.md#composition): reserved before the
    job reads any data, settled once at what it actually spent."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    state: Mapped[str] = mapped_column(String(12))
    epsilon_reserved: Mapped[float] = mapped_column(Float)
    delta_reserved: Mapped[float] = mapped_column(Float)
    epsilon_spent: Mapped[float | None] = mapped_column(Float)
    delta_spent: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]


class Release(Base):
    """Synthetic data from one model, with its DP certificate; ML engineers see it once a
    steward approved it."""

    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("releases.id"))
    modality: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), index=True)
    model_ref: Mapped[str] = mapped_column(String(500))
    model_sha256: Mapped[str] = mapped_column(String(64))
    files: Mapped[dict[str, Any]]  # format -> {"sha256", "size", "ref"} in the release area
    n_records: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    class_counts: Mapped[dict[str, Any] | None]
    certificate: Mapped[dict[str, Any]]
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    private: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[dict[str, Any] | None]  # format -> {"sha256", "ref"} in the private area
    verdict: Mapped[str | None] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Who did what, when, and whether it was allowed. An action (a settlement included) is
    recorded in the same transaction as the action; a refusal or a read in a transaction of
    its own (a refused request's transaction has rolled back)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(50), index=True)
    object_type: Mapped[str | None] = mapped_column(String(20))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "ok", or "refused" for a request answered 401, 403, 409 or 429
    outcome: Mapped[str] = mapped_column(String(20), default="ok", server_default="ok", index=True)
    source_id: Mapped[str | None] = mapped_column(String(32), index=True)  # the source concerned
