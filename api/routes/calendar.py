"""The working-day calendar: read a year (anyone with a token), count working days, load a year (admins)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ClientDep, CurrentCaller, EngineDep, SessionDep, SettingsDep, require_role
from api.errors import ApiError, error_responses, unprocessable
from api.services.calendar import check_writer, load_year
from api.services.units import CODE
from core.calendar import FIRST_YEAR, LAST_YEAR, CalendarChange, CalendarError, YearCalendar, find_town, read_year
from core.calendar import work_calendar as town_calendar
from workflows.clock import LIMITS, nth_workday_after
from workflows.model import Role

router = APIRouter(prefix="/v1/calendar", tags=["calendar"], responses=error_responses(401, 422))

Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR, description="the calendar year")]
Town = Annotated[
    str | None,
    Query(pattern=CODE, max_length=64, description="a town's code: its own changes laid over the national schedule"),
]


class WorkingDays(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", description="the day counted from (not itself counted)")
    days: int
    due: date = Field(description="the Nth working day after `from`")
    provisional: bool = Field(description="a day counted lies in a year with no official schedule loaded")


@router.get("/working-days")
async def working_days(
    db: SessionDep,
    caller: CurrentCaller,
    from_: Annotated[date, Query(alias="from", description="YYYY-MM-DD")],
    days: Annotated[int, Query(ge=1, le=int(LIMITS["wd"]), description="how many working days")],
    town: Town = None,
) -> WorkingDays:
    """The Nth working day after `from` (次日起算: `from` itself does not count), on the town's calendar."""
    if not FIRST_YEAR <= from_.year <= LAST_YEAR:
        raise unprocessable(f"from: a date from {FIRST_YEAR} to {LAST_YEAR}")
    await _town(db, town)
    # 700 working days are under three years, however many holidays they cross.
    calendar = await town_calendar(db, town, list(range(from_.year, from_.year + 4)))
    due, provisional = nth_workday_after(calendar, from_, days)
    return WorkingDays(from_=from_, days=days, due=due, provisional=provisional)


@router.get("/{year}")
async def read_calendar_year(db: SessionDep, caller: CurrentCaller, year: Year, town: Town = None) -> YearCalendar:
    """The year's holidays and make-up working days: the national schedule, with the town's changes if asked.

    `complete` is false where no official schedule is loaded for the year: it counts Monday to Friday (and the
    town's own changes), and every deadline counted across it is provisional.
    """
    await _town(db, town)
    return await read_year(db, year, town)


@router.put(
    "/{year}", dependencies=[require_role(Role.ADMIN)], responses=error_responses(403, 503),
    response_description="the year as GET shows it; open cases are re-timed on it within seconds",
)  # fmt: skip
async def write_calendar_year(
    db: SessionDep,
    engine: EngineDep,
    client: ClientDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    year: Year,
    change: Annotated[CalendarChange, Body()],
    town: Town = None,
) -> YearCalendar:
    """Load the year's national schedule (an admin of the whole system), or a town's own changes on top of it
    (an admin whose jurisdiction holds the town): a closure is a holiday, an extra working day a make-up day.

    Replaces what that layer held for the year. A date outside the year, listed twice, or both a holiday and a
    make-up working day is a 422 and changes nothing. The answer comes at once; every open case whose
    deadline the change may move is then re-timed on it within seconds, durably (a `calendar-updated` event
    in its trail where its deadline moved). Closed cases are untouched. Sending the same year again is safe.
    """
    try:
        await check_writer(db, caller, town)
        change = change.checked(year)
    except CalendarError as error:
        raise unprocessable(str(error)) from None
    await db.commit()  # ends the read: the answer, read afterwards, must see the write
    try:
        await load_year(engine, client, settings, year, town, change)
    except RPCError as error:
        if error.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        raise ApiError(
            503, "unavailable", "the year is saved but the workflow engine is unreachable, so open cases are not "
            "re-timed yet: send the same request again shortly",
        ) from None  # fmt: skip
    return await read_year(db, year, town)


async def _town(db: SessionDep, town: str | None) -> None:
    if town is not None:
        try:
            await find_town(db, town)
        except CalendarError as error:
            raise unprocessable(str(error)) from None
