"""The working-day calendar: the seeded national schedule, a town's changes, counting, loading, and who may load."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from core.calendar import CalendarChange, CalendarError, merged, seed_national, time_zone, work_calendar, write_year
from core.db import create_engine, upgrade_schema
from core.tables import CalendarYear, Unit
from tests.utils.stack import Stack

SPRING_FESTIVAL_2026 = [date(2026, 2, day).isoformat() for day in range(15, 24)]


def dates(days: list[dict[str, str]]) -> list[str]:
    return [d["date"] for d in days]


async def working_days(stack: Stack, headers: dict[str, str], **params: Any) -> Any:
    return await stack.http.get("/v1/calendar/working-days", params=params, headers=headers)


async def test_the_national_schedule_is_seeded_from_the_package(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    year = (await stack.http.get("/v1/calendar/2026", headers=caseworker)).json()
    assert (year["year"], year["town"], year["complete"]) == (2026, None, True)
    assert year["source"].startswith("chinesecalendar ")
    spring = [d for d in year["holidays"] if d["name"] == "春节"]
    assert dates(spring) == SPRING_FESTIVAL_2026
    assert {"date": "2026-02-14", "name": "春节"} in year["makeup_workdays"]
    assert {"date": "2026-02-28", "name": "春节"} in year["makeup_workdays"]


async def test_a_year_with_nothing_loaded_counts_monday_to_friday_provisionally(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    year = (await stack.http.get("/v1/calendar/2031", params={"town": "town-a"}, headers=caseworker)).json()
    assert year == {"year": 2031, "town": "town-a", "complete": False, "source": None, "holidays": [],
                    "makeup_workdays": []}  # fmt: skip
    # Friday 3 January 2031: the next working day is the Monday, counted on no official schedule.
    friday = await working_days(stack, caseworker, **{"from": "2031-01-03", "days": 1})
    assert friday.json() == {"from": "2031-01-03", "days": 1, "due": "2031-01-06", "provisional": True}


async def test_working_days_follow_the_official_schedule(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    # From Thursday 12 February 2026: Friday, the make-up Saturday 14th, the Spring Festival off, then four
    # weekdays and the make-up Saturday 28th.
    festival = await working_days(stack, caseworker, **{"from": "2026-02-12", "days": 7})
    assert festival.json() == {"from": "2026-02-12", "days": 7, "due": "2026-02-28", "provisional": False}
    # Across New Year into 2027, for which nothing is loaded yet.
    crossing = await working_days(stack, caseworker, **{"from": "2026-12-28", "days": 5})
    assert crossing.json()["due"] == "2027-01-04" and crossing.json()["provisional"] is True
    for bad in ({"from": "2026-02-12", "days": 0}, {"from": "2026-02-12", "days": 701},
                {"from": "2026-02-30", "days": 1}, {"from": "1899-12-31", "days": 1}, {"from": "soon", "days": 1},
                {"days": 1}, {"from": "2026-02-12", "days": 1, "town": "community-a1"},
                {"from": "2026-02-12", "days": 1, "town": "nowhere"}):  # fmt: skip
        response = await working_days(stack, caseworker, **bad)
        assert response.status_code == 422 and response.json()["error"] == "invalid_request", (bad, response.text)
    assert (await working_days(stack, {}, **{"from": "2026-02-12", "days": 1})).status_code == 401


async def test_a_towns_closure_is_laid_over_the_national_schedule(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "admin")
    closure = {"source": "昌宁镇政府通知", "holidays": [{"date": "2026-02-24", "name": "停水检修"}]}
    put = await stack.http.put("/v1/calendar/2026", params={"town": "town-a"}, json=closure, headers=admin)
    assert put.status_code == 200, put.text
    shown = (await stack.http.get("/v1/calendar/2026", params={"town": "town-a"}, headers=admin)).json()
    assert put.json() == shown
    assert shown["town"] == "town-a" and shown["complete"] is True
    assert shown["source"].startswith("chinesecalendar ") and shown["source"].endswith(" + 昌宁镇政府通知")
    assert {"date": "2026-02-24", "name": "停水检修"} in shown["holidays"]
    national = (await stack.http.get("/v1/calendar/2026", headers=admin)).json()
    assert "2026-02-24" not in dates(national["holidays"])
    # The closure takes a day out of town-a's count, and only town-a's.
    ask = {"from": "2026-02-12", "days": 7}
    assert (await working_days(stack, admin, **ask, town="town-a")).json()["due"] == "2026-03-02"
    assert (await working_days(stack, admin, **ask, town="town-b")).json()["due"] == "2026-02-28"
    assert (await working_days(stack, admin, **ask)).json()["due"] == "2026-02-28"


async def test_loading_a_new_national_year(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "admin")
    year = {"source": "国办发明电〔2030〕1号", "holidays": [{"date": "2031-01-01", "name": "元旦"}],
            "makeup_workdays": [{"date": "2031-01-04", "name": "元旦"}]}  # fmt: skip
    put = await stack.http.put("/v1/calendar/2031", json=year, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json() == {"year": 2031, "town": None, "complete": True, "source": "国办发明电〔2030〕1号",
                          "holidays": year["holidays"], "makeup_workdays": year["makeup_workdays"]}  # fmt: skip
    # Wednesday 1 January off, Saturday 4 January a working day: the year counts, no longer provisionally.
    counted = await working_days(stack, admin, **{"from": "2030-12-27", "days": 3})  # 2030 is not loaded
    assert counted.json() == {"from": "2030-12-27", "days": 3, "due": "2031-01-02", "provisional": True}
    counted = await working_days(stack, admin, **{"from": "2031-01-01", "days": 3})
    assert counted.json() == {"from": "2031-01-01", "days": 3, "due": "2031-01-04", "provisional": False}


async def test_a_bad_year_is_refused_naming_the_date_and_changes_nothing(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "admin")
    before = (await stack.http.get("/v1/calendar/2026", params={"town": "town-a"}, headers=admin)).json()
    day = {"date": "2026-03-02", "name": "x"}
    refused = [
        ("2026", None, {"source": "s", "holidays": [{"date": "2027-01-01", "name": "元旦"}]}, "2027-01-01"),
        ("2026", "town-a", {"source": "s", "makeup_workdays": [{"date": "2025-12-31"}]}, "2025-12-31"),
        ("2026", "town-a", {"source": "s", "holidays": [day], "makeup_workdays": [day]}, "2026-03-02"),
        ("2026", "town-a", {"source": "s", "holidays": [day, day]}, "2026-03-02"),
        ("2026", "nowhere", {"source": "s", "holidays": [day]}, "nowhere"),
        ("2026", "community-a1", {"source": "s", "holidays": [day]}, "community"),
        ("2026", None, {"holidays": [day]}, "source"),
        ("2026", None, {"source": "s\x00", "holidays": []}, "NUL"),
        ("2026", None, {"source": "s", "holidays": [{"date": "2026-02-30"}]}, "date"),
        ("2026", None, {"source": "s", "holiday": [day]}, "holiday"),
        ("1899", None, {"source": "s"}, "1900"),
        ("2201", None, {"source": "s"}, "2200"),
    ]
    for year, town, body, named in refused:
        params = {"town": town} if town else {}
        response = await stack.http.put(f"/v1/calendar/{year}", params=params, json=body, headers=admin)
        assert response.status_code == 422, (year, town, body, response.text)
        assert response.json()["error"] == "invalid_request" and named in response.text, response.text
    after = (await stack.http.get("/v1/calendar/2026", params={"town": "town-a"}, headers=admin)).json()
    assert after == before


async def test_only_admins_load_and_a_scoped_admin_only_its_own_towns(stack: Stack) -> None:
    closure = {"source": "通知", "holidays": [{"date": "2026-03-02", "name": "停水检修"}]}

    async def put(headers: dict[str, str], town: str | None = None) -> int:
        params = {"town": town} if town else {}
        return (await stack.http.put("/v1/calendar/2026", params=params, json=closure, headers=headers)).status_code

    supervisor = await stack.headers("supervisor", "town-a")
    assert await put(supervisor, "town-a") == 403
    assert await put(await stack.headers("caseworker", "compound-a1x"), "town-a") == 403
    assert await put(await stack.headers("auditor", None), None) == 403
    town_b_admin = await stack.headers("admin", "town-b", "龙泉街道管理员")
    assert await put(town_b_admin, "town-a") == 403
    assert await put(town_b_admin, None) == 403  # the national schedule is for an admin of everything
    assert await put({}, "town-a") == 401
    shown = (await stack.http.get("/v1/calendar/2026", params={"town": "town-a"}, headers=supervisor)).json()
    assert "2026-03-02" not in dates(shown["holidays"])
    assert await put(town_b_admin, "town-b") == 200
    assert await put(await stack.headers("admin", "town-a", "昌宁镇管理员"), "town-a") == 200


async def test_the_cli_imports_and_shows_a_year(stack: Stack, tmp_path: Path) -> None:
    env = {**os.environ, "LINLI_DATA_DIR": str(stack.settings.data_dir), "LINLI_DATABASE_URL": stack.settings.db_url,
           "LINLI_TEMPORAL_ADDRESS": stack.settings.temporal_address, "LINLI_TASK_QUEUE": stack.settings.task_queue,
           "LINLI_LOG_LEVEL": "WARNING"}  # fmt: skip

    async def linli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "api.cli", "calendar", *args]
        return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)

    national = tmp_path / "2031.json"
    national.write_text(json.dumps([
        {"year": 2031, "source": "国办发明电〔2030〕1号", "holidays": [{"date": "2031-01-01", "name": "元旦"}],
         "makeup_workdays": [{"date": "2031-01-04", "name": "元旦"}]},
        {"year": 2032, "source": "国办发明电〔2031〕1号", "holidays": [{"date": "2032-01-01", "name": "元旦"}]},
    ], ensure_ascii=False))  # fmt: skip
    loaded = await linli("import", str(national))
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 2031, the national schedule: 1 holiday, 1 make-up working day" in loaded.stdout
    assert "loaded 2032" in loaded.stdout and "re-timed" in loaded.stdout
    admin = await stack.headers("admin", None, "admin")
    shown = (await stack.http.get("/v1/calendar/2031", headers=admin)).json()
    assert shown["complete"] and dates(shown["makeup_workdays"]) == ["2031-01-04"]
    # The re-timing it started runs on the stack's worker and finishes (there is nothing open to re-time).
    rollout = loaded.stdout.split("(workflow ")[1].split(")")[0]
    await asyncio.wait_for(stack.temporal.get_workflow_handle(rollout).result(), 30)

    closure = tmp_path / "closure.json"
    town_change = {"year": 2031, "source": "昌宁镇通知", "holidays": [{"date": "2031-01-06", "name": "停电检修"}]}
    closure.write_text(json.dumps(town_change, ensure_ascii=False))
    assert (await linli("import", str(closure), "--town", "town-a")).returncode == 0
    show = await linli("show", "2031", "--town", "town-a")
    assert show.returncode == 0, show.stderr
    assert "complete: the official schedule is loaded" in show.stdout
    assert "2031-01-01 Wed  元旦" in show.stdout and "2031-01-04 Sat  元旦" in show.stdout
    assert "2031-01-06 Mon  停电检修  [town]" in show.stdout
    assert "not complete" in (await linli("show", "2040")).stdout

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"year": 2033, "source": "s"},
                               {"year": 2034, "source": "s", "holidays": [{"date": "2035-01-01"}]}]))  # fmt: skip
    refused = await linli("import", str(bad))
    assert refused.returncode == 2 and "year #2" in refused.stderr and "2035-01-01 is not in 2034" in refused.stderr
    assert not (await stack.http.get("/v1/calendar/2033", headers=admin)).json()["complete"]  # nothing loaded
    for args, says in ((["import", str(tmp_path / "none.json")], "none.json"),
                       (["import", str(national), "--town", "community-a1"], "not a town"),
                       (["show", "2031", "--town", "nowhere"], "no town")):  # fmt: skip
        failed = await linli(*args)
        assert failed.returncode == 2 and says in failed.stderr, failed.stderr
    helped = await linli("import", "--help")
    assert "makeup_workdays" in helped.stdout and "--town" in helped.stdout


# --- the database, without a server ---------------------------------------------------------------------------


async def test_seeding_adds_missing_years_and_never_overwrites_one(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        seeded = await seed_national(engine)
        assert seeded[0] == 2004 and 2026 in seeded
        admins = CalendarChange.model_validate(
            {"source": "国办发明电〔2025〕7号", "holidays": [{"date": "2026-01-01", "name": "元旦"}]}
        )
        await write_year(engine, 2026, None, admins)
        assert await seed_national(engine) == []
        async with AsyncSession(engine) as db:
            row = await db.get(CalendarYear, (2026, ""))
            assert row is not None and row.source == "国办发明电〔2025〕7号" and len(row.holidays) == 1
    finally:
        await engine.dispose()


async def test_a_cases_calendar_comes_from_one_query(database_url: str) -> None:
    engine = create_engine(database_url)
    statements: list[str] = []
    try:
        await upgrade_schema(engine)
        await seed_national(engine)
        async with AsyncSession(engine) as db:
            db.add(Unit(code="town-w", name="乌鲁木齐某镇", kind="town", path="/town-w/", tz="Asia/Urumqi"))
            await db.commit()
        closure = CalendarChange.model_validate({"source": "s", "holidays": [{"date": "2026-03-02"}]})
        await write_year(engine, 2026, "town-w", closure)
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        async with AsyncSession(engine) as db:
            calendar = await work_calendar(db, "town-w", [2026, 2027])
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
        assert (calendar.tz, calendar.utc_offset_minutes) == ("Asia/Urumqi", 360)
        assert set(calendar.years) == {2026} and calendar.knows(2026) and not calendar.knows(2027)
        assert not calendar.is_workday(date(2026, 3, 2)) and calendar.is_workday(date(2026, 2, 28))
        async with AsyncSession(engine) as db:
            default = await work_calendar(db, "town-elsewhere", [2026])
        assert (default.tz, default.utc_offset_minutes) == ("Asia/Shanghai", 480)
    finally:
        await engine.dispose()


# --- pure --------------------------------------------------------------------------------------------------


def test_a_towns_changes_take_days_off_the_other_list() -> None:
    national = CalendarYear(year=2026, town="", source="国务院",
                            holidays=[{"date": "2026-02-23", "name": "春节"}],
                            makeup_workdays=[{"date": "2026-02-28", "name": "春节"}])  # fmt: skip
    town = CalendarYear(year=2026, town="town-a", source="镇",
                        holidays=[{"date": "2026-02-28", "name": "停水"}],
                        makeup_workdays=[{"date": "2026-02-23", "name": "抢修"}])  # fmt: skip
    year = merged(2026, "town-a", national, town)
    assert [(d.date.isoformat(), d.name) for d in year.holidays] == [("2026-02-28", "停水")]
    assert [(d.date.isoformat(), d.name) for d in year.makeup_workdays] == [("2026-02-23", "抢修")]
    assert (year.complete, year.source) == (True, "国务院 + 镇")
    only_town = merged(2031, "town-a", None, town.model_copy(update={"year": 2031}))
    assert only_town.complete is False and only_town.source == "镇"
    assert merged(2031, None, None, None).schedule().model_dump() == {
        "year": 2031, "complete": False, "holidays": [], "makeup_workdays": []
    }  # fmt: skip


def test_a_change_is_checked_against_its_year() -> None:
    change = CalendarChange.model_validate(
        {"source": "s", "holidays": [{"date": "2026-10-02"}, {"date": "2026-10-01", "name": "国庆节"}]}
    )
    assert [d.date.isoformat() for d in change.checked(2026).holidays] == ["2026-10-01", "2026-10-02"]
    with pytest.raises(CalendarError, match="2026-10-01 is not in 2027"):
        change.checked(2027)
    both = CalendarChange.model_validate(
        {"source": "s", "holidays": [{"date": "2026-10-01"}], "makeup_workdays": [{"date": "2026-10-01"}]}
    )
    with pytest.raises(CalendarError, match="2026-10-01 is both a holiday and a make-up working day"):
        both.checked(2026)


def test_an_unknown_time_zone_counts_in_china_standard_time() -> None:
    assert time_zone(None, 2026) == ("Asia/Shanghai", 480)
    assert time_zone("Mars/Olympus_Mons", 2026) == ("Asia/Shanghai", 480)
    assert time_zone("Asia/Urumqi", 2026) == ("Asia/Urumqi", 360)
