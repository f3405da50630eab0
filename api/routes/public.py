"""The public board (公示栏 / 回音壁): `GET /public/{compound}` (a page) and `GET /public/{compound}.json`.

No token: what is here is what a notice board in the compound's courtyard would show (api/services/public.py
says what that is, and builds it from an allow-list). The page is rendered here, on the server: it needs no
script, so it reads the same on any phone, and the pages' policy (api/headers.py) has nothing to allow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from html import escape
from string import Template
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.errors import error_responses, not_found
from api.routes.pages import STATIC
from api.services.public import (
    CACHE_CONTROL,
    BoardClosedCase,
    BoardDecision,
    PublicBoard,
    board,
    compound_unit,
)
from workflows.clock import DEFAULT_TZ
from workflows.model import Outcome, Satisfaction

router = APIRouter(prefix="/public", tags=["public"])

PAGE = STATIC / "public.html"


def _unknown(compound: str) -> str:
    return f"no compound {compound!r}: the public board is per compound (a unit code such as compound-a1x)"


# Declared before the page's route: "/public/{compound}" would otherwise take "x.json" as a compound's code.
@router.get("/{compound}.json", responses=error_responses(404))
async def public_board_json(db: SessionDep, compound: str, response: Response) -> PublicBoard:
    """The compound's public board: decisions in their objection period, and cases closed in the last 90 days.

    Open to anyone (no token). Titles, decisions and outcomes only: never a resident's name or phone number.
    """
    unit = await compound_unit(db, compound)
    if unit is None:
        raise not_found(_unknown(compound))
    response.headers["Cache-Control"] = CACHE_CONTROL
    return await board(db, unit)


@router.get("/{compound}", response_class=HTMLResponse, include_in_schema=False)
async def public_board_page(db: SessionDep, compound: str) -> HTMLResponse:
    """The board as a page, readable on a phone."""
    if compound.endswith(".json"):  # "/public/.json": the JSON route's, with no code in it
        raise not_found(_unknown(compound.removesuffix(".json")))
    unit = await compound_unit(db, compound)
    if unit is None:
        return HTMLResponse(_not_found_page(compound), status_code=404, headers={"Cache-Control": "no-store"})
    return HTMLResponse(render(await board(db, unit)), headers={"Cache-Control": CACHE_CONTROL})


# --- the page ----------------------------------------------------------------------------------------------


OUTCOMES = {
    Outcome.RESOLVED: "已解决 · Resolved",
    Outcome.REJECTED: "不予办理（已说明）· Not taken up (explained)",
    Outcome.WITHDRAWN: "已撤回 · Withdrawn",
    Outcome.MERGED: "已合并 · Merged into another case",
}
SATISFACTION = {
    Satisfaction.SATISFIED: "满意 · Satisfied",
    Satisfaction.BASICALLY_SATISFIED: "基本满意 · Basically satisfied",
    Satisfaction.UNSATISFIED: "不满意 · Unsatisfied",
}
NO_VISIT = "— 未回访 · No follow-up visit"


@cache
def _template() -> Template:
    return Template(PAGE.read_text(encoding="utf-8"))


def render(b: PublicBoard) -> str:
    zone = _zone(b.time_zone)
    beijing = b.time_zone == DEFAULT_TZ
    place = f"{b.compound.name} · {b.compound.community.name} · {b.compound.town.name}"
    announcing = "\n".join(_decision(d, zone, b.generated_at) for d in b.announcing) or _empty(
        "目前没有公示中的决定。 · No decision is in its objection period."
    )
    closed = "\n".join(_closed(c, zone) for c in b.closed) or _empty(
        f"近 {b.closed_window_days} 天没有办结的议题。 · No case was closed in the last {b.closed_window_days} days."
    )
    return _template().substitute(
        compound=escape(b.compound.name),
        place=escape(place),
        code=escape(b.compound.code),
        announcing_count=len(b.announcing),
        announcing=announcing,
        closed_count=len(b.closed),
        closed=closed,
        window=b.closed_window_days,
        zone="北京时间" if beijing else escape(b.time_zone),
        zone_en="China Standard Time" if beijing else escape(b.time_zone),
        generated=_time(b.generated_at, zone),
    )


def _decision(d: BoardDecision, zone: ZoneInfo, now: datetime) -> str:
    if d.objection_deadline is None:
        deadline = "<dd>暂停计时 · On hold</dd>"
    else:
        deadline = (
            f'<dd class="deadline"><time datetime="{d.objection_deadline.isoformat()}">'
            f"{_time(d.objection_deadline, zone)}</time>{_left(d.objection_deadline - now)}</dd>"
        )
    assignee = f"<dt>责任方 · Carried out by</dt><dd>{escape(d.assignee)}</dd>" if d.assignee else ""
    return f"""    <article class="decision" data-number="{escape(d.number)}">
      <h3><span class="number">{escape(d.number)}</span>{escape(d.title)}</h3>
      <dl>
        <dt>类别 · Category</dt><dd>{escape(d.category)}</dd>
        <dt>决定 · Decision</dt><dd class="decision-text">{escape(d.decision)}</dd>
        {assignee}
        <dt>异议截止 · Objections until</dt>{deadline}
        <dt>已收到异议 · Objections so far</dt><dd>{d.objection_count}</dd>
      </dl>
      <p class="how"><strong>如何提出异议 · How to object</strong>{escape(d.how_to_object)}</p>
    </article>"""


def _closed(c: BoardClosedCase, zone: ZoneInfo) -> str:
    outcome = OUTCOMES.get(c.outcome, "—") if c.outcome else "—"
    outcome_class = f"outcome-{c.outcome.value}" if c.outcome else ""
    satisfaction = SATISFACTION[c.satisfaction] if c.satisfaction else NO_VISIT
    satisfaction_class = f"satisfaction-{c.satisfaction.value}" if c.satisfaction else ""
    return f"""    <article class="closed" data-number="{escape(c.number)}">
      <h3><span class="number">{escape(c.number)}</span>{escape(c.title)}</h3>
      <dl>
        <dt>类别 · Category</dt><dd>{escape(c.category)}</dd>
        <dt>结果 · Outcome</dt><dd class="{outcome_class}">{outcome}</dd>
        <dt>满意度 · Satisfaction</dt><dd class="{satisfaction_class}">{satisfaction}</dd>
        <dt>办结时间 · Closed</dt><dd><time datetime="{c.closed_at.isoformat()}">{_time(c.closed_at, zone)}</time></dd>
      </dl>
    </article>"""


def _empty(text: str) -> str:
    return f'    <p class="empty">{escape(text)}</p>'


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def _time(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _left(remaining: timedelta) -> str:
    if remaining <= timedelta(0):
        return '<span class="left">已截止 · ended</span>'
    hours = int(remaining.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    text = f"还剩 {days} 天 {hours} 小时 · {days} d {hours} h left" if days else f"还剩 {hours} 小时 · {hours} h left"
    return f'<span class="left">{text}</span>'


def _not_found_page(compound: str) -> str:
    return f"""<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>未找到小区 · No such compound</title><link rel="stylesheet" href="/assets/public.css"></head>
<body><header><h1>公示栏 · 回音壁 <span class="en">Public board</span></h1></header>
<main><p class="empty">未找到该小区的公示栏。 · {escape(_unknown(compound))}</p></main></body>
</html>
"""
