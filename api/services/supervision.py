"""What supervisors ask every morning: what is overdue, what is due soon, what went up and why, how each unit
is doing.

All of them read the read model only, scoped to the caller's jurisdiction by the materialized path, and
each can be narrowed to the cases of one urgency. A suspended case is never overdue: its clock is stopped
(the workflow clears its deadline meanwhile; the filters say so too, so the rule does not rest on that).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import Caller
from api.errors import unprocessable
from api.pagination import Page, decode_cursor, encode_cursor
from api.services.scope import scope_path, within, within_by_scan
from core.calendar import work_calendar
from core.tables import CaseEscalationRecord, CaseRecord, Unit, now_utc
from workflows.clock import Duration, DurationError, due_after, parse_duration
from workflows.model import WARNINGS_OFF, CaseView, Escalation, ReturnReason, SlaPolicy, SupervisionRecord, Urgency
from workflows.policy import WARNED_STAGES

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
    if stage:
        query = query.where(CaseRecord.stage == stage)
    rows, more = await _by_deadline(db, query, path=path, urgency=urgency, tier=tier, cursor=cursor, limit=limit)
    page = [_overdue_item(r, now) for r in rows]
    return Page(items=page, next_cursor=encode_cursor(page[-1].deadline.isoformat(), page[-1].id) if more else None)


async def _by_deadline(
    db: AsyncSession, query: Any, *, path: str | None, urgency: Urgency | None, tier: str | None, cursor: str | None,
    limit: int,
) -> tuple[list[CaseRecord], bool]:  # fmt: skip
    """``query``'s cases in the scope, soonest deadline first, one page after ``cursor``; and whether more follow.
    The deadline index drives it; the path is checked beside each entry (within_by_scan)."""
    if path:
        query = query.where(within_by_scan(CaseRecord.unit_path, path))
    if urgency:
        query = query.where(col(CaseRecord.urgency) == urgency)
    if tier:
        query = query.where(CaseRecord.tier == tier)
    if cursor:
        after, after_id = decode_cursor(cursor, datetime, str)
        query = query.where(
            or_(
                col(CaseRecord.deadline) > after, and_(col(CaseRecord.deadline) == after, col(CaseRecord.id) > after_id)
            )
        )
    rows = list((await db.exec(query.order_by(col(CaseRecord.deadline), col(CaseRecord.id)).limit(limit + 1))).all())
    return rows[:limit], len(rows) > limit


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


# --- due soon (预警) ------------------------------------------------------------------------------------------


class DueSoonCase(BaseModel):
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
    due_in: timedelta = Field(description="how long until the deadline (ISO 8601 duration)")
    due_in_seconds: int
    supervision: SupervisionRecord | None = Field(description="督办 in force: grade, since, by; null if none")
    urges: int = Field(description="how many times it has been urged (催办)")


def warning_window(window: str | None, policy: SlaPolicy) -> Duration:
    """The window asked for ("1wd", "8h", "2d"); unset: the policy's own warning (one working day when the
    policy warns of nothing). A 422 that says what is wanted for anything else."""
    text = window if window is not None else policy.warn_before
    if window is None and text == WARNINGS_OFF:
        text = "1wd"
    try:
        return parse_duration(text)
    except DurationError as error:
        raise unprocessable(f"within: {error}") from None


async def due_soon(
    db: AsyncSession, caller: Caller, *, window: str | None, policy: SlaPolicy, unit: str | None, tier: str | None,
    stage: str | None, cursor: str | None, limit: int, urgency: Urgency | None = None,
) -> Page[DueSoonCase]:  # fmt: skip
    """Open cases whose deadline falls within the window from now, soonest first: not closed, not suspended
    (the clock is stopped), not overdue; in the stages whose deadlines are work (collecting and announcing
    are windows that end by themselves). The window is counted as deadlines are, on the working days of the
    scope's town (the national ones for a wider scope) and under the policy's scale."""
    span = warning_window(window, policy)
    now = now_utc()
    path, _ = await scope_path(db, caller, unit)
    town = path.split("/")[1] if path else None
    calendar = await work_calendar(db, town, [now.year, now.year + 1])
    until = due_after(now, span, calendar, policy.scale).at
    stages = [s.value for s in WARNED_STAGES if stage is None or s.value == stage]
    query = select(CaseRecord).where(
        CaseRecord.status == "open", col(CaseRecord.deadline) > now, col(CaseRecord.deadline) <= until,
        col(CaseRecord.suspended).is_(False), col(CaseRecord.overdue).is_(False), col(CaseRecord.stage).in_(stages),
    )  # fmt: skip
    rows, more = await _by_deadline(db, query, path=path, urgency=urgency, tier=tier, cursor=cursor, limit=limit)
    page = [_due_soon_item(r, now) for r in rows]
    return Page(items=page, next_cursor=encode_cursor(page[-1].deadline.isoformat(), page[-1].id) if more else None)


def _due_soon_item(row: CaseRecord, now: datetime) -> DueSoonCase:
    view = CaseView.model_validate(row.view)
    assert row.deadline is not None  # the query selects only cases with a deadline
    left = timedelta(seconds=int((row.deadline - now).total_seconds()))  # whole seconds, as overdue_by
    return DueSoonCase(
        id=row.id, number=row.number, title=row.title, unit=row.unit, handling_unit=row.handling_unit,
        stage=row.stage, tier=row.tier, urgency=Urgency(row.urgency), deadline=row.deadline,
        deadline_provisional=row.deadline_provisional, due_in=left, due_in_seconds=int(left.total_seconds()),
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


# --- pending -------------------------------------------------------------------------------------------------

PendingKind = Literal["claim", "return", "extension"]


class PendingCase(BaseModel):
    id: str
    number: str
    title: str
    stage: str
    tier: str
    handling_unit: str
    deadline: datetime | None = Field(description="the stage's deadline; null while suspended")


class ClaimDetail(BaseModel):
    claim_deadline: datetime | None
    overdue: bool = Field(description="the claim deadline has passed")


class ReturnDetail(BaseModel):
    from_unit: str = Field(description="the unit that returned the case")
    reason: ReturnReason
    explanation: str
    at: datetime


class ExtensionDetail(BaseModel):
    days: int
    reason: str
    by: str
    at: datetime


class PendingItem(BaseModel):
    kind: PendingKind
    case: PendingCase
    since: datetime = Field(description="waiting since: arrival at the unit, the return, the request")
    due: datetime | None = Field(
        description="claim: the claim deadline; extension: the case's deadline; return: null (no deadline)"
    )
    detail: ClaimDetail | ReturnDetail | ExtensionDetail


async def pending(
    db: AsyncSession, caller: Caller, *, unit: str | None, kind: PendingKind | None, cursor: str | None, limit: int
) -> Page[PendingItem]:
    """Open cases waiting on a unit in the jurisdiction (a claim, a ruling on a return, a decision on an
    extension), longest waiting first. A case waits where it is handled: a return waits at the unit that sent
    it, which must rule."""
    path, _ = await scope_path(db, caller, unit)
    # The waiting index, (waiting, handling_path, waiting_since), drives it: one range of paths per kind. Spelt
    # "IN (kinds)", not "IS NOT NULL", and without "status = 'open'" (only an open case waits: core/rows.py),
    # since either sends SQLite's planner to another index and through every case in the jurisdiction.
    query = select(CaseRecord).where(col(CaseRecord.waiting).in_([kind] if kind else get_args(PendingKind)))
    if path:
        query = query.where(within(CaseRecord.handling_path, path))
    if cursor:
        after, after_id = decode_cursor(cursor, datetime, str)
        since = col(CaseRecord.waiting_since)
        query = query.where(or_(since > after, and_(since == after, col(CaseRecord.id) > after_id)))
    order = (col(CaseRecord.waiting_since), col(CaseRecord.id))
    rows = (await db.exec(query.order_by(*order).limit(limit + 1))).all()
    now = now_utc()
    page = [_pending_item(r, now) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(items=page, next_cursor=encode_cursor(page[-1].since.isoformat(), page[-1].case.id) if more else None)


def _pending_item(row: CaseRecord, now: datetime) -> PendingItem:
    assert row.waiting_since is not None  # core/rows.py sets it with every waiting
    detail: ClaimDetail | ReturnDetail | ExtensionDetail
    if row.waiting == "claim":
        detail = ClaimDetail(
            claim_deadline=row.claim_deadline, overdue=row.waiting_due is not None and row.waiting_due < now
        )
    elif row.waiting == "return":  # the part of the view that is asked for (not from_path, nor by_id below)
        detail = ReturnDetail.model_validate(row.view["pending_return"])
    else:
        detail = ExtensionDetail.model_validate(row.view["extension_request"])
    case = PendingCase(id=row.id, number=row.number, title=row.title, stage=row.stage, tier=row.tier,
                       handling_unit=row.handling_unit, deadline=row.deadline)  # fmt: skip
    return PendingItem(kind=row.waiting, case=case, since=row.waiting_since, due=row.waiting_due, detail=detail)


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
    counted = await _count_by_child(db, scope, [*in_scope, *_filed_between(period_from, period_to)])
    by_code = {row.unit: row for row, _ in counted}
    late = (await db.exec(select(group, func.count()).where(*in_scope, *_late_now(now_utc())).group_by(group))).all()
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


def _filed_between(period_from: datetime | None, period_to: datetime | None) -> list[Any]:
    """Filed in [period_from, period_to); an open end is no bound."""
    bounds = []
    if period_from:
        bounds.append(col(CaseRecord.filed_at) >= period_from)
    if period_to:
        bounds.append(col(CaseRecord.filed_at) < period_to)
    return bounds


async def _count_by_child(
    db: AsyncSession, scope: Unit | None, where: list[Any], extra: Sequence[Any] = ()
) -> list[tuple[UnitStats, list[int]]]:
    """The stats counters of the cases ``where`` selects, per unit one level below ``scope``, with the values
    of the ``extra`` aggregates beside each: one grouped query. Every child unit has a row (zeros when it has
    no cases), in path order; a code the units table does not know (yet) comes last, as kind "unknown"."""
    group = CHILD_COLUMN[scope.kind if scope else None]
    counts = (await db.exec(select(group, *_counter_columns(), *extra).where(*where).group_by(group))).all()
    by_code = {u.code: (UnitStats(unit=u.code, name=u.name, kind=u.kind), [0] * len(extra))
               for u in await _child_units(db, scope)}  # fmt: skip
    for code, *values in counts:
        row, more = by_code.setdefault(code, (UnitStats(unit=code, name=code, kind="unknown"), [0] * len(extra)))
        for field, value in zip(COUNTERS, values[: len(COUNTERS)], strict=True):
            setattr(row, field, int(value or 0))
        more[:] = [int(value or 0) for value in values[len(COUNTERS) :]]
    return list(by_code.values())


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
    fields = ["unit", "name", "kind", *COUNTERS, "overdue_now", "response_rate", "resolution_rate",
              "satisfaction_rate", "on_time_rate"]  # fmt: skip
    return _csv(fields, [row.model_dump(include=set(fields)) for row in [*report.items, report.total]])


def _csv(fields: list[str], rows: list[dict[str, Any]]) -> str:
    """A header of ``fields``, then a line per row; a null is an empty cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


