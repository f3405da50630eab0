"""What supervisors ask every morning: what is overdue, what went up and why, how each unit is doing.

All three read the read model only, scoped to the caller's jurisdiction by the materialized path, and
each can be narrowed to the cases of one urgency. A suspended case is never overdue: its clock is stopped
(the workflow clears its deadline meanwhile; the filters say so too, so the rule does not rest on that).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import Caller
from api.pagination import Page, decode_cursor, encode_cursor
from api.services.scope import scope_path, within, within_by_scan
from core.tables import CaseEscalationRecord, CaseRecord, Unit, now_utc
from workflows.model import CaseView, Escalation, SupervisionRecord, Urgency

SATISFIED = ("satisfied", "basically_satisfied")  # 满意 and 基本满意 both count, as the hotlines do


# --- overdue -------------------------------------------------------------------------------------------------


class OverdueCase(BaseModel):
    id: str
    number: str
    title: str
    unit: str
    handling_unit: str
    stage: str
    tier: str
    urgency: Urgency
    deadline: datetime
    deadline_provisional: bool = Field(
        description="counted across a year whose official schedule is not loaded yet (Mon–Fri only)"
    )
    overdue_by: timedelta = Field(description="how long past the deadline (ISO 8601 duration)")
    overdue_by_seconds: int
    flagged: bool = Field(description="the workflow has already marked it overdue at the town")
    escalations: list[Escalation]
    supervision: SupervisionRecord | None = Field(description="督办 in force: grade, since, by; null if none")
    urges: int = Field(description="how many times it has been urged (催办)")


def _late_now(now: datetime) -> list[Any]:
    """Open, past its deadline by the clock, and not suspended: what "overdue now" means everywhere."""
    return [CaseRecord.status == "open", col(CaseRecord.deadline) < now, col(CaseRecord.suspended).is_(False)]


async def overdue(
    db: AsyncSession, caller: Caller, *, unit: str | None, tier: str | None, stage: str | None,
    cursor: str | None, limit: int, urgency: Urgency | None = None,
) -> Page[OverdueCase]:  # fmt: skip
    """Open cases past their deadline (by the clock, not only by the flag), most overdue first."""
    now = now_utc()
    path, _ = await scope_path(db, caller, unit)
    query = select(CaseRecord).where(*_late_now(now))
    if path:
        query = query.where(within_by_scan(CaseRecord.unit_path, path))
    if urgency:
        query = query.where(col(CaseRecord.urgency) == urgency)
    if tier:
        query = query.where(CaseRecord.tier == tier)
    if stage:
        query = query.where(CaseRecord.stage == stage)
    if cursor:
        after, after_id = decode_cursor(cursor, datetime, str)
        query = query.where(
            or_(
                col(CaseRecord.deadline) > after, and_(col(CaseRecord.deadline) == after, col(CaseRecord.id) > after_id)
            )
        )
    rows = (await db.exec(query.order_by(col(CaseRecord.deadline), col(CaseRecord.id)).limit(limit + 1))).all()
    page = [_overdue_item(r, now) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(items=page, next_cursor=encode_cursor(page[-1].deadline.isoformat(), page[-1].id) if more else None)


def _overdue_item(row: CaseRecord, now: datetime) -> OverdueCase:
    view = CaseView.model_validate(row.view)
    assert row.deadline is not None  # the query selects only cases with a deadline
    # Whole seconds: an ISO 8601 duration with a fraction ("PT4.9S") is not one RFC 3339 clients accept.
    late = timedelta(seconds=int((now - row.deadline).total_seconds()))
    return OverdueCase(
        id=row.id, number=row.number, title=row.title, unit=row.unit, handling_unit=row.handling_unit,
        stage=row.stage, tier=row.tier, urgency=Urgency(row.urgency), deadline=row.deadline,
        deadline_provisional=row.deadline_provisional, overdue_by=late,
        overdue_by_seconds=int(late.total_seconds()), flagged=row.overdue, escalations=view.escalations,
        supervision=view.supervision, urges=len(view.urges),
    )  # fmt: skip


# --- escalations ---------------------------------------------------------------------------------------------


class EscalationItem(BaseModel):
    case_id: str
    number: str
    title: str
    unit: str
    from_tier: str
    to_tier: str
    reason: str
    at: datetime
    by: str
    note: str | None
    stage_now: str
    tier_now: str
    status_now: str
    urgency_now: Urgency


async def escalations(
    db: AsyncSession, caller: Caller, *, unit: str | None, since: datetime | None, reason: str | None,
    cursor: str | None, limit: int, urgency: Urgency | None = None,
) -> Page[EscalationItem]:  # fmt: skip
    """Escalations of cases in the jurisdiction, newest first (``urgency``: of cases of that urgency now)."""
    path, _ = await scope_path(db, caller, unit)
    e = CaseEscalationRecord
    now = (CaseRecord.number, CaseRecord.title, CaseRecord.stage, CaseRecord.tier, CaseRecord.status,
           CaseRecord.urgency)  # fmt: skip
    query = select(e, *now).join(CaseRecord, col(CaseRecord.id) == col(e.case_id))  # type: ignore[call-overload]
    if path:
        query = query.where(within(e.unit_path, path))
    if since:
        query = query.where(col(e.at) >= since)
    if reason:
        query = query.where(e.reason == reason)
    if urgency:  # the case's row is joined for every escalation anyway: this costs no extra read
        query = query.where(col(CaseRecord.urgency) == urgency)
    if cursor:
        before, before_id = decode_cursor(cursor, datetime, int)
        query = query.where(or_(col(e.at) < before, and_(col(e.at) == before, col(e.id) < before_id)))
    rows = (await db.exec(query.order_by(col(e.at).desc(), col(e.id).desc()).limit(limit + 1))).all()
    items = [
        EscalationItem(
            case_id=r.case_id,
            number=number,
            title=title,
            unit=r.unit,
            from_tier=r.from_tier,
            to_tier=r.to_tier,
            reason=r.reason,
            at=r.at,
            by=r.by,
            note=r.note,
            stage_now=stage,
            tier_now=tier,
            status_now=status,
            urgency_now=Urgency(urgency_now),
        )  # fmt: skip
        for r, number, title, stage, tier, status, urgency_now in rows[:limit]
    ]
    last = rows[limit - 1][0] if len(rows) > limit else None
    return Page(items=items, next_cursor=encode_cursor(last.at.isoformat(), last.id) if last else None)


# --- stats ---------------------------------------------------------------------------------------------------


class UnitStats(BaseModel):
    """One unit's figures for cases filed in the period (overdue_now: open cases past deadline, any filing date)."""

    unit: str
    name: str
    kind: str
    filed: int = 0
    responded: int = 0
    closed: int = 0
    handled: int = Field(default=0, description="closed, not counting cases merged into another")
    resolved: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    escalations: int = 0
    overdue_now: int = 0
    response_rate: float | None = None
    resolution_rate: float | None = None
    satisfaction_rate: float | None = None
    on_time_rate: float | None = None

    def with_rates(self) -> UnitStats:
        return self.model_copy(
            update={
                "response_rate": rate(self.responded, self.filed),
                "resolution_rate": rate(self.resolved, self.handled),
                "satisfaction_rate": rate(self.satisfied, self.rated),
                "on_time_rate": rate(self.on_time, self.handled),
            }
        )


