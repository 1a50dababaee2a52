"""Registering a steward's upload as a source.

An upload is accepted in two steps:
1. In the request (the API process, pandas only): a bounded copy to private staging, type
   sniffing, size/row/column limits, safe archive extraction, parsing, and the schema
   checks of ``synthgen.tabular.conform``. A refusal answers 4xx and leaves nothing behind:
   the staging directory is removed and no row is written.
2. In a worker: the expectation suite built from the schema (great_expectations is far too
   heavy for the API process). Until it passes the source is ``validating``; jobs may be
   queued on it, and a job's first stage runs the same check if no worker has yet. If it
   fails the source becomes ``rejected``, its files are deleted, and the reasons (column
   names and counts, never values) are kept on the record.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipelines import audit
from pipelines.artifacts import ArtifactStore
from pipelines.auth import Actor
from pipelines.errors import Forbidden, InvalidRequest, NotFound
from pipelines.inspection import Inspected, UploadForm, inspect_upload
from pipelines.settings import Settings
from pipelines.specs import CheckSourceSpec, dump_spec
from pipelines.store.db import Database
from pipelines.store.models import Job, JobKind, JobState, Role, Source, SourceState
from pipelines.uploads import IMAGE_SUFFIXES
from synthgen.errors import ConfigurationError, SchemaMismatch
from synthgen.requests import ImagePatients, build

# C0 and C1 control characters and DEL (tab and newline included): names end up in
# listings, CSV headers and terminals
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def default_delta_budget(n_records: int) -> float:
    """The default cap on a source's total delta, min(1e-4, 1/(2 N)): summed over every job,
    delta stays well below 1/N, the level at which it stops meaning anything."""
    return min(1e-4, 1.0 / (2 * max(n_records, 1)))


def default_job_delta_reservation(n_records: int) -> float:
    """What the ledger reserves for a job whose steward gives no delta.

    Such a job's delta is chosen by the trainer, after it reads the data, from the run's
    public record count: min(1e-5, 1/(10 N-hat)) with N-hat a DP upper bound (or the declared
    public_record_count), never the exact N, which is private under add/remove adjacency
    and so must not set a shipped delta. The ledger, which is private to the steward, may
    use the exact N: it reserves min(1e-5, 1/(5 N)), at least what the trainer will choose
    unless the DP upper bound falls below N / 2 (for a 300-row table at epsilon 1, a 4-sigma
    event), and settles the job at the certificate's delta."""
    return min(1e-5, 1.0 / (5 * max(n_records, 1)))


def register_source(
    db: Database,
    store: ArtifactStore,
    settings: Settings,
    *,
    actor: Actor,
    form: UploadForm,
    data: BinaryIO,
    schema_data: BinaryIO | None,
) -> tuple[Source, Job | None]:
    """Check an upload and register it; returns the source and its check job (if any).
    Raises a ServiceError or a library error (SchemaMismatch, ...) and keeps nothing."""
    if actor.role != Role.steward:
        raise Forbidden("only data stewards upload sources")
    name = form.name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("name must be 1 to 200 characters")
    for field, value in (("name", form.name), ("target", form.target or "")):
        if CONTROL_CHARACTERS.search(value):  # a NUL: SQLite keeps it, PostgreSQL fails
            raise InvalidRequest(f"{field} must not contain control characters")
    if not (math.isfinite(form.epsilon_budget) and form.epsilon_budget > 0):
        raise InvalidRequest("epsilon_budget must be a finite number greater than 0")
    patients = _patients(form)
    with store.staging() as staging:
        inspected = inspect_upload(staging, settings, form, data, schema_data)
        if patients is not None:
            _check_patients_fit(patients, inspected)
        delta_budget = form.delta_budget
        if delta_budget is None:
            delta_budget = default_delta_budget(inspected.n_records)
        elif not (0 < delta_budget < 1.0 / inspected.n_records):
            raise InvalidRequest(
                f"delta_budget must be in (0, 1/N) = (0, {1.0 / inspected.n_records:.3g}) "
                f"for N = {inspected.n_records} records"
            )
        return _store(db, store, actor, form, inspected, name, delta_budget, patients)


