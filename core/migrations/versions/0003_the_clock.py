"""The clock (v2): the working-day calendar, a town's time zone, and each case's urgency and suspension.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The two supervision indexes as 0001 made them (written out: a migration must not follow later models).
UNIT_PATH_FILED = ["unit_path", "filed_at", "community", "unit", "status", "outcome", "satisfaction", "responded_at",
                   "sla_breaches", "escalation_count"]  # fmt: skip
STATUS_DEADLINE = ["status", "deadline", "id", "unit_path"]


def upgrade() -> None:
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("town", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("makeup_workdays", sa.JSON(), nullable=False),
        sa.Column("updated_at", core.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("year", "town"),
    )
    with op.batch_alter_table("units") as units:
        units.add_column(sa.Column("tz", sa.String(length=64), nullable=True))
    with op.batch_alter_table("cases") as cases:
        # Cases filed before v2 are all of normal urgency and none is suspended.
        cases.add_column(sa.Column("urgency", sa.String(length=16), nullable=False, server_default="normal"))
        cases.add_column(sa.Column("suspended", sa.Boolean(), nullable=False, server_default=sa.false()))
        cases.add_column(sa.Column("deadline_provisional", sa.Boolean(), nullable=False, server_default=sa.false()))
        # Supervision filters on urgency: the stats' covering index and the overdue index carry it too.
        cases.drop_index("ix_cases_unit_path_filed")
        cases.create_index("ix_cases_unit_path_filed", [*UNIT_PATH_FILED, "urgency"], unique=False)
        cases.drop_index("ix_cases_status_deadline")
        cases.create_index("ix_cases_status_deadline", [*STATUS_DEADLINE, "urgency"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases") as cases:
        cases.drop_index("ix_cases_status_deadline")
        cases.create_index("ix_cases_status_deadline", STATUS_DEADLINE, unique=False)
        cases.drop_index("ix_cases_unit_path_filed")
        cases.create_index("ix_cases_unit_path_filed", UNIT_PATH_FILED, unique=False)
        for column in ("deadline_provisional", "suspended", "urgency"):
            cases.drop_column(column)
    with op.batch_alter_table("units") as units:
        units.drop_column("tz")
    op.drop_table("calendar_years")
