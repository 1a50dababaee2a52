"""A source's reviewed schema and budget cap (stewards): what the console's schema and
budget forms use, available to every client."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.auditing import record_read
from api.deps import DatabaseDep, DispatcherDep, SessionDep, SourceReader, StewardActor, StoreDep
from api.schemas import JSON_BODY_LIMIT, SourceCreated, SourcePublic, error_responses
from pipelines import budgets, schema_review

router = APIRouter(prefix="/sources", tags=["sources"], max_body_size=JSON_BODY_LIMIT)

ERRORS = error_responses(401, 403, 404)


class DraftColumnPublic(BaseModel):
    fields: dict[str, Any] = Field(
        description="the column as a schema file writes it (name, kind, role, min, max, ...)"
    )
    drawn_from_data: list[str] = Field(
        description="fields whose value was read from the records: private until accepted"
    )


class DraftConstraintPublic(BaseModel):
    fields: dict[str, Any] = Field(description="the constraint as a schema file writes it")
    drawn_from_data: str = Field(
        description="the name to list in `accepted_from_data` to keep it unchanged (empty "
        "once accepted)"
    )
    rows_breaking: int = Field(description="rows of the source that break it (private)")
    rows_compared: int


class SchemaDraft(BaseModel):
    source_id: str
    accepted: bool = Field(description="true: a reviewed schema is in force (no drawn values)")
    columns: list[DraftColumnPublic]
    constraints: list[DraftConstraintPublic] = Field(
        default_factory=list,
        description="cross-column rules found in the records (draft) or declared (accepted)",
    )


class SchemaReview(BaseModel):
    model_config = {"extra": "forbid"}

    columns: list[dict[str, Any]] = Field(
        min_length=1, max_length=2000, description="the reviewed columns, as in a schema file"
    )
    accepted_from_data: list[str] = Field(
        default_factory=list,
        max_length=20000,
        description="`column.field` of each drawn value kept unchanged: it becomes public",
    )
    constraints: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=1000,
        description="cross-column rules, as in a schema file's `constraints:` (docs/tabular.md)",
    )


class BudgetChange(BaseModel):
    model_config = {"extra": "forbid"}

    epsilon_budget: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    delta_budget: float | None = Field(default=None, gt=0, lt=1)


@router.get("/{source_id}/schema/draft", response_model=SchemaDraft, responses=ERRORS)
def get_schema_draft(
    source_id: str, actor: SourceReader, session: SessionDep, db: DatabaseDep, store: StoreDep
) -> SchemaDraft:
    """The schema drafted from the table's records, each value drawn from them flagged;
    once a reviewed schema is accepted, that schema. Private: stewards and auditors."""
    drafted = schema_review.draft(session, store, actor, source_id)
    record_read(db, actor, "schema.read", "source", source_id, source_id=source_id)
    return SchemaDraft(
        source_id=drafted.source_id,
        accepted=drafted.accepted,
        columns=[
            DraftColumnPublic(fields=c.fields, drawn_from_data=list(c.drawn))
            for c in drafted.columns
        ],
        constraints=[
            DraftConstraintPublic(
                fields=c.fields,
                drawn_from_data=c.drawn,
                rows_breaking=c.rows_breaking,
                rows_compared=c.rows_compared,
            )
            for c in drafted.constraints
        ],
    )


@router.put(
    "/{source_id}/schema",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SourceCreated,
    responses={**ERRORS, **error_responses(409, 422)},
)
def accept_schema(
    source_id: str,
    body: SchemaReview,
    actor: StewardActor,
    db: DatabaseDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
) -> SourceCreated:
    """Accept a reviewed schema. A value drawn from the data that is kept unchanged must
    be listed in `accepted_from_data` (422 otherwise): it becomes public, and who accepted
    it and when goes into the schema (`public_from_data`), onto the certificates of models
    trained on it, and into the audit log. The table is checked against the schema (422
    names columns, never values), then by a worker."""
    source, job = schema_review.accept_schema(
        db,
        store,
        actor,
        source_id,
        columns=body.columns,
        accepted_from_data=body.accepted_from_data,
        constraints=body.constraints,
    )
    dispatcher.submit(job.id, job.kind, job.modality)
    return SourceCreated(id=source.id, state=source.state, check_job_id=job.id)


@router.put(
    "/{source_id}/budget",
    response_model=SourcePublic,
    responses={**ERRORS, **error_responses(409, 422)},
)
def set_budget(
    source_id: str, body: BudgetChange, actor: StewardActor, db: DatabaseDep
) -> SourcePublic:
    """Change the source's cap; 409 below what is already spent or reserved."""
    source = budgets.set_budget(
        db,
        actor,
        source_id,
        epsilon_budget=body.epsilon_budget,
        delta_budget=body.delta_budget,
    )
    return SourcePublic.model_validate(source)
