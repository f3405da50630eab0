"""The national schedule of working days as the State Council publishes it, from the `chinesecalendar` package.

The package (MIT) is kept up to date with each year's notice (国务院办公厅关于…部分节假日安排的通知); it
knows 2004 to its newest year. A year it does not know yet is loaded by an admin when the notice comes out
(`PUT /v1/calendar/{year}`, `linli calendar import`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from importlib.metadata import version

import chinese_calendar.constants as official  # type: ignore[import-untyped]

from workflows.clock import YearSchedule

SOURCE = f"chinesecalendar {version('chinesecalendar')}"

# The package names days in English; the Chinese names are what a caseworker reads.
_CHINESE = {holiday.value: holiday.chinese for holiday in official.Holiday}


def chinese_name(name: str) -> str:
    return str(_CHINESE.get(name, name))


def national_years() -> dict[int, tuple[list[tuple[date, str]], list[tuple[date, str]]]]:
    """Every year the package knows: its holidays and its make-up working days, each with its name."""
    years: dict[int, tuple[list[tuple[date, str]], list[tuple[date, str]]]] = defaultdict(lambda: ([], []))
    for day, name in sorted(official.holidays.items()):
        years[day.year][0].append((day, chinese_name(name)))
    for day, name in sorted(official.workdays.items()):
        years[day.year][1].append((day, chinese_name(name)))
    return dict(years)


def national_schedule(year: int) -> YearSchedule | None:
    """The package's schedule for ``year``, or None if it has none."""
    found = national_years().get(year)
    if found is None:
        return None
    holidays, makeup = found
    return YearSchedule(year=year, complete=True, holidays=[d for d, _ in holidays],
                        makeup_workdays=[d for d, _ in makeup])  # fmt: skip
