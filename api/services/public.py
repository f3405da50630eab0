"""The public board (公示栏 / 回音壁): what a compound's residents may all know, with no token.

Two lists for one compound: the decisions in their objection period (公示中), with how to object, and the
cases closed in the last 90 days with their outcome and the follow-up visit's satisfaction.

Everything on the board is built field by field from an allow-list (the models below), never by copying
the case view: no reporter, co-signer or objector, no phone number, no description, minutes, notes or
comments. The only free text shown is what was written to be published, the title and the decision (and
the category and assignee, short labels); even those have the names of the case's residents and anything
that looks like a phone number blanked out, in case someone wrote them in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.services.units import CODE, get_unit
from core.tables import CaseRecord, Unit, now_utc
from workflows.clock import DEFAULT_TZ
from workflows.model import CaseView, Outcome, Satisfaction, Stage

CLOSED_WINDOW_DAYS = 90
MAX_CLOSED = 200  # the most recent ones; a compound closes far fewer in 90 days
CACHE_CONTROL = "public, max-age=60"

NAME_BLANK = "某某"
PHONE_BLANK = "***"
_CODE = re.compile(CODE)
# Mainland mobiles (with or without +86 and separators), landlines with an area code, and any run of seven
# or more digits: none of them belongs on a notice board.
_PHONES = re.compile(
    r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)"
    r"|(?<!\d)0\d{2,3}[\s-]?\d{7,8}(?!\d)"
    r"|\d{7,}"
)


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoardUnit(Closed):
    code: str
    name: str


class BoardCompound(BoardUnit):
    community: BoardUnit
    town: BoardUnit


class BoardDecision(Closed):
    """A decision in its objection period (公示中)."""

    number: str = Field(description="the case number, to quote when objecting")
    title: str
    category: str
    decision: str
    assignee: str | None = Field(description="who carries the decision out (a unit or role)")
    objection_deadline: datetime | None = Field(description="end of the objection period; null while suspended")
    objection_count: int = Field(description="objections raised so far in this period")
    how_to_object: str = Field(description="how a resident objects, in Chinese and English")


class BoardClosedCase(Closed):
    """A case closed in the last 90 days (回音壁)."""

    number: str
    title: str
    category: str
    outcome: Outcome | None
    satisfaction: Satisfaction | None = Field(description="the follow-up visit's rating; null if none")
    closed_at: datetime


class PublicBoard(Closed):
    compound: BoardCompound
    generated_at: datetime
    time_zone: str = Field(description="the town's time zone, in which the HTML page shows times")
    closed_window_days: int = CLOSED_WINDOW_DAYS
    announcing: list[BoardDecision]
    closed: list[BoardClosedCase]


async def compound_unit(db: AsyncSession, code: str) -> Unit | None:
    """The compound ``code`` names, or None (unknown, malformed, or a community or town)."""
    if not _CODE.fullmatch(code):
        return None
    unit = await get_unit(db, code)
    return unit if unit is not None and unit.kind == "compound" else None


async def board(db: AsyncSession, compound: Unit) -> PublicBoard:
    """The compound's board as of now."""
    town_code, community_code = compound.path.strip("/").split("/")[:2]
    town, community = await get_unit(db, town_code), await get_unit(db, community_code)
    now = now_utc()
    announcing = (
        await db.exec(
            select(CaseRecord)
            .where(CaseRecord.unit == compound.code, CaseRecord.stage == Stage.ANNOUNCING.value)
            .order_by(col(CaseRecord.deadline).asc(), col(CaseRecord.id))
        )
    ).all()
    closed = (
        await db.exec(
            select(CaseRecord)
            .where(
                CaseRecord.unit == compound.code,
                CaseRecord.status == "closed",
                col(CaseRecord.closed_at) >= now - timedelta(days=CLOSED_WINDOW_DAYS),
            )
            .order_by(col(CaseRecord.closed_at).desc(), col(CaseRecord.id).desc())
            .limit(MAX_CLOSED)
        )
    ).all()
    places = BoardCompound(
        code=compound.code,
        name=compound.name,
        community=BoardUnit(code=community_code, name=community.name if community else community_code),
        town=BoardUnit(code=town_code, name=town.name if town else town_code),
    )
    return PublicBoard(
        compound=places,
        generated_at=now,
        time_zone=(town.tz if town else None) or DEFAULT_TZ,
        announcing=[_decision(CaseView.model_validate(r.view), places) for r in announcing],
        closed=[_closed(CaseView.model_validate(r.view), r) for r in closed],
    )


def _decision(view: CaseView, places: BoardCompound) -> BoardDecision:
    blank = blanker(view)
    return BoardDecision(
        number=view.number,
        title=blank(view.title),
        category=blank(view.category),
        decision=blank(view.decision or ""),
        assignee=blank(view.assignee) if view.assignee else None,
        objection_deadline=view.deadline,
        objection_count=len(view.objections),
        how_to_object=how_to_object(view.number, places),
    )


def _closed(view: CaseView, record: CaseRecord) -> BoardClosedCase:
    blank = blanker(view)
    return BoardClosedCase(
        number=view.number,
        title=blank(view.title),
        category=blank(view.category),
        outcome=view.outcome,
        satisfaction=view.satisfaction,
        closed_at=record.closed_at or view.updated_at,
    )


def how_to_object(number: str, places: BoardCompound) -> str:
    return (
        f"在公示期内向{places.community.name}或{places.name}提出异议，请注明案件编号 {number}；"
        f"本小区居民也可在邻里系统中以本人名义提出。"
        f" · To object, tell {places.community.name} or {places.name} within the objection period, "
        f"quoting case number {number}; residents of the compound can also object in linli in their own name."
    )


def blanker(view: CaseView) -> _Blank:
    names = {view.reporter.name, *view.co_signers, *(o.resident for o in view.objections)}
    return _Blank(names, view.reporter.phone)


class _Blank:
    """Blank out the case's residents' names and anything like a phone number in a text to be published."""

    def __init__(self, names: Iterable[str], phone: str | None) -> None:
        # Longest first, so that a name containing another is blanked whole. One-character "names" are
        # left alone: blanking every 王 in a title would garble it, and a lone character names no one.
        self.names = sorted({n.strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True)
        digits = re.sub(r"\D", "", phone or "")
        self.phone = digits if len(digits) >= 4 else None

    def __call__(self, text: str) -> str:
        for name in self.names:
            text = text.replace(name, NAME_BLANK)
        text = _PHONES.sub(PHONE_BLANK, text)
        if self.phone:
            text = text.replace(self.phone, PHONE_BLANK)
        return text
