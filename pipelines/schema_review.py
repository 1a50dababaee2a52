"""A steward's review of a table's schema: the draft read from the data, and its acceptance.

A source uploaded without a schema trains on column kinds only, and every bound and
category is estimated with DP. A steward who knows public bounds (clinical limits,
instrument ranges, the category list of a coding system) declares them here, so that no
budget is spent on them.

The draft is computed from the records, so each bound, category list and "has nulls" flag
in it is a value drawn from the data (docs/privacy.md section 2: a draft is only for the
steward to review). Such a value is public once accepted, because the schema is public
metadata: the certificate and the samples may reveal it. So acceptance is explicit and
recorded: ``accept_schema`` refuses a schema that carries a drawn value unchanged unless
the steward names it in ``accepted_from_data``, and writes who accepted which values, and
when, into the schema (``public_from_data``, which training copies onto the certificate's
``assumptions``) and the audit log. The draft itself never leaves the
steward and auditors: it is private.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import audit, ledger
from pipelines.artifacts import ArtifactStore
from pipelines.auth import Actor
from pipelines.errors import Conflict, Forbidden, InvalidRequest
from pipelines.sources import get_source, queue_source_check
from pipelines.store.db import Database
from pipelines.store.models import Job, Role, Source, SourceState, utcnow
from synthgen.errors import SchemaError

# the fields of a column whose drafted value is read from the records
DRAWN_FIELDS = ("min", "max", "categories", "nullable")


@dataclass(frozen=True)
class DraftColumn:
    """One drafted column: its fields, and which of them were drawn from the data."""

    fields: dict[str, Any]
    drawn: tuple[str, ...]


@dataclass(frozen=True)
class DraftConstraint:
    """A constraint the draft found in the records (synthgen.tabular.draft_constraints):
    drawn from the data as a whole, so accepting it unchanged names ``drawn``."""

    fields: dict[str, Any]  # as a schema file writes it
    drawn: str  # "constraint: <rule>", the name accepted_from_data takes
    rows_breaking: int  # private, like the whole draft: for the steward's review
    rows_compared: int


@dataclass(frozen=True)
class Draft:
    source_id: str
    columns: list[DraftColumn]
    accepted: bool  # a reviewed schema is in force already
    constraints: list[DraftConstraint] = dataclasses.field(default_factory=list)


def _read(store: ArtifactStore, source: Source) -> Any:
    from synthgen.tabular.io import read_table
    from synthgen.tabular.schema import DEFAULT_NA_VALUES

    if not source.data_ref:
        raise Conflict(f"source {source.id} has no data (it was rejected)")
    return read_table(store.resolve(source.data_ref), na_values=DEFAULT_NA_VALUES)


def draft(session: Any, store: ArtifactStore, actor: Actor, source_id: str) -> Draft:
    """The schema drafted from the source's records (stewards: their own; auditors)."""
    from synthgen.tabular.draft import draft_schema
    from synthgen.tabular.draft_constraints import propose_constraints

    source = get_source(session, actor, source_id)
    if source.modality != "tabular":
        raise InvalidRequest("only tables have a schema")
    if source.schema_ref:
        from synthgen.tabular.schema import Schema

        schema = Schema.load(store.resolve(source.schema_ref))
        columns = [DraftColumn(fields=c.to_dict(), drawn=()) for c in schema.columns]
        kept = [DraftConstraint(c.to_dict(), "", 0, 0) for c in schema.constraints]
        return Draft(source_id=source.id, columns=columns, accepted=True, constraints=kept)
    table = _read(store, source)
    drafted = draft_schema(table, target=source.target)
    columns = []
    for column in drafted.columns:
        fields = column.to_dict()
        drawn = tuple(f for f in DRAWN_FIELDS if f in fields)
        columns.append(DraftColumn(fields=fields, drawn=drawn))
    proposals = [
        DraftConstraint(
            fields=p.constraint.to_dict(),
            drawn=f"constraint: {p.constraint.describe()}",
            rows_breaking=p.rows_breaking,
            rows_compared=p.rows_compared,
        )
        for p in propose_constraints(table, drafted)
    ]
    return Draft(source_id=source.id, columns=columns, accepted=False, constraints=proposals)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return [str(x) for x in a] == [str(x) for x in b]
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=0)
    return bool(a == b)