# --- ranking (考核) ------------------------------------------------------------------------------------------


class UnitRank(BaseModel):
    """One unit's assessment for the cases filed in the period (README: "Ranking (考核)")."""

    unit: str
    name: str
    kind: str
    filed: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    on_time_rate: float | None
    claim_on_time_rate: float | None = Field(description="claims made in time / claims due; null when none was due")
    yellow_cards: int
    red_cards: int
    claims_overdue: int
    penalty_points: float
    score: float = Field(description="Σ weight × rate × 100 / Σ weights − penalty points (a null rate counts 0)")
    rank: int = Field(description="1 = best score; equal scores share a rank (1, 1, 3)")


class RankingReport(BaseModel):
    unit: str | None = Field(description="the scope; null: the whole system")
    period: str = Field(description="YYYY-MM or YYYY-Qn")
    period_from: datetime
    period_to: datetime = Field(description="exclusive: cases filed in [period_from, period_to), UTC")
    weights: dict[str, float]
    penalty_points: dict[str, float]
    items: list[UnitRank]


PERIOD = re.compile(r"(?P<year>[0-9]{4})-(?:(?P<month>[0-9]{2})|Q(?P<quarter>[0-9]))")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` or ``YYYY-Qn`` as [start, end) in UTC; anything else is a 422 that says what is wanted."""
    found = PERIOD.fullmatch(period)
    if found and found["month"] and 1 <= int(found["month"]) <= 12:
        first, months = int(found["month"]), 1
    elif found and found["quarter"] and 1 <= int(found["quarter"]) <= 4:
        first, months = 3 * int(found["quarter"]) - 2, 3
    else:
        raise unprocessable(
            f"period {period!r} is not a month or a quarter: give YYYY-MM (month 01-12) or YYYY-Qn (Q1-Q4), "
            "e.g. 2026-11 or 2026-Q4"
        )
    year = int(found["year"])
    following = first - 1 + months  # the month after the period, counted from January of ``year`` as 0
    try:
        return datetime(year, first, 1, tzinfo=UTC), datetime(year + following // 12, following % 12 + 1, 1, tzinfo=UTC)
    except ValueError:  # year 0000, or the end of 9999
        raise unprocessable(f"period {period!r} is out of range") from None


# What each weight of the policy weighs; a weight of another name counts as a null rate (0).
RATE_OF = {"response": "response_rate", "resolution": "resolution_rate", "satisfaction": "satisfaction_rate",
           "on_time": "on_time_rate", "claim_on_time": "claim_on_time_rate"}  # fmt: skip
RANKING_SUMS = (CaseRecord.claims_due, CaseRecord.claims_overdue, CaseRecord.yellow_cards, CaseRecord.red_cards)


async def ranking(
    db: AsyncSession, caller: Caller, *, unit: str | None, period: str, policy: SlaPolicy
) -> RankingReport:
    """The units one level below the scope, ranked by score for the cases filed in the period."""
    period_from, period_to = period_bounds(period)
    path, scope = await scope_path(db, caller, unit)
    where = [*([within(CaseRecord.unit_path, path)] if path else []), *_filed_between(period_from, period_to)]
    sums = [func.coalesce(func.sum(c), 0) for c in RANKING_SUMS]
    rows = [_unit_rank(row.with_rates(), *more, policy=policy)
            for row, more in await _count_by_child(db, scope, where, sums)]  # fmt: skip
    ranks = competition_ranks([r["score"] for r in rows])
    items = sorted((UnitRank(**r, rank=n) for r, n in zip(rows, ranks, strict=True)), key=lambda r: (r.rank, r.unit))
    return RankingReport(
        unit=scope.code if scope else None, period=period, period_from=period_from, period_to=period_to,
        weights=policy.weights, penalty_points=policy.penalty_points, items=items,
    )  # fmt: skip


def _unit_rank(
    row: UnitStats, claims_due: int, claims_overdue: int, yellow: int, red: int, *, policy: SlaPolicy
) -> dict[str, Any]:
    figures: dict[str, Any] = {
        **row.model_dump(include={"unit", "name", "kind", "filed", "response_rate", "resolution_rate",
                                  "satisfaction_rate", "on_time_rate"}),
        "claim_on_time_rate": rate(claims_due - claims_overdue, claims_due),
        "yellow_cards": yellow, "red_cards": red, "claims_overdue": claims_overdue,
    }  # fmt: skip
    points = policy.penalty_points
    penalty = yellow * points.get("yellow_card", 0) + red * points.get("red_card", 0)
    penalty += claims_overdue * points.get("claim_overdue", 0)
    score = _weighed(figures, policy.weights) - penalty
    return {**figures, "penalty_points": round(penalty, 2), "score": round(score, 2)}


def _weighed(figures: dict[str, Any], weights: dict[str, float]) -> float:
    """Σ weight × rate × 100 / Σ weights, a null rate counting 0. From the rates as published (4 places), so
    that the score can be recomputed from the CSV."""
    total = sum(weights.values())
    if not total:
        return 0.0
    rates = {name: figures.get(RATE_OF.get(name, "")) or 0.0 for name in weights}
    return sum(weight * rates[name] * 100 for name, weight in weights.items()) / total


def competition_ranks(scores: list[float]) -> list[int]:
    """Each score's rank, best (highest) first; equal scores share a rank and the next skips (1, 1, 3)."""
    return [1 + sum(other > score for other in scores) for score in scores]


RANKING_FIELDS = ["unit", "name", "kind", "filed", "response_rate", "resolution_rate", "satisfaction_rate",
                  "on_time_rate", "claim_on_time_rate", "yellow_cards", "red_cards", "claims_overdue",
                  "penalty_points", "score", "rank"]  # fmt: skip


def ranking_csv(report: RankingReport) -> str:
    """The ranking as a spreadsheet: a header, then one line per unit in rank order."""
    return _csv(RANKING_FIELDS, [r.model_dump() for r in report.items])
