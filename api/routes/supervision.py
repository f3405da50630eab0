"""Supervision: overdue cases, cases due soon (预警), escalations, what waits on whom, per-unit rates and the
ranking, for supervisors and admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.deps import CurrentCaller, SessionDep, SettingsDep, require_role
from api.errors import error_responses, unprocessable
from api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, QueryTime
from api.services import supervision
from api.services.supervision import (
    DueSoonCase,
    EscalationItem,
    OverdueCase,
    PendingItem,
    PendingKind,
    RankingReport,
    StatsReport,
)
from api.services.units import CODE
from workflows.model import EscalationReason, Role, Stage, Tier, Urgency

router = APIRouter(
    prefix="/v1/supervision",
    tags=["supervision"],
    dependencies=[require_role(Role.SUPERVISOR, Role.ADMIN)],
    responses=error_responses(401, 403, 422),
)

Unit = Annotated[str | None, Query(max_length=64, pattern=CODE, description="narrow to this unit's subtree")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
UrgencyFilter = Annotated[
    Urgency | None, Query(description="only cases of this urgency (紧急程度): emergency, urgent, normal or complex")
]


@router.get("/overdue")
async def read_overdue(
    db: SessionDep, caller: CurrentCaller, unit: Unit = None, tier: Tier | None = None, stage: Stage | None = None,
    urgency: UrgencyFilter = None, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT,
) -> Page[OverdueCase]:  # fmt: skip
    """Open cases past their deadline in the caller's jurisdiction, most overdue first. A suspended case is
    never overdue: its clock is stopped."""
    return await supervision.overdue(
        db, caller, unit=unit, tier=tier, stage=stage, urgency=urgency, cursor=cursor, limit=limit
    )


Within = Annotated[
    str | None,
    Query(max_length=32, description='a duration: "1wd" (working days), "2d", "8h", "30m"; default: the policy\'s '
          "warn_before (one working day when warnings are off)"),
]  # fmt: skip


@router.get("/due-soon")
async def read_due_soon(
    db: SessionDep, caller: CurrentCaller, settings: SettingsDep, within: Within = None, unit: Unit = None,
    tier: Tier | None = None, stage: Stage | None = None, urgency: UrgencyFilter = None, cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DueSoonCase]:  # fmt: skip
    """预警: open cases in the caller's jurisdiction whose deadline falls within `within` from now, soonest first.
    Not overdue ones (see /overdue), nor suspended ones (their clock is stopped)."""
    return await supervision.due_soon(
        db, caller, window=within, policy=settings.sla_policy, unit=unit, tier=tier, stage=stage, urgency=urgency,
        cursor=cursor, limit=limit,
    )  # fmt: skip


@router.get("/escalations")
async def read_escalations(
    db: SessionDep, caller: CurrentCaller, unit: Unit = None, since: QueryTime | None = None,
    reason: EscalationReason | None = None, urgency: UrgencyFilter = None, cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[EscalationItem]:  # fmt: skip
    """What went up a tier, when, why and by whom; newest first. `urgency` is the case's urgency now."""
    return await supervision.escalations(
        db, caller, unit=unit, since=since, reason=reason, urgency=urgency, cursor=cursor, limit=limit
    )


@router.get("/pending")
async def read_pending(
    db: SessionDep, caller: CurrentCaller, unit: Unit = None, kind: PendingKind | None = None, cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PendingItem]:  # fmt: skip
    """What waits on a unit in the caller's jurisdiction: unclaimed cases, returns awaiting a ruling, extension
    requests awaiting a decision; longest waiting first."""
    return await supervision.pending(db, caller, unit=unit, kind=kind, cursor=cursor, limit=limit)


@router.get("/stats", response_model=StatsReport, responses={200: {"content": {"text/csv": {}}}})
async def read_stats(
    db: SessionDep, caller: CurrentCaller, unit: Unit = None,
    period_from: Annotated[QueryTime | None, Query(alias="from")] = None,
    period_to: Annotated[QueryTime | None, Query(alias="to")] = None,
    urgency: UrgencyFilter = None,
    format: Literal["json", "csv"] = "json",
) -> StatsReport | PlainTextResponse:  # fmt: skip
    """Per-unit filed/closed/resolved counts and the four rates (definitions in the README); with `urgency`,
    of the cases of that urgency only."""
    if period_from and period_to and period_from >= period_to:
        raise unprocessable("'from' must be before 'to'")
    report = await supervision.stats(
        db, caller, unit=unit, period_from=period_from, period_to=period_to, urgency=urgency
    )
    if format == "csv":
        return PlainTextResponse(supervision.stats_csv(report), media_type="text/csv; charset=utf-8")
    return report


Period = Annotated[str, Query(max_length=16, description="a month YYYY-MM or a quarter YYYY-Qn (UTC bounds)")]


@router.get("/ranking", response_model=RankingReport, responses={200: {"content": {"text/csv": {}}}})
async def read_ranking(
    db: SessionDep, caller: CurrentCaller, settings: SettingsDep, period: Period, unit: Unit = None,
    format: Literal["json", "csv"] = "json",
) -> RankingReport | PlainTextResponse:  # fmt: skip
    """考核: the units one level below, scored on their rates less penalty points and ranked (formula in the
    README), for the cases filed in the period."""
    report = await supervision.ranking(db, caller, unit=unit, period=period, policy=settings.sla_policy)
    if format == "csv":
        return PlainTextResponse(supervision.ranking_csv(report), media_type="text/csv; charset=utf-8")
    return report
