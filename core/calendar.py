"""The working-day calendar in the database: the national schedule, each town's changes, and what a case counts on.

``calendar_years`` holds two layers per year. The national schedule (``town`` ""), seeded from the
``chinesecalendar`` package or loaded by an admin when the State Council publishes a year; and a town's
own changes (a closure, an extra working day), laid over it when a town's year is read: a town holiday is
added to the holidays and taken off the make-up days, a town working day the other way round.

A year is *complete* when its national schedule is loaded; a year that is not counts Monday to Friday
(with the town's changes, if it has any), and deadlines counted across it are provisional.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import and_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.calendar_seed import SOURCE, national_years
from core.db import upsert
from core.logging import get_logger
from core.tables import CalendarYear, Unit, now_utc
from workflows.clock import DEFAULT_TZ, DEFAULT_UTC_OFFSET_MINUTES, WorkCalendar, YearSchedule
from workflows.model import Strict

log = get_logger("linli.calendar")

FIRST_YEAR, LAST_YEAR = 1900, 2200  # the years a schedule may be loaded for
NATIONAL = ""  # ``calendar_years.town`` of the national schedule


class CalendarError(ValueError):
    """A year that cannot be written or read as asked (an HTTP 422, a CLI error)."""


class CalendarDay(BaseModel):
    date: date
    name: str = Field(default="", max_length=100, description="what the day is, e.g. 春节 or 停水检修")


class CalendarChange(Strict):
    """One year of one layer: the national schedule, or one town's changes on top of it."""

    source: str = Field(min_length=1, max_length=200, description="where it comes from, e.g. 国办发明电〔2026〕7号")
    holidays: list[CalendarDay] = Field(default=[], max_length=366, description="days off (a weekday or not)")
    makeup_workdays: list[CalendarDay] = Field(
        default=[], max_length=366, description="working days that would otherwise be off (调休上班)"
    )

    @model_validator(mode="after")
    def _no_nul(self) -> CalendarChange:
        # PostgreSQL's text cannot hold U+0000: refused here rather than failing on its way into the table.
        if any("\x00" in text for text in (self.source, *(d.name for d in (*self.holidays, *self.makeup_workdays)))):
            raise ValueError("text must not contain the NUL character (U+0000)")
        return self

    def checked(self, year: int) -> CalendarChange:
        """This change as a year's: each date inside ``year``, listed once, never both kinds; sorted by date."""
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise CalendarError(f"{year}: a year from {FIRST_YEAR} to {LAST_YEAR}")
        problems = []
        for kind, days in (("holidays", self.holidays), ("make-up working days", self.makeup_workdays)):
            problems += [f"{d.date} is not in {year}" for d in days if d.date.year != year]
            seen: set[date] = set()
            for day in days:
                if day.date in seen:
                    problems.append(f"{day.date} is listed twice among the {kind}")
                seen.add(day.date)
        both = sorted({d.date for d in self.holidays} & {d.date for d in self.makeup_workdays})
        problems += [f"{d} is both a holiday and a make-up working day" for d in both]
        if problems:
            raise CalendarError(f"{year}: " + "; ".join(problems))
        return self.model_copy(
            update={"holidays": _sorted(self.holidays), "makeup_workdays": _sorted(self.makeup_workdays)}
        )


class YearCalendar(BaseModel):
    """A year as a town counts it (or the national schedule alone, ``town`` null)."""

    year: int
    town: str | None = Field(description="the town whose changes are laid over the national schedule; null: none")
    complete: bool = Field(description="the official schedule is loaded; false: Monday–Friday (deadlines provisional)")
    source: str | None = Field(description="where the national schedule and the town's changes come from")
    holidays: list[CalendarDay]
    makeup_workdays: list[CalendarDay]

    def schedule(self) -> YearSchedule:
        return YearSchedule(
            year=self.year,
            complete=self.complete,
            holidays=[d.date for d in self.holidays],
            makeup_workdays=[d.date for d in self.makeup_workdays],
        )


def _sorted(days: Iterable[CalendarDay]) -> list[CalendarDay]:
    return sorted(days, key=lambda d: d.date)


def _days(entries: list[dict[str, str]]) -> dict[date, str]:
    return {date.fromisoformat(e["date"]): e.get("name", "") for e in entries}


def _entries(days: list[CalendarDay]) -> list[dict[str, str]]:
    return [{"date": d.date.isoformat(), "name": d.name} for d in days]


def merged(year: int, town: str | None, national: CalendarYear | None, local: CalendarYear | None) -> YearCalendar:
    """The national year with the town's changes laid over it."""
    holidays = _days(national.holidays) if national else {}
    makeup = _days(national.makeup_workdays) if national else {}
    if local is not None:
        for day, name in _days(local.holidays).items():
            holidays[day] = name
            makeup.pop(day, None)
        for day, name in _days(local.makeup_workdays).items():
            makeup[day] = name
            holidays.pop(day, None)
    sources = [row.source for row in (national, local) if row is not None]
    return YearCalendar(
        year=year,
        town=town,
        complete=national is not None,
        source=" + ".join(sources) or None,
        holidays=[CalendarDay(date=d, name=n) for d, n in sorted(holidays.items())],
        makeup_workdays=[CalendarDay(date=d, name=n) for d, n in sorted(makeup.items())],
    )


# --- reading -------------------------------------------------------------------------------------------------


async def find_town(db: AsyncSession, code: str) -> Unit:
    unit = await db.get(Unit, code)
    if unit is None:
        raise CalendarError(f"no town {code!r}")
    if unit.kind != "town":
        raise CalendarError(f"{code!r} is a {unit.kind}, not a town: a calendar's changes belong to a town")
    return unit


