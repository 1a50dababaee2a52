"""Audit log: each event's outcome (ok or refused) and the source it concerns.

Refusals (401/403/409/429) are recorded beside the actions that succeeded, and auditors
filter events by outcome and by source. Events written before this revision succeeded;
those on a source get its id.

Revision ID: 0002_audit_outcome
Revises: 0001
Create Date: 2026-12-05 14:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_audit_outcome"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome", sa.String(length=20), server_default="ok", nullable=False)
        )
        batch_op.add_column(sa.Column("source_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_source_id"), ["source_id"], unique=False)
    op.execute(
        "UPDATE audit_events SET source_id = object_id "
        "WHERE object_type = 'source' AND length(object_id) <= 32"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_source_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_outcome"))
        batch_op.drop_column("source_id")
        batch_op.drop_column("outcome")
