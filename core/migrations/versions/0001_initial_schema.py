"""The initial schema: units, principals, case filings, the case read model, events and escalations.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:10:49.140614
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("community", sa.String(length=64), nullable=False),
        sa.Column("town", sa.String(length=64), nullable=False),
        sa.Column(
            "unit_path",
            sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("from_tier", sa.String(length=16), nullable=False),
        sa.Column("to_tier", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("at", core.tables.UTCDateTime(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "seq"),
    )
    with op.batch_alter_table("case_escalations", schema=None) as batch_op:
        batch_op.create_index("ix_case_escalations_at", ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_escalations_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("at", core.tables.UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=True),
        sa.Column("from_tier", sa.String(length=16), nullable=True),
        sa.Column("to_tier", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "seq"),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_events_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_filings",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("case_id"),
        sa.UniqueConstraint("principal_id", "idempotency_key"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("community", sa.String(length=64), nullable=False),
        sa.Column("town", sa.String(length=64), nullable=False),
        sa.Column(
            "unit_path",
            sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("handling_unit", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("deadline", core.tables.UTCDateTime(), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("satisfaction", sa.String(length=32), nullable=True),
        sa.Column("escalation_count", sa.Integer(), nullable=False),
        sa.Column("sla_breaches", sa.Integer(), nullable=False),
        sa.Column("filed_by", sa.String(length=32), nullable=False),
        sa.Column("filed_at", core.tables.UTCDateTime(), nullable=False),
        sa.Column("responded_at", core.tables.UTCDateTime(), nullable=True),
        sa.Column("closed_at", core.tables.UTCDateTime(), nullable=True),
        sa.Column("updated_at", core.tables.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("view", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_filed_by"), ["filed_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_number"), ["number"], unique=False)
        batch_op.create_index("ix_cases_status_deadline", ["status", "deadline", "id", "unit_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_unit"), ["unit"], unique=False)
        batch_op.create_index(
            "ix_cases_unit_path_filed",
            ["unit_path", "filed_at", "community", "unit", "status", "outcome", "satisfaction", "responded_at",
             "sla_breaches", "escalation_count"],
            unique=False,
        )  # fmt: skip

    op.create_table(
        "units",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(), nullable=True),
        sa.Column(
            "path",
            sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", core.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
        sa.UniqueConstraint("path"),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_units_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "principals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.tables.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", core.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("principals")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_parent_code"))

    op.drop_table("units")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_unit_path_filed")
        batch_op.drop_index(batch_op.f("ix_cases_unit"))
        batch_op.drop_index("ix_cases_status_deadline")
        batch_op.drop_index(batch_op.f("ix_cases_number"))
        batch_op.drop_index(batch_op.f("ix_cases_filed_by"))

    op.drop_table("cases")
    op.drop_table("case_filings")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_events_case_id"))

    op.drop_table("case_events")
    with op.batch_alter_table("case_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_escalations_case_id"))
        batch_op.drop_index("ix_case_escalations_at")

    op.drop_table("case_escalations")
