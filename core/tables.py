"""The read model and audit log: SQLModel tables, on SQLite (embedded) or PostgreSQL (production).

Everything here can be rebuilt from the Temporal histories except units, tokens and case filings
(the case-number sequence and idempotency keys), which are the API's own records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, String, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC and timezone-aware on the way out, whatever the database stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Materialized paths compare byte by byte ("C" collation on PostgreSQL; SQLite's default is already binary),
# so "this unit and everything under it" is the index range [path, path-with-last-"/"-as-"0").
PathString = String(400).with_variant(String(400, collation="C"), "postgresql")


def path_column(*, index: bool = False) -> Any:
    return Field(sa_column=Column(PathString, nullable=False, index=index))


def now_utc() -> datetime:
    return datetime.now(UTC)


def utc_column(*, nullable: bool = False) -> Any:
    """A UTC timestamp column; a required one defaults to now."""
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(default_factory=now_utc, sa_column=Column(UTCDateTime(), nullable=False))


class Unit(SQLModel, table=True):
    """A town, community or compound. ``path`` is the materialized path ``/town/community/compound/``,
    so "this unit and everything under it" is one indexed prefix match."""

    __tablename__ = "units"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, foreign_key="units.code", index=True)
    path: str = Field(sa_column=Column(PathString, nullable=False, unique=True))
    tz: str | None = Field(default=None, max_length=64)  # a town's time zone (None: Asia/Shanghai)
    created_at: datetime = utc_column()


class CalendarYear(SQLModel, table=True):
    """One year of working days: the national schedule (``town`` is "") or one town's changes on top of it.

    ``holidays`` and ``makeup_workdays`` are lists of ``{"date": "YYYY-MM-DD", "name": …}``. A town's row
    adds closures (holidays) and extra working days to the national year; on a date both name, the town's wins.
    """

    __tablename__ = "calendar_years"

    year: int = Field(primary_key=True)
    town: str = Field(default="", primary_key=True, max_length=64)
    source: str = Field(max_length=200)
    holidays: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    makeup_workdays: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = utc_column()


class Principal(SQLModel, table=True):
    """Who holds a token: a role and a jurisdiction (a unit and its subtree; none means everywhere)."""

    __tablename__ = "principals"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    unit_code: str | None = Field(default=None, foreign_key="units.code")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_column()
    revoked_at: datetime | None = utc_column(nullable=True)


class CaseFiling(SQLModel, table=True):
    """One row per filed case: hands out case numbers and remembers idempotency keys."""

    __tablename__ = "case_filings"
    __table_args__ = (UniqueConstraint("principal_id", "idempotency_key"),)

    number: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=32, unique=True)
    principal_id: str = Field(max_length=32)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str = Field(max_length=64)
    created_at: datetime = utc_column()


class CommandRequest(SQLModel, table=True):
    """A command sent with an Idempotency-Key: what the key was first used for, so reusing it for another
    command is refused rather than answered with the first command's result."""

    __tablename__ = "command_requests"

    principal_id: str = Field(max_length=32, primary_key=True)
    idempotency_key: str = Field(max_length=200, primary_key=True)
    case_id: str = Field(max_length=32)
    action: str = Field(max_length=32)
    request_hash: str = Field(max_length=64)
    created_at: datetime = utc_column()


STATS_COLUMNS = ("community", "unit", "status", "outcome", "satisfaction", "responded_at", "sla_breaches",
                 "escalation_count", "urgency")  # fmt: skip
# What the ranking counts on top of the stats (claims and cards); in the same covering index.
RANKING_COLUMNS = ("claims_due", "claims_overdue", "yellow_cards", "red_cards")


