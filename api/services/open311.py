"""Open311 GeoReport v2 over linli's cases: the services (categories), the requests (cases) and tokens.

What an Open311 client sees of a case is public — GeoReport v2 has no key for reading — so a request is
built field by field, like the public board (api/services/public.py), never by copying the case view: the
title stands in for the description (the description is the reporter's to share, as in ``CasePublic``),
with the case's residents' names and anything like a phone number blanked out; no reporter, co-signer,
objector, note or coordinates. The place is the compound, the community and the town.

Refusals are ``Open311Error`` with the spec's status codes: 404 for what does not exist, 403 for a missing
or bad ``api_key``, 400 for everything else (``from_api_error`` maps linli's own refusals the same way).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.categories import CATEGORIES, Category, category
from api.errors import ApiError
from api.services.public import blanker  # the board's rule for what free text may be published
from api.services.scope import within
from api.services.units import CODE
from core.tables import CaseRecord, Unit
from workflows.clock import DEFAULT_TZ, Duration
from workflows.model import CaseView, Outcome, SlaPolicy, Stage, Tier, Urgency
from workflows.policy import stage_duration

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Sortable; moved on whenever the services (api/categories.py) or their definitions change, so that
# clients know to read them again (Service Discovery's "changeset").
CHANGESET = "2026-12-04T00:00:00+08:00"
FORMATS = {"json": "application/json", "xml": "text/xml"}
WINDOW = timedelta(days=90)  # GET requests: the default span and the widest one may ask for
MAX_REQUESTS = 1000  # the spec's default query limit: 90 days or the first 1000, whichever is smaller

CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN = re.compile(r"[0-9A-Za-z-]{1,32}")
_CODE = re.compile(CODE)
# W3C datetimes, always with a zone (the spec requires one): 2026-11-01T08:00:00+08:00, …Z, no seconds, fractions.
_W3C = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")


class Open311Error(Exception):
    """A refusal in GeoReport v2's terms: the HTTP status, and the ``code`` and ``description`` of its body."""

    def __init__(self, status: int, description: str, *, code: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.code = status, description, code or status
        self.headers: dict[str, str] = {}


def from_api_error(error: ApiError) -> Open311Error:
    """One of linli's refusals (from the filing path it shares with ``POST /v1/cases``) in the spec's terms."""
    detail = error.detail if isinstance(error.detail, str) else "; ".join(map(str, error.detail))
    if error.status in (401, 403):
        return Open311Error(403, detail)
    if error.status == 404:
        return Open311Error(404, detail)
    # The spec's "General Service Error" is a 400 even when the back end is down; the body's code says 503,
    # so that a client can tell "retry later" from "fix the request".
    refusal = Open311Error(400, detail, code=503 if error.status == 503 else None)
    if error.status == 503:
        refusal.headers["Retry-After"] = "5"
    return refusal


def unavailable() -> Open311Error:
    """The read model is down or restarting: nothing was changed, and the client may retry."""
    refusal = Open311Error(400, "the database is unavailable; retry shortly", code=503)
    refusal.headers["Retry-After"] = "5"
    return refusal


def refuse_nul(values: Iterable[str]) -> None:
    """No text with U+0000 goes near the database (PostgreSQL cannot hold it): a 400, not a failed query."""
    if any("\x00" in value for value in values):
        raise Open311Error(400, "text must not contain the NUL character (U+0000)")


async def jurisdiction(db: AsyncSession, jurisdiction_id: str | None) -> Unit | None:
    """The unit a ``jurisdiction_id`` names (any town, community or compound), or None when not given.

    One linli serves many towns, so the spec's optional argument narrows to one of them (or a part of one);
    an unknown one is the spec's 404.
    """
    if not jurisdiction_id:
        return None
    unit = await db.get(Unit, jurisdiction_id) if _CODE.fullmatch(jurisdiction_id) else None
    if unit is None:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id!r} was not found: it is a linli unit's code")
    return unit


