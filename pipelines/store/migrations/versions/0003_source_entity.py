"""Sources: an image source's patient-level declaration (issue 25).

``entity`` names where each image's patient id comes from (dicom:KEYWORD, csv:COLUMN or
folder) and ``max_records_per_entity`` caps the images kept per patient; both null on
record-level sources, which every source written before this revision is.

Revision ID: 0003_source_entity
Revises: 0002_audit_outcome
Create Date: 2026-12-05 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_source_entity"
down_revision: str | None = "0002_audit_outcome"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entity", sa.String(length=210), nullable=True))
        batch_op.add_column(sa.Column("max_records_per_entity", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("max_records_per_entity")
        batch_op.drop_column("entity")