def _patients(form: UploadForm) -> ImagePatients | None:
    """The upload's patient-level declaration, checked once (the typed request); None:
    record level. A cap without an id source is refused rather than ignored."""
    if form.entity is None or not form.entity.strip():
        if form.max_records_per_entity is not None:
            raise InvalidRequest(
                "max_records_per_entity needs a patient id source (entity: dicom:KEYWORD, "
                "csv:COLUMN or folder)"
            )
        return None
    try:
        return build(
            ImagePatients,
            entity=form.entity,
            max_records_per_entity=form.max_records_per_entity,
        )
    except ConfigurationError as exc:
        raise InvalidRequest(str(exc)) from None


def _check_patients_fit(patients: ImagePatients, inspected: Inspected) -> None:
    """Refuse an id source the upload cannot have (before anything is stored): the trainer
    would only fail the job later, after its budget was reserved."""
    if inspected.modality == "tabular":
        raise InvalidRequest(
            "entity applies to image sources; a table names its patient column in its "
            "schema (role: entity)"
        )
    if inspected.file_format == "npz":
        raise InvalidRequest(
            "an .npz source has no patient ids the service can read: upload a .zip of "
            "class/patient/image folders (entity: folder) or of DICOM files (dicom:KEYWORD, "
            "csv:COLUMN)"
        )
    folder = patients.entity == "folder"
    if folder and inspected.dicom:
        raise InvalidRequest(
            "entity folder applies to PNG/JPEG class/patient/image folders; a DICOM source "
            "takes dicom:KEYWORD (e.g. dicom:PatientID) or csv:COLUMN"
        )
    if not folder and not inspected.dicom:
        raise InvalidRequest(
            f"entity {patients.entity} applies to DICOM sources; a zip of PNG/JPEG class "
            "folders takes entity folder (the layout class/patient/image)"
        )
    if folder and not _has_patient_folders(inspected.data / inspected.inner):
        raise InvalidRequest(
            "entity folder needs the layout class/patient/image.png; the archive's images "
            "sit directly in their class folders"
        )


def _has_patient_folders(root: Path) -> bool:
    """Whether some image lies in a folder under a class folder (``class/patient/x.png``)."""
    return any(
        f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and len(f.relative_to(root).parts) >= 3
        for f in root.rglob("*")
    )


def _store(
    db: Database,
    store: ArtifactStore,
    actor: Actor,
    form: UploadForm,
    inspected: Inspected,
    name: str,
    delta_budget: float,
    patients: ImagePatients | None = None,
) -> tuple[Source, Job | None]:
    new_refs: list[str] = []
    try:
        with db.transaction(write=True) as session:
            if inspected.data.is_dir():
                sha = inspected.data.name  # staged under the archive's hash
                root_ref, new = store.source_dirs.put_directory(inspected.data, sha)
                size = sum(
                    p.stat().st_size for p in store.resolve(root_ref).rglob("*") if p.is_file()
                )
                if new:
                    new_refs.append(root_ref)
                    new = False
                data_ref = f"{root_ref}/{inspected.inner}" if inspected.inner else root_ref
            else:
                blob, new = store.private_blobs.put(inspected.data, suffix=inspected.suffix)
                sha, data_ref, size = blob.sha256, blob.ref, blob.size
            if new:
                new_refs.append(data_ref)
            schema_ref = schema_sha = None
            if inspected.schema is not None:
                sblob, snew = store.private_blobs.put(
                    inspected.schema, suffix=inspected.schema.suffix
                )
                schema_ref, schema_sha = sblob.ref, sblob.sha256
                if snew:
                    new_refs.append(schema_ref)
            needs_check = inspected.schema is not None or inspected.modality == "image"
            source = Source(
                owner_id=actor.id,
                name=name,
                modality=inspected.modality,
                file_format=inspected.file_format,
                target=form.target if inspected.modality == "tabular" else None,
                data_ref=data_ref,
                data_sha256=sha,
                size_bytes=size,
                n_records=inspected.n_records,
                columns=inspected.columns,
                schema_ref=schema_ref,
                schema_sha256=schema_sha,
                state=SourceState.validating if needs_check else SourceState.ready,
                epsilon_budget=form.epsilon_budget,
                delta_budget=delta_budget,
                entity=patients.entity if patients else None,
                max_records_per_entity=patients.max_records_per_entity if patients else None,
            )
            session.add(source)
            session.flush()
            job = queue_source_check(session, source, actor) if needs_check else None
            audit.record(
                session,
                actor,
                "source.upload",
                "source",
                source.id,
                {
                    "name": name,
                    "modality": inspected.modality,
                    "format": inspected.file_format,
                    "records": inspected.n_records,
                    "sha256": sha,
                    "epsilon_budget": form.epsilon_budget,
                    "delta_budget": delta_budget,
                    # public words (the kind of id source), never an id
                    "entity": patients.entity if patients else None,
                    "max_records_per_entity": (
                        patients.max_records_per_entity if patients else None
                    ),
                },
            )
    except BaseException:
        for ref in new_refs:
            store.delete_ref(ref)
        raise
    return source, job


