"""The clock's arithmetic, on the official calendar: no server needed.

Cross-checked against hand-worked dates from the State Council's notices and against the `holidays`
package's own list of Chinese public holidays (a second, independent source).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays as second_source
import pytest

from core.calendar_seed import national_schedule, national_years
from workflows.clock import (
    Duration,
    DurationError,
    WorkCalendar,
    YearSchedule,
    due_after,
    nth_workday_after,
    parse_duration,
    remaining,
)

CST = timedelta(hours=8)


def calendar(*years: int) -> WorkCalendar:
    schedules = {y: s for y in years if (s := national_schedule(y)) is not None}
    return WorkCalendar(years=schedules)


def local(y: int, m: int, d: int, h: int = 10) -> datetime:
    """A moment in Beijing time, as UTC."""
    return datetime(y, m, d, h, tzinfo=UTC) - CST


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", Duration(30, "m")), ("2h", Duration(2, "h")), ("3d", Duration(3, "d")), ("7wd", Duration(7, "wd")),
     ("2", Duration(2, "d")), (2, Duration(2, "d")), (1.5, Duration(1.5, "d")), (" 15wd ", Duration(15, "wd"))],
)  # fmt: skip
def test_durations_read_with_their_units(text: str | float, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [("7w", "not a duration"), ("-2h", "not a duration"), ("0h", "more than zero"), ("1001d", "at most 1000"),
     ("1.5wd", "whole days"), ("abc", "not a duration"), ("", "not a duration"), (True, "not a duration")],
)  # fmt: skip
def test_bad_durations_say_why(text: str | float, why: str) -> None:
    with pytest.raises(DurationError, match=why):
        parse_duration(text)


def test_seven_working_days_after_the_twelfth_of_february_2026_cross_the_spring_festival() -> None:
    """Hand-worked: the holiday runs 15–23 Feb; Saturday 14 Feb and Saturday 28 Feb are make-up working days.
    Counting from the 13th: 13, 14 (Sat), 24, 25, 26, 27, 28 (Sat) — the seventh is Saturday the 28th."""
    cal = calendar(2026)
    assert nth_workday_after(cal, date(2026, 2, 12), 7) == (date(2026, 2, 28), False)
    due = due_after(local(2026, 2, 12), Duration(7, "wd"), cal)
    assert due == due_after(local(2026, 2, 12, 23), Duration(7, "wd"), cal)  # any time that day
    assert due.at == datetime(2026, 3, 1, tzinfo=UTC) - CST and not due.provisional  # 24:00 on the 28th, Beijing


def test_a_case_filed_on_the_friday_before_national_day_2025() -> None:
    """Hand-worked: 1–8 Oct 2025 are off, Saturday 11 Oct is worked. 2 wd after Fri 26 Sep: Sun 28 Sep (a make-up
    day) and Mon 29 Sep; 5 wd: 28, 29, 30 Sep, 9 Oct, 10 Oct."""
    cal = calendar(2025)
    assert nth_workday_after(cal, date(2025, 9, 26), 2)[0] == date(2025, 9, 29)
    assert nth_workday_after(cal, date(2025, 9, 26), 5)[0] == date(2025, 10, 10)
    assert nth_workday_after(cal, date(2025, 9, 26), 6)[0] == date(2025, 10, 11)  # the make-up Saturday


def test_crossing_new_year_into_a_year_with_no_schedule_is_provisional() -> None:
    known = max(national_years())
    cal = calendar(known)
    last = date(known, 12, 24)
    day, provisional = nth_workday_after(cal, last, 10)
    assert day.year == known + 1 and provisional
    assert due_after(datetime.combine(last, datetime.min.time(), UTC), Duration(10, "wd"), cal).provisional
    # Counting only inside the known year is not provisional; a calendar-day clock never is.
    assert not nth_workday_after(cal, date(known, 3, 2), 3)[1]
    assert not due_after(datetime(known, 12, 30, tzinfo=UTC), Duration(5, "d"), cal).provisional
    # A year with no schedule counts Monday to Friday.
    empty = WorkCalendar()
    assert nth_workday_after(empty, date(2030, 1, 4), 1) == (date(2030, 1, 7), True)  # Fri → Mon


def test_a_town_closure_and_an_extra_working_day() -> None:
    base = national_schedule(2026)
    assert base is not None
    closed = base.model_copy(update={"holidays": [*base.holidays, date(2026, 3, 3)],
                                     "makeup_workdays": [*base.makeup_workdays, date(2026, 3, 7)]})  # fmt: skip
    cal = WorkCalendar(town="town-a", years={2026: closed})
    assert not cal.is_workday(date(2026, 3, 3)) and cal.is_workday(date(2026, 3, 7))
    assert nth_workday_after(cal, date(2026, 3, 2), 1)[0] == date(2026, 3, 4)


@pytest.mark.parametrize("year", [2019, 2023, 2024, 2025])
def test_every_public_holiday_the_second_source_lists_is_a_day_off_here(year: int) -> None:
    cal = calendar(year)
    theirs = second_source.country_holidays("CN", years=year)
    days_off = [day for day in theirs if not cal.is_workday(day)]
    assert len(days_off) == len(theirs) > 5


def test_clock_time_and_calendar_days_ignore_the_calendar_and_scale_shrinks_the_interval() -> None:
    start = local(2026, 2, 13)
    cal = calendar(2026)
    assert due_after(start, Duration(2, "h"), cal).at == start + timedelta(hours=2)
    assert due_after(start, Duration(3, "d"), cal).at == start + timedelta(days=3)
    scaled = due_after(start, Duration(7, "wd"), cal, scale=0.001)
    full = due_after(start, Duration(7, "wd"), cal)
    assert scaled.at - start == (full.at - start) * 0.001


def test_what_is_left_of_a_deadline_restarts_with_the_same_time_left() -> None:
    cal = calendar(2026)
    deadline = due_after(local(2026, 3, 2), Duration(5, "wd"), cal).at  # end of Mon 9 Mar
    left = remaining(local(2026, 3, 4), deadline, "wd", cal)
    assert left == Duration(3, "wd")  # 5, 6, 9 March
    hours = due_after(local(2026, 3, 2), Duration(24, "h"), cal).at
    assert remaining(local(2026, 3, 2, 16), hours, "h", cal) == Duration(18 * 60, "m")


def test_a_schedule_holds_only_its_own_years_dates_and_no_day_is_both() -> None:
    YearSchedule(year=2026, complete=True, holidays=[date(2026, 1, 1)], makeup_workdays=[date(2026, 1, 4)])
    with pytest.raises(ValueError, match="outside 2026: 2027-01-01"):
        YearSchedule(year=2026, complete=True, holidays=[date(2027, 1, 1)])
    with pytest.raises(ValueError, match="both a holiday and a make-up working day: 2026-01-04"):
        YearSchedule(year=2026, complete=True, holidays=[date(2026, 1, 4)], makeup_workdays=[date(2026, 1, 4)])


def test_a_calendar_with_a_changed_year_counts_on_the_change() -> None:
    cal = calendar(2026)
    assert cal.is_workday(date(2026, 12, 7))  # the day sets are computed (and cached) here
    changed = cal.with_year(YearSchedule(year=2026, complete=True, holidays=[date(2026, 12, 7)]))
    assert not changed.is_workday(date(2026, 12, 7)) and cal.is_workday(date(2026, 12, 7))
    assert nth_workday_after(changed, date(2026, 12, 4), 1)[0] == date(2026, 12, 8)