async def _rows(db: AsyncSession, years: Iterable[int], towns: Iterable[str]) -> dict[tuple[int, str], CalendarYear]:
    query = select(CalendarYear).where(
        CalendarYear.year.in_(list(years)),  # type: ignore[attr-defined]
        CalendarYear.town.in_([NATIONAL, *towns]),  # type: ignore[attr-defined]
    )
    return {(row.year, row.town): row for row in (await db.exec(query)).all()}


async def read_year(db: AsyncSession, year: int, town: str | None = None) -> YearCalendar:
    """The year as ``town`` counts it (the national schedule alone without one). The town must exist."""
    rows = await _rows(db, [year], [town] if town else [])
    return merged(year, town, rows.get((year, NATIONAL)), rows.get((year, town)) if town else None)


async def town_layer(db: AsyncSession, year: int, town: str) -> set[date]:
    """The days the town's own changes for ``year`` name (to tell them from the national schedule's)."""
    row = await db.get(CalendarYear, (year, town))
    return set(_days(row.holidays)) | set(_days(row.makeup_workdays)) if row else set()


async def town_schedules(db: AsyncSession, year: int, towns: Iterable[str]) -> dict[str, YearSchedule]:
    """Each town's schedule for ``year``, from one query (re-timing a page of cases)."""
    towns = set(towns)
    rows = await _rows(db, [year], towns)
    national = rows.get((year, NATIONAL))
    return {town: merged(year, town, national, rows.get((year, town))).schedule() for town in towns}


async def work_calendar(db: AsyncSession, town: str | None, years: list[int]) -> WorkCalendar:
    """What a case in ``town`` counts working days on over ``years``: its schedules and its time zone.

    One query, for the town's time zone and the rows of every year together (filing runs it on every case).
    A year with no row at all is left out: it counts Monday to Friday, provisionally.
    """
    tz: str | None = None
    rows: dict[tuple[int, str], CalendarYear] = {}
    if town is None:
        rows = await _rows(db, years, [])
    else:
        query = (
            select(Unit.tz, CalendarYear)
            .select_from(Unit)
            .outerjoin(
                CalendarYear,
                and_(CalendarYear.year.in_(years), CalendarYear.town.in_([NATIONAL, town])),  # type: ignore[attr-defined]
            )
            .where(Unit.code == town)
        )
        for unit_tz, row in (await db.exec(query)).all():
            tz = unit_tz
            if row is not None:
                rows[row.year, row.town] = row
    schedules = {}
    for year in years:
        national, local = rows.get((year, NATIONAL)), rows.get((year, town)) if town else None
        if national is not None or local is not None:
            schedules[year] = merged(year, town, national, local).schedule()
    zone, offset = time_zone(tz, years[0] if years else now_utc().year)
    return WorkCalendar(town=town, tz=zone, utc_offset_minutes=offset, years=schedules)


@lru_cache(maxsize=256)
def time_zone(tz: str | None, year: int) -> tuple[str, int]:
    """The town's zone and its offset from UTC in minutes (one offset: the towns are in China, with no DST)."""
    if not tz:
        return DEFAULT_TZ, DEFAULT_UTC_OFFSET_MINUTES
    try:
        offset = datetime(year, 7, 1, 12, tzinfo=ZoneInfo(tz)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone on a town; counting in Asia/Shanghai", tz=tz)
        return DEFAULT_TZ, DEFAULT_UTC_OFFSET_MINUTES
    return tz, int(offset.total_seconds() // 60) if offset is not None else DEFAULT_UTC_OFFSET_MINUTES


# --- writing -------------------------------------------------------------------------------------------------


async def write_year(engine: AsyncEngine, year: int, town: str | None, change: CalendarChange) -> CalendarChange:
    """Replace one layer of ``year``: the national schedule (``town`` None) or the town's changes.

    Returns the change as stored (checked, sorted). Raises CalendarError, writing nothing, if it is not a
    valid year's (the town itself is the caller's to check: ``find_town``).
    """
    change = change.checked(year)
    row = {"year": year, "town": town or NATIONAL, "source": change.source, "holidays": _entries(change.holidays),
           "makeup_workdays": _entries(change.makeup_workdays), "updated_at": now_utc()}  # fmt: skip
    async with engine.begin() as db:
        await db.execute(upsert(engine, _table(), ["year", "town"]), [row])
    log.info("calendar year written", year=year, town=town, source=change.source,
             holidays=len(change.holidays), makeup_workdays=len(change.makeup_workdays))  # fmt: skip
    return change


async def seed_national(engine: AsyncEngine) -> list[int]:
    """Load the package's national schedule for every year it knows and the database lacks; returns those years.

    Never overwrites a year already there (one an admin loaded, or seeded from an earlier version of the
    package), and safe when many processes start at once: a year inserted meanwhile is skipped.
    """
    async with engine.begin() as db:
        have = set((await db.execute(select(CalendarYear.year).where(CalendarYear.town == NATIONAL))).scalars())
        missing = {year: days for year, days in sorted(national_years().items()) if year not in have}
        if missing:
            rows = [
                {"year": year, "town": NATIONAL, "source": SOURCE, "updated_at": now_utc(),
                 "holidays": [{"date": d.isoformat(), "name": n} for d, n in holidays],
                 "makeup_workdays": [{"date": d.isoformat(), "name": n} for d, n in makeup]}
                for year, (holidays, makeup) in missing.items()
            ]  # fmt: skip
            dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
            await db.execute(dialect.insert(_table()).on_conflict_do_nothing(index_elements=["year", "town"]), rows)
    if missing:
        log.info("national calendar seeded", source=SOURCE, years=list(missing))
    return list(missing)


def _table() -> Any:
    return CalendarYear.__table__  # type: ignore[attr-defined]