# -- reading ---------------------------------------------------------------------------------
def get_source(session: Session, actor: Actor, source_id: str) -> Source:
    """A source the actor may see: stewards their own, auditors all."""
    if actor.role not in (Role.steward, Role.auditor):
        raise Forbidden("only stewards and auditors see sources")
    source = session.get(Source, source_id)
    if source is None or (actor.role == Role.steward and source.owner_id != actor.id):
        raise NotFound(f"no source {source_id}")
    return source


def list_sources(session: Session, actor: Actor, *, limit: int, offset: int) -> list[Source]:
    if actor.role not in (Role.steward, Role.auditor):
        raise Forbidden("only stewards and auditors see sources")
    stmt = select(Source).order_by(Source.created_at.desc(), Source.id)
    if actor.role == Role.steward:
        stmt = stmt.where(Source.owner_id == actor.id)
    return list(session.scalars(stmt.limit(limit).offset(offset)).all())


def mark_checked(
    session: Session, store: ArtifactStore, source: Source, problems: list[str] | None
) -> None:
    """Record the expectation suite's verdict on a source (worker side). A rejected
    source's files are deleted unless another source holds the same content."""
    from pipelines.store.models import utcnow

    source.validated_at = utcnow()
    if not problems:
        source.state = SourceState.ready
        return
    source.state = SourceState.rejected
    source.problems = problems
    for ref_attr, sha_attr in (("data_ref", "data_sha256"), ("schema_ref", "schema_sha256")):
        ref = getattr(source, ref_attr)
        if not ref:
            continue
        if ref_attr == "data_ref" and source.file_format == "image_zip":
            ref = "/".join(Path(ref).parts[:3])  # the whole extracted archive
        column = getattr(Source, sha_attr)
        shared = session.scalar(
            select(func.count())
            .select_from(Source)
            .where(
                column == getattr(source, sha_attr),
                Source.id != source.id,
                Source.state != SourceState.rejected,
            )
        )
        if not shared:
            store.delete_ref(ref)
        if ref_attr == "data_ref":
            source.data_ref = None
        else:
            source.schema_ref = None


__all__ = [
    "SchemaMismatch",
    "UploadForm",
    "default_delta_budget",
    "default_job_delta_reservation",
    "get_source",
    "list_sources",
    "mark_checked",
    "register_source",
]


def queue_source_check(session: Session, source: Source, actor: Actor) -> Job:
    """A queued ``check_source`` job for ``source`` (its expectation suite, run by a worker)."""
    job = Job(
        kind=JobKind.check_source,
        modality=source.modality,
        source_id=source.id,
        created_by=actor.id,
        spec=dump_spec(CheckSourceSpec(source_id=source.id)),
        state=JobState.queued,
        outputs={},
    )
    session.add(job)
    session.flush()
    return job
