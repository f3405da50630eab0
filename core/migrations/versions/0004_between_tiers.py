"""Between tiers (v2): where a dispatched case is handled, its claim, what it waits for, and the cards and
late claims the ranking counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The stats' covering index as 0003 made it (written out: a migration must not follow later models).
UNIT_PATH_FILED = ["unit_path", "filed_at", "community", "unit", "status", "outcome", "satisfaction", "responded_at",
                   "sla_breaches", "escalation_count", "urgency"]  # fmt: skip
RANKING = ["claims_due", "claims_overdue", "yellow_cards", "red_cards"]
PATH = sa.String(400).with_variant(sa.String(400, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("cases") as cases:
        cases.add_column(sa.Column("handling_path", PATH, nullable=False, server_default=""))
        cases.add_column(sa.Column("claimed", sa.Boolean(), nullable=False, server_default=sa.true()))
        cases.add_column(sa.Column("claim_deadline", core.tables.UTCDateTime(), nullable=True))
        cases.add_column(sa.Column("waiting", sa.String(length=16), nullable=True))
        cases.add_column(sa.Column("waiting_since", core.tables.UTCDateTime(), nullable=True))
        cases.add_column(sa.Column("waiting_due", core.tables.UTCDateTime(), nullable=True))
        for column in RANKING:
            cases.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))
    # Cases from before were never dispatched: each is handled on its own compound's line, at its tier.
    op.execute(
        "UPDATE cases SET handling_path = CASE tier "
        "WHEN 'compound' THEN unit_path "
        "WHEN 'community' THEN '/' || town || '/' || community || '/' "
        "ELSE '/' || town || '/' END"
    )
    with op.batch_alter_table("cases") as cases:
        cases.create_index("ix_cases_handling_path", ["handling_path"], unique=False)
        cases.create_index("ix_cases_waiting", ["waiting", "handling_path", "waiting_since"], unique=False)
        cases.drop_index("ix_cases_unit_path_filed")
        cases.create_index("ix_cases_unit_path_filed", [*UNIT_PATH_FILED, *RANKING], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases") as cases:
        cases.drop_index("ix_cases_unit_path_filed")
        cases.create_index("ix_cases_unit_path_filed", UNIT_PATH_FILED, unique=False)
        cases.drop_index("ix_cases_waiting")
        cases.drop_index("ix_cases_handling_path")
        for column in [*reversed(RANKING), "waiting_due", "waiting_since", "waiting", "claim_deadline", "claimed",
                       "handling_path"]:  # fmt: skip
            cases.drop_column(column)