class StatsReport(BaseModel):
    unit: str | None = Field(description="the scope; null: the whole system")
    urgency: Urgency | None = Field(default=None, description="only the cases of this urgency; null: every case")
    period_from: datetime | None
    period_to: datetime | None
    total: UnitStats
    items: list[UnitStats]


def rate(part: int, whole: int) -> float | None:
    """A rate in [0, 1], rounded to 4 places; None when there is nothing to measure."""
    return round(part / whole, 4) if whole else None


COUNTERS = ("filed", "responded", "closed", "handled", "resolved", "on_time", "rated", "satisfied", "escalations")


def _counter_columns() -> list[Any]:
    closed = col(CaseRecord.status) == "closed"
    handled = and_(closed, or_(col(CaseRecord.outcome).is_(None), col(CaseRecord.outcome) != "merged"))

    def count_if(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    return [
        func.count(),
        count_if(col(CaseRecord.responded_at).is_not(None)),
        count_if(closed),
        count_if(handled),
        count_if(col(CaseRecord.outcome) == "resolved"),
        count_if(and_(handled, col(CaseRecord.sla_breaches) == 0)),
        count_if(and_(closed, col(CaseRecord.satisfaction).is_not(None))),
        count_if(and_(closed, col(CaseRecord.satisfaction).in_(SATISFIED))),
        func.coalesce(func.sum(CaseRecord.escalation_count), 0),
    ]


# The column that names a case's unit one level below each kind of scope.
CHILD_COLUMN = {
    None: CaseRecord.town,
    "town": CaseRecord.community,
    "community": CaseRecord.unit,
    "compound": CaseRecord.unit,
}


async def stats(
    db: AsyncSession, caller: Caller, *, unit: str | None, period_from: datetime | None, period_to: datetime | None,
    urgency: Urgency | None = None,
) -> StatsReport:  # fmt: skip
    """Per unit one level below the scope (a town's communities, a community's compounds), plus the total."""
    path, scope = await scope_path(db, caller, unit)
    group = CHILD_COLUMN[scope.kind if scope else None]
    in_scope = [within(CaseRecord.unit_path, path)] if path else []
    if urgency:  # urgency is in the covering index: the figures still come from the index alone
        in_scope.append(col(CaseRecord.urgency) == urgency)
    filed = [*in_scope]
    if period_from:
        filed.append(col(CaseRecord.filed_at) >= period_from)
    if period_to:
        filed.append(col(CaseRecord.filed_at) < period_to)
    counts = (await db.exec(select(group, *_counter_columns()).where(*filed).group_by(group))).all()
    late = (await db.exec(select(group, func.count()).where(*in_scope, *_late_now(now_utc())).group_by(group))).all()

    children = await _child_units(db, scope)
    by_code = {u.code: UnitStats(unit=u.code, name=u.name, kind=u.kind) for u in children}
    for code, *values in counts:
        row = by_code.setdefault(code, UnitStats(unit=code, name=code, kind="unknown"))
        for field, value in zip(COUNTERS, values, strict=True):
            setattr(row, field, int(value or 0))
    for code, count in late:
        by_code.setdefault(code, UnitStats(unit=code, name=code, kind="unknown")).overdue_now = int(count)

    total = (
        UnitStats(unit=scope.code, name=scope.name, kind=scope.kind)
        if scope
        else UnitStats(unit="*", name="all units", kind="all")
    )
    for row in by_code.values():
        for field in (*COUNTERS, "overdue_now"):
            setattr(total, field, getattr(total, field) + getattr(row, field))
    return StatsReport(
        unit=scope.code if scope else None, urgency=urgency, period_from=period_from, period_to=period_to,
        total=total.with_rates(), items=[r.with_rates() for r in by_code.values()],
    )  # fmt: skip


async def _child_units(db: AsyncSession, scope: Unit | None) -> list[Unit]:
    if scope is None:
        query = select(Unit).where(Unit.kind == "town")
    elif scope.kind == "compound":
        return [scope]
    else:
        query = select(Unit).where(Unit.parent_code == scope.code)
    return list((await db.exec(query.order_by(col(Unit.path)))).all())


def stats_csv(report: StatsReport) -> str:
    """The same figures as a spreadsheet: one line per unit, then the total."""
    import csv
    import io

    fields = ["unit", "name", "kind", *COUNTERS, "overdue_now", "response_rate", "resolution_rate",
              "satisfaction_rate", "on_time_rate"]  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in [*report.items, report.total]:
        writer.writerow({k: ("" if v is None else v) for k, v in row.model_dump(include=set(fields)).items()})
    return out.getvalue()