class CaseRecord(SQLModel, table=True):
    """The read model of a case: the columns lists and supervision filter on, plus the whole view."""

    __tablename__ = "cases"
    __table_args__ = (
        # Lists and stats: a jurisdiction's cases (path range) by filing time, carrying every column the
        # stats count, so a town's figures come from the index alone.
        Index("ix_cases_unit_path_filed", "unit_path", "filed_at", *STATS_COLUMNS, *RANKING_COLUMNS),
        # Overdue: open cases in deadline order, most overdue first; the path (and the urgency, for
        # ?urgency=) ride along so the filters are checked inside the index, without visiting the rows
        # that are elsewhere.
        Index("ix_cases_status_deadline", "status", "deadline", "id", "unit_path", "urgency"),
        # Pending: the few cases waiting on someone, by the unit they wait at (only those rows are in it
        # with a value; every other case has NULL and is skipped by "waiting IS NOT NULL").
        Index("ix_cases_waiting", "waiting", "handling_path", "waiting_since"),
    )

    id: str = Field(primary_key=True, max_length=32)
    number: str = Field(max_length=32, index=True)
    unit: str = Field(max_length=64, index=True)
    community: str = Field(max_length=64)
    town: str = Field(max_length=64)
    unit_path: str = path_column()
    handling_unit: str = Field(max_length=64)
    # Where the handling unit is: a dispatched case can be handled outside the compound's own line.
    handling_path: str = path_column(index=True)
    claimed: bool = True
    claim_deadline: datetime | None = utc_column(nullable=True)
    waiting: str | None = Field(default=None, max_length=16)  # claim | return | extension (core/rows.py)
    waiting_since: datetime | None = utc_column(nullable=True)
    waiting_due: datetime | None = utc_column(nullable=True)
    claims_due: int = 0
    claims_overdue: int = 0
    yellow_cards: int = 0
    red_cards: int = 0
    category: str = Field(max_length=100)
    title: str = Field(max_length=300)
    stage: str = Field(max_length=16)
    tier: str = Field(max_length=16)
    status: str = Field(max_length=8)
    outcome: str | None = Field(default=None, max_length=16)
    deadline: datetime | None = utc_column(nullable=True)
    overdue: bool = False
    urgency: str = Field(default="normal", max_length=16)
    suspended: bool = False  # the clock is stopped: never overdue meanwhile
    deadline_provisional: bool = False
    satisfaction: str | None = Field(default=None, max_length=32)
    escalation_count: int = 0
    sla_breaches: int = 0  # escalations for a missed deadline, plus being flagged overdue at the town
    filed_by: str = Field(max_length=32, index=True)
    filed_at: datetime = utc_column()
    responded_at: datetime | None = utc_column(nullable=True)
    closed_at: datetime | None = utc_column(nullable=True)
    updated_at: datetime = utc_column()
    version: int = 0
    view: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class CaseEventRecord(SQLModel, table=True):
    """The audit trail: applied transitions (one per case id + seq) and rejected commands (no seq)."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=32, index=True)
    seq: int | None = None
    at: datetime = utc_column()
    action: str = Field(max_length=32)
    actor_id: str = Field(max_length=32)
    actor_name: str = Field(max_length=200)
    actor_role: str = Field(max_length=16)
    result: str = Field(default="applied", max_length=8)  # applied | rejected
    reason: str | None = None
    from_stage: str | None = Field(default=None, max_length=16)
    to_stage: str | None = Field(default=None, max_length=16)
    from_tier: str | None = Field(default=None, max_length=16)
    to_tier: str | None = Field(default=None, max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    request_id: str | None = Field(default=None, max_length=300)  # the command's update id (idempotency key)


class CaseEscalationRecord(SQLModel, table=True):
    """One row per escalation (a tier change), so supervisors can ask "what went up, and why" directly."""

    __tablename__ = "case_escalations"
    __table_args__ = (UniqueConstraint("case_id", "seq"), Index("ix_case_escalations_at", "at"))

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=32, index=True)
    seq: int
    unit: str = Field(max_length=64)
    community: str = Field(max_length=64)
    town: str = Field(max_length=64)
    unit_path: str = path_column()
    from_tier: str = Field(max_length=16)
    to_tier: str = Field(max_length=16)
    reason: str = Field(max_length=32)
    at: datetime = utc_column()
    by: str = Field(max_length=200)
    note: str | None = None


class WebhookSubscription(SQLModel, table=True):
    """Who is told what: a receiver's URL, the events it wants, and the subtree whose cases it hears of.

    The secret signs each delivery; it is kept to sign with and never shown again after the subscription
    is made. Deleting a subscription deactivates it: its delivery log stays readable.
    """

    __tablename__ = "webhooks"

    id: str = Field(primary_key=True, max_length=32)
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    unit: str | None = Field(default=None, max_length=64)
    unit_path: str = path_column()  # "" for every case in the installation
    secret: str = Field(max_length=200)
    created_by: str = Field(max_length=32)
    created_at: datetime = utc_column()
    active: bool = Field(default=True, index=True)


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one row per (subscription, case event, webhook event), written in the same transaction
    as the case event itself, so an event is never projected without its deliveries or delivered twice
    under two ids. ``body`` is the exact JSON sent (and signed), made once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "case_id", "seq", "event"),
        # The subscription's delivery workflow: what is pending, oldest first.
        Index("ix_webhook_deliveries_pending", "subscription_id", "status", "created_at"),
        # The delivery log, newest first.
        Index("ix_webhook_deliveries_log", "subscription_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    subscription_id: str = Field(max_length=32)
    case_id: str = Field(max_length=32)
    seq: int
    position: int = 0  # order among the webhook events of one case event
    event: str = Field(max_length=32)
    at: datetime = utc_column()  # when the case event happened
    body: str
    status: str = Field(default="pending", max_length=16)  # pending | delivered | gone | failed | cancelled
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = utc_column()
    delivered_at: datetime | None = utc_column(nullable=True)
    # Which fetch of which run of the delivery workflow took it on (activities/webhooks.py, ``fetch``).
    claimed_by: str | None = Field(default=None, max_length=200)


class WebhookAttempt(SQLModel, table=True):
    """One try at a delivery: what the receiver answered (or why there was no answer)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=36, index=True)
    attempt: int
    at: datetime = utc_column()
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int = 0
