"""Commands' idempotency keys, so a key reused for a different command is refused (409).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "command_requests",
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("command_requests")
