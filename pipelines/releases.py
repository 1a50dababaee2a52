"""Releases: who sees which, approval, and the files behind downloads.

- Stewards see the releases of their own sources, read their reports, and approve or
  reject them (the approver is recorded).
- Auditors see every release and every report (read-only).
- ML engineers see approved releases only; an unapproved one does not exist for them
  (404). They never get a report: reports are computed on real data.
- A release whose model is not differentially private can never be approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines import audit
from pipelines.artifacts import ArtifactStore
from pipelines.auth import Actor
from pipelines.errors import Conflict, Forbidden, InvalidRequest, NotFound
from pipelines.specs import FILE_SUFFIXES, MEDIA_TYPES, OUTPUT_FORMATS
from pipelines.store.db import Database
from pipelines.store.models import Release, ReleaseState, Role, Source, utcnow

REPORT_MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
}
READERS = (Role.steward, Role.auditor, Role.ml_engineer)


def _visible(session: Session, actor: Actor, release: Release) -> bool:
    if actor.role == Role.auditor:
        return True
    if actor.role == Role.ml_engineer:
        return release.state == ReleaseState.approved and release.private
    if actor.role == Role.steward:
        owner = session.scalar(select(Source.owner_id).where(Source.id == release.source_id))
        return owner == actor.id
    return False


def get_release(session: Session, actor: Actor, release_id: str) -> Release:
    if actor.role not in READERS:
        raise Forbidden("your role has no access to releases")
    release = session.get(Release, release_id)
    if release is None or not _visible(session, actor, release):
        raise NotFound(f"no release {release_id}")
    return release


def list_releases(
    session: Session,
    actor: Actor,
    *,
    state: str | None,
    source_id: str | None,
    limit: int,
    offset: int,
) -> list[Release]:
    if actor.role not in READERS:
        raise Forbidden("your role has no access to releases")
    stmt = select(Release).order_by(Release.created_at.desc(), Release.id)
    if actor.role == Role.ml_engineer:
        stmt = stmt.where(Release.state == ReleaseState.approved, Release.private.is_(True))
    elif actor.role == Role.steward:
        stmt = stmt.where(
            Release.source_id.in_(select(Source.id).where(Source.owner_id == actor.id))
        )
    if state:
        stmt = stmt.where(Release.state == state)
    if source_id:
        stmt = stmt.where(Release.source_id == source_id)
    return list(session.scalars(stmt.limit(limit).offset(offset)).all())


def decide(
    db: Database, actor: Actor, release_id: str, *, approve: bool, reason: str | None
) -> Release:
    if actor.role != Role.steward:
        raise Forbidden("only data stewards approve or reject releases")
    with db.transaction(write=True) as session:
        release = session.scalar(select(Release).where(Release.id == release_id).with_for_update())
        if release is None or not _visible(session, actor, release):
            raise NotFound(f"no release {release_id}")
        if release.state != ReleaseState.pending:
            raise Conflict(f"release {release_id} is already {release.state}")
        if approve and not release.private:
            raise Conflict(
                f"release {release_id} comes from a model that is not differentially private; "
                "it can never be released to ML engineers"
            )
        release.state = ReleaseState.approved if approve else ReleaseState.rejected
        release.decided_by = actor.id
        release.decided_at = utcnow()
        release.decision_reason = reason
        audit.record(
            session,
            actor,
            "release.approve" if approve else "release.reject",
            "release",
            release.id,
            {"reason": reason, "verdict": release.verdict},
            source_id=release.source_id,
        )
    return release


@dataclass(frozen=True)
class Download:
    path: Path
    media_type: str
    filename: str


def data_file(
    db: Database, store: ArtifactStore, actor: Actor, release_id: str, fmt: str | None
) -> Download:
    with db.transaction(write=True) as session:
        release = get_release(session, actor, release_id)
        fmt = fmt or OUTPUT_FORMATS[release.modality][0]
        if fmt not in release.files:
            raise InvalidRequest(
                f"format {fmt!r} is not available; choose one of {', '.join(sorted(release.files))}"
            )
        audit.record(
            session,
            actor,
            "release.download",
            "release",
            release.id,
            {"format": fmt},
            source_id=release.source_id,
        )
    return Download(
        path=store.resolve(release.files[fmt]["ref"]),
        media_type=MEDIA_TYPES[fmt],
        filename=f"synthetic-{release.id}{FILE_SUFFIXES[fmt]}",
    )


def report_file(
    db: Database, store: ArtifactStore, actor: Actor, release_id: str, fmt: str
) -> Download:
    if actor.role not in (Role.steward, Role.auditor):
        raise Forbidden("reports are computed on real data: stewards and auditors only")
    with db.transaction(write=True) as session:
        release = get_release(session, actor, release_id)
        if not release.report:
            where = f"; see release {release.parent_id}" if release.parent_id else ""
            raise NotFound(f"release {release_id} has no report of its own{where}")
        if fmt not in release.report:
            raise NotFound(f"release {release_id} has no {fmt.upper()} report")
        audit.record(
            session,
            actor,
            "report.read",
            "release",
            release.id,
            {"format": fmt},
            source_id=release.source_id,
        )
    return Download(
        path=store.resolve(release.report[fmt]["ref"]),
        media_type=REPORT_MEDIA_TYPES[fmt],
        filename=f"report-{release.id}.{fmt}",
    )