# --- discovery and services ------------------------------------------------------------------------------


def discovery(endpoint_url: str) -> dict[str, Any]:
    return {
        "changeset": CHANGESET,
        "contact": "邻里 linli: ask the caseworkers of your compound or community, or this installation's "
        "operator. · Ask your compound's or community's caseworkers, or the operator of this installation.",
        "key_service": "api_key 即邻里令牌：请向小区或社区网格员申请。 · An api_key is a linli token (a resident's "
        "or caseworker's): ask your compound's or community's caseworker, who issues it with `linli token "
        "issue --role resident --unit <compound> --name <name>`. Reading needs no key.",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint_url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": list(FORMATS.values()),
            }
        ],
    }


URGENCY_NAMES = {
    Urgency.EMERGENCY: "紧急 · emergency (danger to life or property)",
    Urgency.URGENT: "加急 · urgent (water, power, gas, heating)",
    Urgency.NORMAL: "一般 · normal",
    Urgency.COMPLEX: "复杂 · complex (several parties or works)",
}
UNIT_WORDS = {"m": ("分钟", "minutes"), "h": ("小时", "hours"), "d": ("天", "days"), "wd": ("个工作日", "working days")}


def services(sla: SlaPolicy) -> list[dict[str, Any]]:
    return [service(c, sla) for c in CATEGORIES]


def service(c: Category, sla: SlaPolicy) -> dict[str, Any]:
    """One category as an Open311 service; the urgency it implies, and the deadlines that follow from it
    under the policy in force, are in the description and the keywords."""
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": f"{c.about}. {_urgency_note(c.urgency, sla)}",
        "metadata": False,  # no attributes to fill in: what, where and who are the spec's own fields
        "type": "realtime",  # a filing answers with its service_request_id at once
        "keywords": ", ".join([*c.keywords, c.urgency.value]),
        "group": c.group,
    }


def _urgency_note(urgency: Urgency, sla: SlaPolicy) -> str:
    review = _duration(stage_duration(sla, Stage.REVIEWING, Tier.COMPOUND, urgency))
    carry_out = _duration(stage_duration(sla, Stage.IMPLEMENTING, Tier.COMPOUND, urgency))
    return (
        f"紧急程度 Urgency: {URGENCY_NAMES[urgency]}. 小区 {review[0]}内审议、{carry_out[0]}内落实 · At the compound "
        f"it is reviewed within {review[1]} and carried out within {carry_out[1]}."
    )


def _duration(duration: Duration) -> tuple[str, str]:
    amount = f"{duration.amount:g}"
    chinese, english = UNIT_WORDS[duration.unit]
    return f"{amount}{chinese}", f"{amount} {english}"


def service_definition(service_code: str) -> dict[str, Any]:
    found = category(service_code)
    if found is None:
        raise Open311Error(404, f"service_code {service_code!r} was not found; see services.json")
    return {"service_code": found.code, "attributes": []}


# --- requests --------------------------------------------------------------------------------------------

STAGE_NOTES = {
    Stage.COLLECTING: "议题征集中，邻居可以附议 · Collecting: neighbours can back the issue",
    Stage.REVIEWING: "审议中 · Under review",
    Stage.DELIBERATING: "协商议事中 · Being deliberated by the parties",
    Stage.ANNOUNCING: "决定公示中，可提出异议 · Decision announced; open to objections",
    Stage.IMPLEMENTING: "落实中 · Being carried out",
    Stage.FOLLOW_UP: "已完成，待回访 · Done; awaiting the follow-up visit",
}
OUTCOME_NOTES = {
    Outcome.RESOLVED: "已解决 · Resolved",
    Outcome.REJECTED: "不予办理，已向居民说明 · Not taken up; the reasons were explained to the resident",
    Outcome.WITHDRAWN: "已撤回 · Withdrawn",
    Outcome.MERGED: "已合并 · Merged into another case",
}
ON_HOLD = "（暂停计时 · on hold）"


