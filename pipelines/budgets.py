"""Changing a source's budget cap.

The cap may be raised or lowered by the source's steward, but never below what its
ledger has already committed (spent plus reserved): a cap below that would claim a
guarantee the released data no longer has. The change takes the same lock as a
reservation (``ledger.lock_source``), so it cannot race a job that is being reserved.
Raising a cap is a policy decision that weakens the source's total guarantee, so every
change is in the audit log with the old and new caps.
"""

from __future__ import annotations

import math

from pipelines import audit, ledger
from pipelines.auth import Actor
from pipelines.errors import Conflict, Forbidden, InvalidRequest, NotFound
from pipelines.store.db import Database
from pipelines.store.models import Role, Source


def set_budget(
    db: Database,
    actor: Actor,
    source_id: str,
    *,
    epsilon_budget: float,
    delta_budget: float | None = None,
) -> Source:
    if actor.role != Role.steward:
        raise Forbidden("only data stewards change a source's budget")
    if not (math.isfinite(epsilon_budget) and epsilon_budget > 0):
        raise InvalidRequest("epsilon_budget must be a finite number greater than 0")
    with db.transaction(write=True) as session:
        source = ledger.lock_source(session, source_id)
        if source.owner_id != actor.id:
            raise NotFound(f"no source {source_id}")
        new_delta = source.delta_budget if delta_budget is None else delta_budget
        if not 0 < new_delta < 1.0 / max(source.n_records, 1):
            raise InvalidRequest(
                f"delta_budget must be in (0, 1/N) = (0, {1.0 / source.n_records:.3g}) "
                "for this source"
            )
        current = ledger.view(session, source)
        used_eps = current.epsilon_spent + current.epsilon_reserved
        used_delta = current.delta_spent + current.delta_reserved
        if epsilon_budget < used_eps * (1 - ledger.TOLERANCE):
            raise Conflict(
                f"epsilon {used_eps:.6g} is already spent or reserved on source {source_id}; "
                "the cap cannot be lower"
            )
        if new_delta < used_delta * (1 - ledger.TOLERANCE):
            raise Conflict(
                f"delta {used_delta:.3g} is already spent or reserved on source {source_id}; "
                "the cap cannot be lower"
            )
        old = (source.epsilon_budget, source.delta_budget)
        source.epsilon_budget, source.delta_budget = epsilon_budget, new_delta
        audit.record(
            session,
            actor,
            "source.budget",
            "source",
            source.id,
            {
                "epsilon_budget": epsilon_budget,
                "delta_budget": new_delta,
                "previous_epsilon_budget": old[0],
                "previous_delta_budget": old[1],
            },
            source_id=source.id,
        )
    return source
