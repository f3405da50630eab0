"""Counting deadlines as governments do: clock time, calendar days and working days. Pure.

A **duration** is a number with a unit: ``"30m"``, ``"2h"`` (clock time), ``"3d"`` (calendar days), ``"7wd"``
(working days); a bare number is calendar days, as v1 policy files wrote them.

A **working day** is Monday to Friday, minus the holidays, plus the make-up working days (调休上班) of the
official schedule, with a town's own changes on top. ``N wd`` after a moment ends at 24:00 local time of
the Nth working day after the day the clock started: that day itself does not count (次日起算).

The calendar reaches the workflow as data (a ``WorkCalendar`` in its input and in later updates), never
read from a database by workflow code, so replaying a case gives the deadlines it had. A year with no
official schedule counts Monday to Friday; a deadline counted across such a year is *provisional*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cached_property, lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

Unit = Literal["m", "h", "d", "wd"]

# The longest a single duration may be, per unit: about three years, however it is written. Longer is a typo.
LIMITS: dict[str, float] = {"m": 1_440_000, "h": 24_000, "d": 1_000, "wd": 700}
UNIT_NAMES = {"m": "minutes", "h": "hours", "d": "calendar days", "wd": "working days"}
# A number as Python writes floats too ("2.5e-06": a policy file's fraction of a day, for demos).
_DURATION = re.compile(r"^\s*(?P<amount>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>wd|m|h|d)?\s*$")

DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_UTC_OFFSET_MINUTES = 480  # China Standard Time, with no daylight saving since 1991


@dataclass(frozen=True)
class Duration:
    amount: float
    unit: Unit

    def __str__(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount}{self.unit}"

    def plus(self, amount: float) -> Duration:
        return Duration(self.amount + amount, self.unit)


class DurationError(ValueError):
    pass


@lru_cache(maxsize=1024)
def parse_duration(value: str | float | int) -> Duration:
    """``"7wd"`` → 7 working days; ``2`` or ``"2"`` → 2 calendar days. Raises DurationError saying why."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        amount, unit = float(value), "d"
    else:
        match = _DURATION.match(value)
        if match is None:
            raise DurationError(
                f"{value!r} is not a duration: a number with a unit m (minutes), h (hours), d (calendar days) or "
                'wd (working days), e.g. "2h" or "7wd"'
            )
        amount, unit = float(match["amount"]), match["unit"] or "d"
    if amount <= 0:
        raise DurationError(f"{value!r}: a duration must be more than zero")
    if amount > LIMITS[unit]:
        raise DurationError(f"{value!r}: at most {LIMITS[unit]:g} {UNIT_NAMES[unit]}")
    if unit == "wd" and not amount.is_integer():
        raise DurationError(f"{value!r}: working days are whole days")
    return Duration(amount, unit)  # type: ignore[arg-type]


def _canonical(value: str) -> str:
    try:
        return str(parse_duration(value))
    except DurationError as error:
        raise ValueError(str(error)) from None


# A duration as policies and commands spell it, checked and written canonically ("7wd", "2h", "3d").
DurationText = Annotated[str, AfterValidator(_canonical)]


# --- the calendar --------------------------------------------------------------------------------------------


class YearSchedule(BaseModel):
    """One year of the official schedule for a town: the national one with the town's changes laid over."""

    year: int = Field(ge=1900, le=2200)
    complete: bool = Field(description="an official schedule is loaded for the year (else: Monday–Friday only)")
    holidays: list[date] = []
    makeup_workdays: list[date] = []

    @model_validator(mode="after")
    def _dates_of_the_year_and_each_one_thing(self) -> YearSchedule:
        outside = sorted(d.isoformat() for d in (*self.holidays, *self.makeup_workdays) if d.year != self.year)
        if outside:
            raise ValueError(f"dates outside {self.year}: {', '.join(outside)}")
        both = sorted(d.isoformat() for d in set(self.holidays) & set(self.makeup_workdays))
        if both:
            raise ValueError(f"a day cannot be both a holiday and a make-up working day: {', '.join(both)}")
        return self