def unaccepted_drawn_values(
    proposed: list[dict[str, Any]], drafted: list[DraftColumn], accepted: set[str]
) -> list[str]:
    """``column.field`` names whose proposed value is the drafted (data-drawn) value and
    that the steward did not accept. A value the steward edited is theirs: public."""
    by_name = {c.fields["name"]: c for c in drafted}
    left = []
    for column in proposed:
        draft_column = by_name.get(column.get("name"))
        if draft_column is None:
            continue
        for field in draft_column.drawn:
            if field not in column:
                continue  # left out: estimated with DP at training
            name = f"{column['name']}.{field}"
            if _same(column[field], draft_column.fields[field]) and name not in accepted:
                left.append(name)
    return left


def accept_schema(
    db: Database,
    store: ArtifactStore,
    actor: Actor,
    source_id: str,
    *,
    columns: list[dict[str, Any]],
    accepted_from_data: list[str],
    constraints: list[dict[str, Any]] | None = None,
) -> tuple[Source, Job]:
    """Make a reviewed schema the source's schema; the source is checked again by a
    worker (the same expectation suite as an upload with a schema). Returns the source
    and its check job."""
    from synthgen.tabular.conform import conform
    from synthgen.tabular.constraint_parsing import parse_constraints
    from synthgen.tabular.schema import Schema

    if actor.role != Role.steward:
        raise Forbidden("only data stewards accept a source's schema")
    if not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns):
        raise InvalidRequest("every column is a mapping with a 'name' string")
    with db.session() as session:
        drafted = draft(session, store, actor, source_id)
        source = get_source(session, actor, source_id)
        target = source.target
    if drafted.accepted:
        raise Conflict(f"source {source_id} has a reviewed schema already")
    accepted = set(accepted_from_data)
    known = {f"{c.fields['name']}.{f}" for c in drafted.columns for f in c.drawn}
    known |= {c.drawn for c in drafted.constraints}
    unknown = sorted(accepted - known)
    if unknown:
        raise InvalidRequest(f"not values drawn from the data: {', '.join(unknown[:10])}")
    rules = [c.to_dict() for c in parse_constraints(constraints or [], "the reviewed schema")]
    drafted_rules = [c for c in drafted.constraints if c.fields in rules]
    left = unaccepted_drawn_values(columns, drafted.columns, accepted)
    left += [c.drawn for c in drafted_rules if c.drawn not in accepted]
    if left:
        raise InvalidRequest(
            "these values were drawn from the data; accepting them makes them public. Accept "
            f"or edit each of them: {', '.join(left[:20])}"
        )
    when = utcnow()
    kept = sorted(n for n in accepted if _kept(columns, n, drafted.columns))
    kept += [c.drawn for c in drafted_rules if c.drawn in accepted]
    public_from_data = (
        [{"values": kept, "by": actor.name, "at": when.isoformat(timespec="seconds")}]
        if kept
        else []
    )
    try:
        schema = Schema.from_dict(
            {
                "version": 1,
                "draft": False,
                "columns": columns,
                "public_from_data": public_from_data,
                "constraints": rules,
            },
            source="the reviewed schema",
        )
        if target:
            schema = schema.with_target(target)
    except SchemaError:
        raise
    except ValueError as exc:
        raise InvalidRequest(str(exc).split("\n")[0]) from None
    with db.session() as session:
        source = get_source(session, actor, source_id)
        conform(_read(store, source), schema)  # SchemaMismatch (422) names columns, no values
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "schema.yaml"
        schema.save(path)
        blob, _new = store.private_blobs.put(path, suffix=".yaml")
    with db.transaction(write=True) as session:
        source = ledger.lock_source(session, source_id)
        if source.schema_ref:
            raise Conflict(f"source {source_id} has a reviewed schema already")
        source.schema_ref, source.schema_sha256 = blob.ref, blob.sha256
        source.state = SourceState.validating
        job = queue_source_check(session, source, actor)
        audit.record(
            session,
            actor,
            "schema.accept",
            "source",
            source.id,
            {"schema_sha256": blob.sha256, "accepted_from_data": kept, "at": when.isoformat()},
            source_id=source.id,
        )
    return source, job


def _kept(columns: list[dict[str, Any]], name: str, drafted: list[DraftColumn]) -> bool:
    """Whether the accepted value ``column.field`` is still in the schema unchanged."""
    column_name, _, field = name.rpartition(".")
    proposed = next((c for c in columns if c.get("name") == column_name), None)
    original = next((c for c in drafted if c.fields["name"] == column_name), None)
    if proposed is None or original is None or field not in proposed:
        return False
    return _same(proposed[field], original.fields[field])