def status_notes(view: CaseView) -> str:
    if view.status == "closed":
        note = OUTCOME_NOTES.get(view.outcome, "已办结 · Closed") if view.outcome else "已办结 · Closed"
        return f"{note}: {view.merged_into}" if view.outcome is Outcome.MERGED and view.merged_into else note
    return STAGE_NOTES[view.stage] + (ON_HOLD if view.suspended else "")


@dataclass(frozen=True)
class RequestQuery:
    """GET requests' arguments, read: ``ids`` when given overrides all the others (the spec says so)."""

    ids: list[str] | None = None
    codes: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: list[str] | None = None


def request_query(params: Mapping[str, Sequence[str]], now: datetime) -> RequestQuery:
    """Read GET requests' arguments; an empty one is as if absent ("Optional Arguments" in the spec)."""
    refuse_nul(v for values in params.values() for v in values)
    ids = _list(params, "service_request_id")
    if ids:
        if len(ids) > MAX_REQUESTS:
            raise Open311Error(400, f"service_request_id: at most {MAX_REQUESTS} ids at once")
        return RequestQuery(ids=ids)
    statuses = _list(params, "status")
    if statuses and (wrong := sorted(set(statuses) - {"open", "closed"})):
        raise Open311Error(400, f"status must be open or closed (comma-separated), not {', '.join(wrong)}")
    start, end = window(_one(params, "start_date"), _one(params, "end_date"), now)
    return RequestQuery(codes=_list(params, "service_code"), start=start, end=end, statuses=statuses)


