"""The privacy-budget ledger (docs/privacy.md#composition).

Each source has a cap (epsilon_budget, delta_budget). A job **reserves** its epsilon and
delta before any worker reads the source, in the same transaction that creates the job;
the transaction refuses the job when the cap would be exceeded. When the job ends
(succeeded, failed or cancelled), its entry is **settled** once, at what was actually
spent. Composition across jobs is basic: epsilons add, deltas add.

What counts against the cap is, per entry, the reservation while it is open and the
actual spend once settled. Sums use ``math.fsum`` over the entries (no running counters
that could drift with rounding).

Why the cap holds under concurrency: ``reserve`` reads the entries and inserts the new
one while holding a lock that every other reservation of the same source also takes.
- SQLite: the caller's session is a *write* session (``Database.session(write=True)``),
  whose transaction starts with ``BEGIN IMMEDIATE`` and so holds the database's write lock
  from its first statement to its commit; ``reserve`` checks that it is.
- PostgreSQL: ``lock_source`` takes a row lock on the source (``SELECT ... FOR UPDATE``);
  a concurrent reservation blocks there until the first commits, and its next statement
  (READ COMMITTED: a fresh snapshot per statement) sees the committed entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipelines import audit
from pipelines.errors import NotFound
from pipelines.store.db import BEGIN_IMMEDIATE
from pipelines.store.models import LedgerEntry, LedgerState, Source, utcnow
from synthgen.errors import PrivacyBudgetExceeded
from synthgen.requests import check_epsilon

if TYPE_CHECKING:
    from pipelines.auth import Actor

# relative slack for float rounding when comparing sums to a cap (1e-9 of the cap)
TOLERANCE = 1e-9


def lock_source(session: Session, source_id: str) -> Source:
    """Load a source holding the lock that serializes its ledger (see the module doc)."""
    bind = session.connection()
    if bind.dialect.name == "sqlite" and not bind.get_execution_options().get(BEGIN_IMMEDIATE):
        raise RuntimeError("ledger changes on SQLite need a write session (BEGIN IMMEDIATE)")
    source = session.scalar(
        select(Source)
        .where(Source.id == source_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if source is None:
        raise NotFound(f"no source {source_id}")
    return source


def _committed(entries: list[LedgerEntry]) -> tuple[float, float]:
    eps = []
    delta = []
    for e in entries:
        if e.state == LedgerState.settled:
            eps.append(e.epsilon_spent or 0.0)
            delta.append(e.delta_spent or 0.0)
        else:
            eps.append(e.epsilon_reserved)
            delta.append(e.delta_reserved)
    return math.fsum(eps), math.fsum(delta)


def _entries(session: Session, source_id: str) -> list[LedgerEntry]:
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.source_id == source_id)
            .order_by(LedgerEntry.id)
            .execution_options(populate_existing=True)
        ).all()
    )


def _within(used: float, cap: float) -> bool:
    return used <= cap * (1 + TOLERANCE)


def reserve(
    session: Session, *, source: Source, job_id: str, epsilon: float, delta: float
) -> LedgerEntry:
    """Reserve (epsilon, delta) of ``source`` for ``job_id``; ``source`` must come from
    ``lock_source`` in this transaction. Raises PrivacyBudgetExceeded (nothing written)."""
    try:  # the rule every request is built with (synthgen.requests), for direct callers
        check_epsilon(epsilon, finite=True)
    except ValueError as exc:
        raise PrivacyBudgetExceeded(f"a job must reserve {exc}") from None
    if not (0 < delta < 1):
        raise PrivacyBudgetExceeded("a job must reserve a delta in (0, 1)")
    used_eps, used_delta = _committed(_entries(session, source.id))
    if not _within(used_eps + epsilon, source.epsilon_budget):
        left = max(0.0, source.epsilon_budget - used_eps)
        raise PrivacyBudgetExceeded(
            f"epsilon {epsilon:g} exceeds what is left of source {source.id}'s budget: "
            f"{used_eps:.6g} of {source.epsilon_budget:g} is spent or reserved, {left:.6g} left"
        )
    if not _within(used_delta + delta, source.delta_budget):
        left = max(0.0, source.delta_budget - used_delta)
        raise PrivacyBudgetExceeded(
            f"delta {delta:g} exceeds what is left of source {source.id}'s delta budget: "
            f"{used_delta:.3g} of {source.delta_budget:.3g} is spent or reserved, {left:.3g} left"
        )
    entry = LedgerEntry(
        source_id=source.id,
        job_id=job_id,
        state=LedgerState.reserved,
        epsilon_reserved=epsilon,
        delta_reserved=delta,
    )
    session.add(entry)
    session.flush()
    return entry


def settle(
    session: Session,
    *,
    job_id: str,
    epsilon_spent: float,
    delta_spent: float,
    note: str,
    actor: Actor,
) -> bool:
    """Record what a job actually spent, and audit it in the same transaction. Idempotent:
    only an open reservation is settled, so a job that is retried, resumed or finished
    twice is never charged twice. Returns whether this call settled the entry."""
    result = session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.job_id == job_id, LedgerEntry.state == LedgerState.reserved)
        .values(
            state=LedgerState.settled,
            epsilon_spent=float(epsilon_spent),
            delta_spent=float(delta_spent),
            note=note,
            settled_at=utcnow(),
        )
    )
    if not getattr(result, "rowcount", 0):
        return False
    source_id = session.scalar(select(LedgerEntry.source_id).where(LedgerEntry.job_id == job_id))
    audit.record(
        session,
        actor,
        "ledger.settle",
        "job",
        job_id,
        {"epsilon_spent": float(epsilon_spent), "delta_spent": float(delta_spent), "note": note},
        source_id=source_id,
    )
    return True


@dataclass
class EntryView:
    job_id: str
    state: str
    epsilon_reserved: float
    delta_reserved: float
    epsilon_spent: float | None
    delta_spent: float | None
    note: str | None
    created_at: datetime
    settled_at: datetime | None


@dataclass
class LedgerView:
    source_id: str
    epsilon_budget: float
    delta_budget: float
    epsilon_spent: float  # settled entries: what was actually spent
    delta_spent: float
    epsilon_reserved: float  # open reservations (jobs still queued or running)
    delta_reserved: float
    epsilon_remaining: float
    delta_remaining: float
    composition: str = "basic (epsilons add, deltas add)"
    entries: list[EntryView] = field(default_factory=list)


def view(session: Session, source: Source) -> LedgerView:
    entries = _entries(session, source.id)
    settled = [e for e in entries if e.state == LedgerState.settled]
    open_ = [e for e in entries if e.state == LedgerState.reserved]
    spent_eps = math.fsum(e.epsilon_spent or 0.0 for e in settled)
    spent_delta = math.fsum(e.delta_spent or 0.0 for e in settled)
    res_eps = math.fsum(e.epsilon_reserved for e in open_)
    res_delta = math.fsum(e.delta_reserved for e in open_)
    return LedgerView(
        source_id=source.id,
        epsilon_budget=source.epsilon_budget,
        delta_budget=source.delta_budget,
        epsilon_spent=spent_eps,
        delta_spent=spent_delta,
        epsilon_reserved=res_eps,
        delta_reserved=res_delta,
        epsilon_remaining=max(0.0, source.epsilon_budget - spent_eps - res_eps),
        delta_remaining=max(0.0, source.delta_budget - spent_delta - res_delta),
        entries=[
            EntryView(
                job_id=e.job_id,
                state=e.state,
                epsilon_reserved=e.epsilon_reserved,
                delta_reserved=e.delta_reserved,
                epsilon_spent=e.epsilon_spent,
                delta_spent=e.delta_spent,
                note=e.note,
                created_at=e.created_at,
                settled_at=e.settled_at,
            )
            for e in entries
        ],
    )