class WorkCalendar(BaseModel):
    """What a case counts working days on: its town's schedule for the years it has, and its time zone."""

    town: str | None = None
    tz: str = DEFAULT_TZ
    utc_offset_minutes: int = DEFAULT_UTC_OFFSET_MINUTES
    years: dict[int, YearSchedule] = {}

    @cached_property
    def _off(self) -> frozenset[date]:
        return frozenset(d for y in self.years.values() for d in y.holidays)

    @cached_property
    def _on(self) -> frozenset[date]:
        return frozenset(d for y in self.years.values() for d in y.makeup_workdays)

    @cached_property
    def _complete(self) -> frozenset[int]:
        return frozenset(y.year for y in self.years.values() if y.complete)

    @property
    def zone(self) -> timezone:
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    def is_workday(self, day: date) -> bool:
        if day in self._on:
            return True
        if day in self._off:
            return False
        return day.weekday() < 5

    def knows(self, year: int) -> bool:
        """Is an official schedule loaded for ``year``? Days counted in a year it does not know are provisional."""
        return year in self._complete

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def end_of(self, day: date) -> datetime:
        """24:00 local time of ``day`` (the start of the next day), in UTC."""
        return datetime.combine(day + timedelta(days=1), time(), self.zone).astimezone(UTC)

    def with_year(self, schedule: YearSchedule) -> WorkCalendar:
        # A new instance, not model_copy: a copy would carry over the day sets cached from the old years.
        fields = self.model_dump(exclude={"years"})
        return WorkCalendar(**fields, years={**self.years, schedule.year: schedule})


def nth_workday_after(calendar: WorkCalendar, day: date, n: int) -> tuple[date, bool]:
    """The Nth working day after ``day`` (``day`` itself not counted), and whether any day counted lies in a
    year with no official schedule (the answer is then provisional)."""
    provisional = False
    found = 0
    current = day
    while found < n:
        current += timedelta(days=1)
        provisional = provisional or not calendar.knows(current.year)
        if calendar.is_workday(current):
            found += 1
    return current, provisional


def workdays_between(calendar: WorkCalendar, after: date, through: date) -> int:
    """Working days in (after, through]: the days a working-day deadline still has left."""
    count, current = 0, after
    while current < through:
        current += timedelta(days=1)
        count += calendar.is_workday(current)
    return count


@dataclass(frozen=True)
class Due:
    at: datetime
    provisional: bool = False


def due_after(start: datetime, duration: Duration, calendar: WorkCalendar, scale: float = 1.0) -> Due:
    """When a clock started at ``start`` with ``duration`` runs out; ``scale`` shrinks the interval (demos)."""
    if duration.unit == "wd":
        day, provisional = nth_workday_after(calendar, calendar.local_day(start), int(duration.amount))
        return Due(start + (calendar.end_of(day) - start) * scale, provisional)
    # Written as v1 computed calendar days, to the microsecond: cases filed then replay to the same deadlines.
    seconds = {"m": 60, "h": 3_600, "d": 86_400}[duration.unit]
    return Due(start + timedelta(seconds=duration.amount * seconds * scale))


def remaining(now: datetime, deadline: datetime, unit: Unit, calendar: WorkCalendar, scale: float = 1.0) -> Duration:
    """What is left of a deadline at ``now``, in a form that restarts later with the same time left.

    A working-day deadline keeps its working days (those after today, through the deadline's day); anything
    else — and any scaled clock, whose "days" are not days — keeps its clock time, in minutes.
    """
    if unit == "wd" and scale == 1.0:
        days = workdays_between(
            calendar, calendar.local_day(now), calendar.local_day(deadline - timedelta(microseconds=1))
        )
        if days > 0:
            return Duration(days, "wd")
    minutes = max((deadline - now).total_seconds() / 60 / scale, 0.0)
    return Duration(minutes, "m")