def window(start_date: str | None, end_date: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The span of requested_datetime asked for: the last 90 days by default; 90 days after a start given
    alone, 90 days before an end given alone; never more than 90 days."""
    start = w3c_datetime("start_date", start_date) if start_date else None
    end = w3c_datetime("end_date", end_date) if end_date else None
    try:
        if start is None:
            end = end or now
            start = end - WINDOW
        elif end is None:
            end = start + WINDOW
    except OverflowError:
        raise Open311Error(400, "start_date and end_date must lie between the years 1 and 9999") from None
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > WINDOW:
        raise Open311Error(400, f"start_date and end_date may not span more than {WINDOW.days} days")
    return start, end


def w3c_datetime(name: str, text: str) -> datetime:
    """A W3C datetime with its zone, in UTC. A '+' the client left unencoded arrives as a space: read it so."""
    text = re.sub(r" (\d{2}:\d{2})$", r"+\1", text.strip())
    if not _W3C.fullmatch(text):
        raise Open311Error(
            400, f"{name} must be a W3C datetime with its time zone, e.g. 2026-11-01T00:00:00+08:00 (got {text!r})"
        )
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise Open311Error(400, f"{name} is not a date and time that exists: {text!r}") from None


def _list(params: Mapping[str, Sequence[str]], name: str) -> list[str] | None:
    """A parameter that "can be declared multiple times, comma delimited"."""
    values = [part.strip() for value in params.get(name, ()) for part in value.split(",")]
    return [v for v in values if v] or None


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in params.get(name, ()) if v.strip()]
    if len(values) > 1:
        raise Open311Error(400, f"{name} may be given once")
    return values[0] if values else None


async def list_requests(db: AsyncSession, query: RequestQuery, scope: Unit | None) -> list[dict[str, Any]]:
    """The cases the query asks for, newest first, at most ``MAX_REQUESTS``."""
    select_cases = select(CaseRecord)
    if query.ids:
        select_cases = select_cases.where(col(CaseRecord.id).in_(query.ids))
    else:
        assert query.start is not None and query.end is not None
        filed = col(CaseRecord.filed_at)
        select_cases = select_cases.where(filed >= query.start, filed <= query.end)
        if query.codes:
            select_cases = select_cases.where(col(CaseRecord.category).in_(query.codes))
        if query.statuses:
            select_cases = select_cases.where(col(CaseRecord.status).in_(query.statuses))
    if scope is not None:
        select_cases = select_cases.where(within(CaseRecord.unit_path, scope.path))
    select_cases = select_cases.order_by(col(CaseRecord.filed_at).desc(), col(CaseRecord.id).desc()).limit(MAX_REQUESTS)
    records = list((await db.exec(select_cases)).all())
    units = await _units(db, records)
    return [request_of(r, units) for r in records]


async def read_request(db: AsyncSession, service_request_id: str, scope: Unit | None) -> list[dict[str, Any]]:
    record = await db.get(CaseRecord, service_request_id) if CASE_ID.fullmatch(service_request_id) else None
    if record is None or (scope is not None and not record.unit_path.startswith(scope.path)):
        raise Open311Error(404, f"service_request_id {service_request_id!r} was not found")
    return [request_of(record, await _units(db, [record]))]


async def read_token(db: AsyncSession, token: str, scope: Unit | None) -> list[dict[str, Any]]:
    """A token is a case's number (案件编号, ``2026-000042``): what a resident who filed by phone or in
    person is given, and what the service notice of an Open311 filing names."""
    found = None
    if TOKEN.fullmatch(token):
        found = (await db.exec(select(CaseRecord.id, CaseRecord.unit_path).where(CaseRecord.number == token))).first()
    if found is None or (scope is not None and not found[1].startswith(scope.path)):
        raise Open311Error(404, f"token {token!r} was not found: a token is a case number such as 2026-000042")
    return [{"service_request_id": found[0], "token": token}]


async def _units(db: AsyncSession, records: Sequence[CaseRecord]) -> dict[str, Unit]:
    codes = {code for r in records for code in (r.unit, r.community, r.town, r.handling_unit)}
    if not codes:
        return {}
    return {u.code: u for u in (await db.exec(select(Unit).where(col(Unit.code).in_(codes)))).all()}


def request_of(record: CaseRecord, units: Mapping[str, Unit]) -> dict[str, Any]:
    """One case as a GeoReport v2 service request, in the spec's field order; public facts only."""
    view = CaseView.model_validate(record.view)
    blank = blanker(view)
    town = units.get(record.town)
    zone = time_zone(town)
    known = category(view.category)
    places = [units[code].name if code in units else code for code in (record.unit, record.community, record.town)]
    handling = units.get(view.handling_unit)
    # The read model's columns, which lists filter and sort on, rather than the view's copies of them.
    updated = (record.closed_at or record.updated_at) if record.status == "closed" else record.updated_at
    return {
        "service_request_id": view.id,
        "status": view.status,
        "status_notes": status_notes(view),
        "service_name": known.name if known else blank(view.category),
        "service_code": view.category if known else blank(view.category),
        "description": blank(view.title),
        "agency_responsible": handling.name if handling else view.handling_unit,
        "service_notice": None,
        "requested_datetime": w3c(record.filed_at, zone),
        "updated_datetime": w3c(updated, zone),
        "expected_datetime": w3c(record.deadline, zone) if record.deadline else None,
        "address": ", ".join(places),  # most specific first, as the spec asks
        "address_id": record.unit,
        "zipcode": None,
        "lat": None,  # linli keeps no coordinates of its own; a filer's are private (in the description)
        "long": None,
        "media_url": None,
    }


def w3c(at: datetime, zone: ZoneInfo) -> str:
    """A W3C datetime with the town's offset (``2026-11-20T19:30:00+08:00``)."""
    return at.astimezone(zone).isoformat(timespec="seconds")


def time_zone(town: Unit | None) -> ZoneInfo:
    """The town's time zone, in which every datetime is given (Asia/Shanghai unless the town says)."""
    return _zone(town.tz if town is not None and town.tz else DEFAULT_TZ)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)
