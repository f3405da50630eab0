"""`linli calendar import` and `linli calendar show`: loading and reading the working-day calendar.

Imports of the database and Temporal stay inside the commands, so `linli --help` starts quickly.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.calendar import CalendarDay, YearCalendar
    from core.settings import Settings

IMPORT_HELP = """Load years of the working-day calendar from a JSON file: one year, or a list of them:

  {"year": 2027, "source": "国办发明电〔2026〕7号",
   "holidays": [{"date": "2027-01-01", "name": "元旦"}, ...],
   "makeup_workdays": [{"date": "2027-02-07", "name": "春节"}, ...]}

Without --town each year is the national schedule, as the State Council publishes it every year (the years
the chinesecalendar package knows are loaded by themselves). With --town CODE each year is that town's own
changes on top of it: a closure as a holiday, an extra working day as a make-up day. A year replaces what
that layer held for it. Every year in the file is checked before anything is written: a date outside its
year, listed twice, or both a holiday and a make-up day is refused, and nothing is loaded.

Open cases whose deadlines a year may move are then re-timed by a worker within seconds (a
`calendar-updated` event in each one whose deadline moved); closed cases are untouched. This starts that
re-timing on Temporal (LINLI_TEMPORAL_ADDRESS, LINLI_TASK_QUEUE), which must be reachable. Importing the
same file again is safe."""

SHOW_HELP = """Print a year as cases count it: each holiday and make-up working day with its name, and whether
the official schedule is loaded (a year without one counts Monday to Friday, and deadlines in it are
provisional). With --town CODE, the town's own changes are laid over the national schedule and marked."""


def add_calendar_commands(sub: Any) -> None:
    """The `calendar` command and its two actions, on the CLI's subparsers."""
    calendar = sub.add_parser("calendar", help="the working-day calendar: load a year, show a year")
    actions = calendar.add_subparsers(dest="action", required=True)

    def action(name: str, summary: str, description: str, town: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument("--town", metavar="CODE", help=town)
        return parser

    load = action("import", "load years of the national schedule, or a town's changes, from a JSON file",
                  IMPORT_HELP, "the years are this town's own changes, not the national schedule")  # fmt: skip
    load.add_argument("file", type=Path, help="a JSON year, or a list of them")
    show = action("show", "print a year's holidays and make-up working days", SHOW_HELP,
                  "with this town's own changes laid over the national schedule")  # fmt: skip
    show.add_argument("year", type=int, help="e.g. 2026")


async def run_calendar(args: argparse.Namespace, settings: Settings) -> str:
    """What to print. Raises CalendarError, with what is wrong, for anything the user can fix."""
    from core.calendar import seed_national
    from core.db import create_engine, upgrade_schema

    engine = create_engine(settings.db_url)
    try:
        await upgrade_schema(engine)
        await seed_national(engine)
        if args.action == "import":
            return await _import(engine, settings, args.file, args.town)
        return await _show(engine, args.year, args.town)
    finally:
        await engine.dispose()


async def _import(engine: Any, settings: Settings, file: Path, town: str | None) -> str:
    from pydantic import ValidationError
    from sqlmodel.ext.asyncio.session import AsyncSession

    from api.services.calendar import check_writer, load_year
    from core.calendar import CalendarError
    from core.temporal import connect

    try:
        data: Any = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CalendarError(f"{file}: {error}") from None
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise CalendarError(f"{file}: no years in it")
    years = []
    for index, entry in enumerate(entries):
        where = f"{file}" if len(entries) == 1 else f"{file}, year #{index + 1}"
        try:
            year = _year_of(entry)
            years.append((year, _change(entry).checked(year)))
        except (ValidationError, CalendarError) as error:
            raise CalendarError(f"{where}: {error}") from None
    repeated = sorted({y for y, _ in years if [x for x, _ in years].count(y) > 1})
    if repeated:
        raise CalendarError(f"{file}: a year appears more than once: {', '.join(map(str, repeated))}")
    async with AsyncSession(engine) as db:
        await check_writer(db, None, town)
    try:
        client = await connect(settings)
    except Exception as error:  # the SDK says why in a RuntimeError or an RPCError
        raise CalendarError(
            f"cannot reach Temporal at {settings.temporal_address} ({error}); nothing was loaded: "
            "open cases could not be re-timed"
        ) from None
    layer = f"town {town}'s changes" if town else "the national schedule"
    lines = []
    for year, change in years:
        rollout = await load_year(engine, client, settings, year, town, change)
        days = f"{_count(change.holidays, 'holiday')}, {_count(change.makeup_workdays, 'make-up working day')}"
        lines.append(f"loaded {year}, {layer}: {days} ({change.source})")
        lines.append(f"  open cases are re-timed on it by a worker within seconds (workflow {rollout})")
    return "\n".join(lines)


def _count(items: list[Any], thing: str) -> str:
    return f"{len(items)} {thing}{'' if len(items) == 1 else 's'}"


def _year_of(entry: Any) -> int:
    from core.calendar import FIRST_YEAR, LAST_YEAR, CalendarError

    if not isinstance(entry, dict):
        raise CalendarError('a year is an object: {"year", "source", "holidays", "makeup_workdays"}')
    year = entry.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarError(f'"year" must be a year from {FIRST_YEAR} to {LAST_YEAR}, not {year!r}')
    return year


def _change(entry: dict[str, Any]) -> Any:
    from core.calendar import CalendarChange

    return CalendarChange.model_validate({k: v for k, v in entry.items() if k != "year"})


async def _show(engine: Any, year: int, town: str | None) -> str:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from core.calendar import FIRST_YEAR, LAST_YEAR, CalendarError, find_town, read_year, town_layer

    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarError(f"{year}: a year from {FIRST_YEAR} to {LAST_YEAR}")
    async with AsyncSession(engine) as db:
        title = f"{year}, the national schedule"
        if town:
            unit = await find_town(db, town)
            title = f"{year} for town {town} ({unit.name}): the national schedule with the town's changes"
        shown = await read_year(db, year, town)
        own = await town_layer(db, year, town) if town else set()
    return _render(shown, title, own)


def _render(shown: YearCalendar, title: str, own: set[date]) -> str:
    if shown.complete:
        status = "complete: the official schedule is loaded"
    else:
        changes = " and the town's changes below" if shown.holidays or shown.makeup_workdays else ""
        status = (
            f"not complete: no official schedule is loaded for {shown.year}\n  it counts Monday to Friday{changes}, "
            "and deadlines in it are provisional; load it with `linli calendar import FILE`"
        )
    lines = [title, f"  {status}"]
    if shown.source:
        lines.append(f"  source: {shown.source}")

    def listed(heading: str, days: list[CalendarDay]) -> None:
        lines.append(f"{heading} ({len(days)}):" if days else f"{heading}: none")
        for day in days:
            mark = "  [town]" if day.date in own else ""
            lines.append(f"  {day.date.isoformat()} {day.date:%a}  {day.name}{mark}".rstrip())

    listed("holidays", shown.holidays)
    listed("make-up working days", shown.makeup_workdays)
    if own:
        lines.append("[town]: the town's own change")
    return "\n".join(lines)
