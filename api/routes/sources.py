"""Sources: a steward's uploads and their privacy-budget ledgers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from api.auditing import record_read
from api.deps import (
    DatabaseDep,
    DispatcherDep,
    SessionDep,
    SettingsDep,
    SourceReader,
    StewardActor,
    StoreDep,
)
from api.schemas import LedgerPublic, SourceCreated, SourcePublic, error_responses
from pipelines import ledger, sources

router = APIRouter(prefix="/sources", tags=["sources"])

ERRORS = error_responses(401, 403, 404)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SourceCreated,
    responses={**ERRORS, **error_responses(413, 415, 422)},
)
def upload_source(
    actor: StewardActor,
    db: DatabaseDep,
    store: StoreDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    file: Annotated[
        UploadFile,
        File(
            description="the table (CSV or Parquet), or images (.npz, or .zip of one folder per class)"
        ),
    ],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    epsilon_budget: Annotated[
        float,
        Form(
            gt=0,
            le=1e6,
            allow_inf_nan=False,
            description="cap on the total epsilon of all jobs on this source",
        ),
    ],
    target: Annotated[
        str | None, Form(min_length=1, max_length=200, description="the label column (tables)")
    ] = None,
    delta_budget: Annotated[
        float | None,
        Form(
            gt=0, lt=1, description="cap on the total delta, below 1/N; default min(1e-4, 1/(2 N))"
        ),
    ] = None,
    schema_file: Annotated[
        UploadFile | None, File(alias="schema", description="the table's schema (YAML or JSON)")
    ] = None,
    entity: Annotated[
        str | None,
        Form(
            max_length=210,
            description=(
                "images: the patient id source for patient-level privacy, dicom:KEYWORD "
                "(e.g. dicom:PatientID), csv:COLUMN (of the labels CSV) or folder (the "
                "layout class/patient/image.png); every job on the source then protects "
                "a patient with all their images. Tables: the schema's role: entity"
            ),
        ),
    ] = None,
    max_records_per_entity: Annotated[
        int | None,
        Form(description="images kept per patient, at random (default 8; needs entity)"),
    ] = None,
) -> SourceCreated:
    """Upload a source with its budget cap. The table is parsed and checked against its
    schema before anything is stored; a refusal keeps nothing."""
    form = sources.UploadForm(
        name=name,
        target=target,
        epsilon_budget=epsilon_budget,
        delta_budget=delta_budget,
        filename=file.filename or "upload",
        schema_filename=schema_file.filename if schema_file is not None else None,
        entity=entity,
        max_records_per_entity=max_records_per_entity,
    )
    source, job = sources.register_source(
        db,
        store,
        settings,
        actor=actor,
        form=form,
        data=file.file,
        schema_data=schema_file.file if schema_file is not None else None,
    )
    if job is not None:
        dispatcher.submit(job.id, job.kind, job.modality)
    return SourceCreated(id=source.id, state=source.state, check_job_id=job.id if job else None)


@router.get("", response_model=list[SourcePublic], responses=ERRORS)
def list_sources(
    actor: SourceReader,
    session: SessionDep,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[SourcePublic]:
    """Stewards see their own sources, auditors all."""
    rows = sources.list_sources(session, actor, limit=limit, offset=offset)
    record_read(db, actor, "source.list", None, None, details={"count": len(rows)})
    return [SourcePublic.model_validate(s) for s in rows]


@router.get("/{source_id}", response_model=SourcePublic, responses=ERRORS)
def get_source(
    source_id: str, actor: SourceReader, session: SessionDep, db: DatabaseDep
) -> SourcePublic:
    source = SourcePublic.model_validate(sources.get_source(session, actor, source_id))
    record_read(db, actor, "source.read", "source", source.id)
    return source


@router.get("/{source_id}/ledger", response_model=LedgerPublic, responses=ERRORS)
def get_ledger(
    source_id: str, actor: SourceReader, session: SessionDep, db: DatabaseDep
) -> LedgerPublic:
    """The source's budget, what jobs spent and reserved, and every entry."""
    source = sources.get_source(session, actor, source_id)
    view = LedgerPublic.model_validate(ledger.view(session, source))
    record_read(db, actor, "ledger.read", "source", source.id)
    return view
