"""A year of the calendar changed: the open cases whose deadline it moves are re-timed, the others untouched."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.services.calendar import rollout_id
from core.calendar import CalendarChange
from tests.utils.stack import Stack, eventually, walk
from workflows.clock import WorkCalendar, nth_workday_after

BEIJING = timedelta(hours=8)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def beijing_day_of(deadline: str) -> date:
    """The day a working-day deadline ends (it ends at 24:00 Beijing time, the start of the next day)."""
    return (at(deadline) + BEIJING - timedelta(microseconds=1)).date()


async def town_a_calendar(stack: Stack, headers: dict[str, str], *years: int) -> WorkCalendar:
    schedules = {}
    for year in years:
        body = (await stack.http.get(f"/v1/calendar/{year}", params={"town": "town-a"}, headers=headers)).json()
        schedules[year] = {"year": year, "complete": body["complete"],
                           "holidays": [d["date"] for d in body["holidays"]],
                           "makeup_workdays": [d["date"] for d in body["makeup_workdays"]]}  # fmt: skip
    return WorkCalendar.model_validate({"years": schedules})


async def events(stack: Stack, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    return (await stack.http.get(f"/v1/cases/{case_id}/events", headers=headers)).json()["items"]  # type: ignore[no-any-return]


async def test_a_closure_inside_a_running_deadline_moves_it_one_working_day(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "admin")
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员")
    elsewhere = await stack.headers("caseworker", "compound-b1x", "龙泉网格员")
    # Deliberating at the compound: 7 working days from today, Beijing time.
    running = (await stack.file(caseworker))["id"]
    case = await walk(stack, caseworker, running, "deliberating")
    closed = (await stack.file(caseworker))["id"]
    closed_case = await stack.ok(closed, "withdraw", caseworker, reason="Fixed by the neighbours")
    other_town = (await stack.file(elsewhere, unit="compound-b1x"))["id"]
    other_case = await walk(stack, elsewhere, other_town, "deliberating")

    today = (datetime.now(UTC) + BEIJING).date()
    before = await town_a_calendar(stack, admin, today.year, today.year + 1)
    due = beijing_day_of(case["deadline"])
    assert due == nth_workday_after(before, today, 7)[0]
    closure, _ = nth_workday_after(before, today, 1)  # the first working day the deadline counts
    change = {"source": "昌宁镇政府通知", "holidays": [{"date": closure.isoformat(), "name": "停水检修"}]}
    put = await stack.http.put(f"/v1/calendar/{closure.year}", params={"town": "town-a"}, json=change, headers=admin)
    assert put.status_code == 200, put.text

    after = await town_a_calendar(stack, admin, today.year, today.year + 1)
    one_later, _ = nth_workday_after(after, due, 1)
    moved = await eventually(lambda: stack.case(running, caseworker), lambda c: c["deadline"] != case["deadline"])
    assert beijing_day_of(moved["deadline"]) == one_later == nth_workday_after(after, today, 7)[0]
    updated = [e for e in await events(stack, running, caseworker) if e["action"] == "calendar-updated"]
    assert len(updated) == 1 and updated[0]["actor"]["role"] == "system", updated
    assert at(updated[0]["detail"]["old_deadline"]) == at(case["deadline"])
    assert at(updated[0]["detail"]["new_deadline"]) == at(moved["deadline"])

    # Once the rollout is done: the closed case and the other town's case are as they were.
    workflow_id = rollout_id(stack.settings, closure.year, "town-a", CalendarChange.model_validate(change))
    await asyncio.wait_for(stack.temporal.get_workflow_handle(workflow_id).result(), 30)
    assert await stack.case(closed, caseworker) == closed_case
    assert "calendar-updated" not in [e["action"] for e in await events(stack, closed, caseworker)]
    assert (await stack.case(other_town, elsewhere))["deadline"] == other_case["deadline"]
    assert "calendar-updated" not in [e["action"] for e in await events(stack, other_town, elsewhere)]

    # The same year sent again changes no deadline and records nothing more.
    again = await stack.http.put(f"/v1/calendar/{closure.year}", params={"town": "town-a"}, json=change, headers=admin)
    assert again.status_code == 200
    await asyncio.sleep(1)
    await asyncio.wait_for(stack.temporal.get_workflow_handle(workflow_id).result(), 30)
    assert [e["action"] for e in await events(stack, running, caseworker)].count("calendar-updated") == 1


async def test_a_national_change_reaches_every_towns_open_cases(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "admin")
    town_a = await stack.headers("caseworker", "compound-a1x")
    town_b = await stack.headers("caseworker", "compound-b1x")
    cases = {}
    for headers, unit in ((town_a, "compound-a1x"), (town_b, "compound-b1x")):
        cid = (await stack.file(headers, unit=unit))["id"]
        cases[cid] = (headers, await stack.ok(cid, "submit", headers))  # reviewing: 2 working days
    today = (datetime.now(UTC) + BEIJING).date()
    before = await town_a_calendar(stack, admin, today.year, today.year + 1)
    closure, _ = nth_workday_after(before, today, 1)
    current = (await stack.http.get(f"/v1/calendar/{closure.year}", headers=admin)).json()
    holidays = [*current["holidays"], {"date": closure.isoformat(), "name": "全国停工"}]
    change = {"source": "国务院临时通知", "holidays": holidays, "makeup_workdays": current["makeup_workdays"]}
    assert (await stack.http.put(f"/v1/calendar/{closure.year}", json=change, headers=admin)).status_code == 200
    for cid, (headers, case) in cases.items():
        moved = await eventually(lambda: stack.case(cid, headers), lambda c: c["deadline"] != case["deadline"])  # noqa: B023
        assert at(moved["deadline"]) > at(case["deadline"])


async def test_a_change_made_while_no_worker_runs_is_rolled_out_when_one_starts(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "admin")
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    case = await stack.ok(cid, "submit", caseworker)
    today = (datetime.now(UTC) + BEIJING).date()
    closure, _ = nth_workday_after(await town_a_calendar(stack, admin, today.year, today.year + 1), today, 1)
    await stack.stop_worker()
    change = {"source": "昌宁镇政府通知", "holidays": [{"date": closure.isoformat(), "name": "停电"}]}
    put = await stack.http.put(f"/v1/calendar/{closure.year}", params={"town": "town-a"}, json=change, headers=admin)
    assert put.status_code == 200  # saved, and the re-timing waits in Temporal for a worker
    await asyncio.sleep(1)
    assert (await stack.case(cid, caseworker))["deadline"] == case["deadline"]
    await stack.start_worker()
    moved = await eventually(lambda: stack.case(cid, caseworker), lambda c: c["deadline"] != case["deadline"])
    assert at(moved["deadline"]) > at(case["deadline"])
