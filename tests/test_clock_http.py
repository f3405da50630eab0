"""The clock through the API: working-day deadlines, emergencies in hours, suspension and extensions."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file
from workflows.clock import WorkCalendar, nth_workday_after

BEIJING = timedelta(hours=8)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def end_of_beijing_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) - BEIJING


async def calendar_of(stack: Stack, headers: dict[str, str], *years: int) -> WorkCalendar:
    """The town-a calendar as the API serves it, to count expected deadlines with."""
    schedules = {}
    for year in years:
        body = (await stack.http.get(f"/v1/calendar/{year}?town=town-a", headers=headers)).json()
        schedules[year] = {"year": year, "complete": body["complete"],
                           "holidays": [d["date"] for d in body["holidays"]],
                           "makeup_workdays": [d["date"] for d in body["makeup_workdays"]]}  # fmt: skip
    return WorkCalendar.model_validate({"years": schedules})


async def test_review_is_due_at_the_end_of_the_working_day_the_official_calendar_gives(stack: Stack) -> None:
    """Tomorrow (Beijing) made a town holiday and the next weekend day a make-up working day: the 2-working-day
    review at the compound counts around both, the day of filing itself not counted."""
    admin = await stack.headers("admin", None, "admin")
    caseworker = await stack.headers("caseworker", "compound-a1x")
    today = (datetime.now(UTC) + BEIJING).date()
    closure = today + timedelta(days=1)
    makeup = next(today + timedelta(days=n) for n in range(2, 9) if (today + timedelta(days=n)).weekday() >= 5)
    holidays = [{"date": closure.isoformat(), "name": "停水检修"}]
    makeup_days = [{"date": makeup.isoformat(), "name": "补班"}]
    for year in {closure.year, makeup.year}:
        body = {
            "source": "昌宁镇临时调整",
            "holidays": [d for d in holidays if d["date"].startswith(str(year))],
            "makeup_workdays": [d for d in makeup_days if d["date"].startswith(str(year))],
        }
        response = await stack.http.put(f"/v1/calendar/{year}?town=town-a", json=body, headers=admin)
        assert response.status_code == 200, response.text

    case = await stack.file(caseworker)
    filed = at(case["filed_at"])
    case = await stack.ok(case["id"], "submit", caseworker)
    cal = await calendar_of(stack, admin, today.year, today.year + 1)
    due_day, provisional = nth_workday_after(cal, (filed + BEIJING).date(), 2)
    assert closure != due_day and (closure.weekday() >= 5 or due_day > closure)
    assert at(case["deadline"]) == end_of_beijing_day(due_day)
    assert case["deadline_provisional"] is provisional
    # The same answer from the calendar's own endpoint.
    asked = await stack.http.get(
        "/v1/calendar/working-days", params={"from": today.isoformat(), "days": 2, "town": "town-a"}, headers=admin
    )
    assert asked.json()["due"] == due_day.isoformat()
    # And for a case filed on the Friday before National Day 2025 (1–8 Oct off; Sun 28 Sep and Sat 11 Oct
    # worked): 2 working days are Sun 28 and Mon 29 Sep; 5 reach Fri 10 Oct, across the holiday.
    for days, due in ((2, "2025-09-29"), (5, "2025-10-10")):
        friday: dict[str, str | int] = {"from": "2025-09-26", "days": days}
        answer = (await stack.http.get("/v1/calendar/working-days", params=friday, headers=caseworker)).json()
        assert (answer["due"], answer["provisional"]) == (due, False)


async def test_an_emergency_skips_collection_and_is_due_in_hours(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    case = await stack.file(caseworker, urgency="emergency", title="Gas smell in stairwell 2")
    assert (case["stage"], case["urgency"]) == ("reviewing", "emergency")
    assert timedelta(hours=2) <= at(case["deadline"]) - at(case["filed_at"]) < timedelta(hours=2, minutes=1)
    case = await stack.ok(case["id"], "fast-track", caseworker, assignee="燃气公司")
    assert timedelta(hours=24) <= at(case["deadline"]) - at(case["updated_at"]) <= timedelta(hours=24, seconds=1)

    # An ordinary case made urgent during review: its deadline is counted again from the review's start.
    normal = await stack.file(caseworker)
    reviewing = await stack.ok(normal["id"], "submit", caseworker)
    urgent = await stack.ok(normal["id"], "set-urgency", caseworker, urgency="urgent", reason="No water since noon")
    assert at(urgent["deadline"]) == at(reviewing["updated_at"]) + timedelta(hours=24)
    bad = await stack.act(normal["id"], "set-urgency", caseworker, {"urgency": "critical", "reason": "x"})
    assert bad.status_code == 422
    same = await stack.act(normal["id"], "set-urgency", caseworker, {"urgency": "urgent", "reason": "x"})
    assert same.status_code == 409 and "already urgent" in same.json()["detail"]
    body = {"unit": "compound-a1x", "category": "c", "title": "t", "description": "d", "reporter": {"name": "n"},
            "urgency": "whenever"}  # fmt: skip
    assert (await stack.http.post("/v1/cases", json=body, headers=caseworker)).status_code == 422


async def test_a_suspended_case_stops_its_clock_is_never_overdue_and_restarts_with_the_time_left(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """Review at the compound takes 3 "days" of a second each; the case is suspended for longer than that."""
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 3}), sla_scale=SECONDS)
    caseworker = await stack.headers("caseworker", "compound-a1x")
    supervisor = await stack.headers("supervisor", "town-a")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "submit", caseworker)
    case = await stack.ok(cid, "suspend", caseworker, reason="waiting_for_resident", note="Resident away until Friday")
    assert case["deadline"] is None and case["suspended"]["reason"] == "waiting_for_resident"
    refused = await stack.act(cid, "accept", caseworker, {"note": "n"})
    assert refused.status_code == 409 and "suspended since" in refused.json()["detail"]
    again = await stack.act(cid, "suspend", caseworker, {"reason": "other", "note": "n"})
    assert again.status_code == 409

    await asyncio.sleep(4.5)  # past the 3 s the review had
    case = await stack.case(cid, caseworker)
    assert case["tier"] == "compound" and case["escalations"] == [] and not case["overdue"]
    overdue = (await stack.http.get("/v1/supervision/overdue", headers=supervisor)).json()["items"]
    assert cid not in [row["id"] for row in overdue]

    resumed = await stack.ok(cid, "resume", caseworker, note="Resident is back")
    left = at(resumed["deadline"]) - at(resumed["updated_at"])
    assert timedelta(seconds=1.5) < left <= timedelta(seconds=3)  # the time that was left, not a fresh start
    assert [s["resumed_by"] for s in resumed["suspensions"]] == ["caseworker-compound-a1x"]
    not_suspended = await stack.act(cid, "resume", caseworker, {"note": "n"})
    assert not_suspended.status_code == 409 and "not suspended" in not_suspended.json()["detail"]
    # Now the clock runs again, and the review breaches.
    await eventually(lambda: stack.case(cid, caseworker), lambda c: c["tier"] == "community", timeout=20)


async def test_a_suspension_resumes_by_itself_at_until(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    before = await stack.ok(cid, "submit", caseworker)
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await stack.ok(cid, "suspend", caseworker, reason="waiting_for_third_party", note="Water company", until=until)
    case = await eventually(lambda: stack.case(cid, caseworker), lambda c: c["suspended"] is None, timeout=20)
    assert case["deadline"] == before["deadline"]  # resumed the same day: the same working days left
    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=caseworker)).json()["items"]
    resume = events[-1]
    assert (resume["action"], resume["actor"]["role"], resume["detail"]["automatic"]) == ("resume", "system", True)


async def _request(stack: Stack, cid: str, headers: dict[str, str], days: int) -> dict[str, Any]:
    return await stack.ok(cid, "request-extension", headers, days=days, reason="Waiting for the pipe supplier")


async def test_an_extension_is_requested_then_approved_or_denied_by_a_supervisor(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    other_town = await stack.headers("supervisor", "town-b", "龙泉街道")
    cid = (await stack.file(caseworker))["id"]
    before = await stack.ok(cid, "submit", caseworker)

    case = await _request(stack, cid, caseworker, 3)
    assert case["extension_request"]["days"] == 3 and case["deadline"] == before["deadline"]
    second = await stack.act(cid, "request-extension", caseworker, {"days": 1, "reason": "r"})
    assert second.status_code == 409 and "still pending" in second.json()["detail"]
    assert (await stack.act(cid, "decide-extension", caseworker, {"approve": True, "note": "n"})).status_code == 403
    assert (await stack.act(cid, "decide-extension", other_town, {"approve": True, "note": "n"})).status_code == 403
    too_many = await stack.act(cid, "decide-extension", supervisor, {"approve": True, "days": 4, "note": "n"})
    assert too_many.status_code == 409 and "at most the 3" in too_many.json()["detail"]

    case = await stack.ok(cid, "decide-extension", supervisor, approve=True, days=2, note="Two days, not three")
    admin = await stack.headers("admin", None, "admin")
    cal = await calendar_of(stack, admin, datetime.now(UTC).year, datetime.now(UTC).year + 1)
    old = (at(before["deadline"]) + BEIJING - timedelta(microseconds=1)).date()
    assert at(case["deadline"]) == end_of_beijing_day(nth_workday_after(cal, old, 2)[0])
    assert case["extension_request"] is None
    assert [(e["requested"], e["granted"], e["approved"]) for e in case["extensions"]] == [(3, 2, True)]

    await _request(stack, cid, caseworker, 5)
    denied = await stack.ok(cid, "decide-extension", supervisor, approve=False, note="Do it within the time")
    assert denied["deadline"] == case["deadline"] and denied["extensions"][-1]["approved"] is False

    # A supervisor who asked cannot approve their own request.
    await _request(stack, cid, supervisor, 1)
    own = await stack.act(cid, "decide-extension", supervisor, {"approve": True, "note": "n"})
    assert own.status_code == 409 and "requester" in own.json()["detail"]
    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=caseworker)).json()["items"]
    assert [(e["action"], e["result"]) for e in events if "extension" in e["action"]] == [
        ("request-extension", "applied"), ("request-extension", "rejected"),  # one pending at a time
        ("decide-extension", "rejected"), ("decide-extension", "applied"),  # 4 of 3 days; then 2 of 3
        ("request-extension", "applied"), ("decide-extension", "applied"),  # denied
        ("request-extension", "applied"), ("decide-extension", "rejected"),  # by the requester
    ]  # fmt: skip


async def test_a_supervisor_urges_grades_and_ends_supervision(stack: Stack) -> None:
    """督办 by hand, within the supervisor's jurisdiction only; it works while the case is suspended too."""
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    other_town = await stack.headers("supervisor", "town-b", "龙泉街道")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "submit", caseworker)
    assert (await stack.act(cid, "urge", caseworker, {"note": "n"})).status_code == 403
    assert (await stack.act(cid, "supervise", other_town, {"grade": "red", "note": "n"})).status_code == 403
    bad = await stack.act(cid, "supervise", supervisor, {"grade": "purple", "note": "n"})
    assert bad.status_code == 422
    none = await stack.act(cid, "end-supervision", supervisor, {"note": "n"})
    assert none.status_code == 409 and "not under supervision" in none.json()["detail"]

    case = await stack.ok(cid, "urge", supervisor, note="The hotline has had two calls")
    assert [(u["by"], u["automatic"]) for u in case["urges"]] == [("综治中心", False)]
    case = await stack.ok(cid, "supervise", supervisor, grade="yellow", note="No answer in three days")
    assert (case["supervision"]["grade"], case["supervision"]["by"]) == ("yellow", "综治中心")
    again = await stack.act(cid, "supervise", supervisor, {"grade": "yellow", "note": "n"})
    assert again.status_code == 409 and "already under yellow" in again.json()["detail"]
    await stack.ok(cid, "suspend", caseworker, reason="waiting_for_third_party", note="Water company")
    case = await stack.ok(cid, "supervise", supervisor, grade="red", note="Still nothing")
    assert case["supervision"]["grade"] == "red" and [h["grade"] for h in case["supervision_history"]] == ["yellow"]
    case = await stack.ok(cid, "end-supervision", supervisor, note="Answered")
    assert case["supervision"] is None and [h["grade"] for h in case["supervision_history"]] == ["yellow", "red"]
    assert case["supervision_history"][-1]["ended_by"] == "综治中心"


async def test_overdue_rows_carry_the_supervision_and_the_urges(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 0.5}), sla_scale=SECONDS)
    caseworker = await stack.headers("caseworker", "compound-a1x")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "submit", caseworker)
    await eventually(lambda: stack.case(cid, caseworker), lambda c: c["overdue"], timeout=30)
    await stack.ok(cid, "urge", supervisor, note="Overdue at the town")
    await stack.ok(cid, "urge", supervisor, note="Again")
    await stack.ok(cid, "supervise", supervisor, grade="yellow", note="Overdue")
    rows = (await stack.http.get("/v1/supervision/overdue", headers=supervisor)).json()["items"]
    row = next(r for r in rows if r["id"] == cid)
    # Two by hand, and the one the case gets by itself when it becomes overdue at the town.
    assert (row["urges"], row["supervision"]["grade"], row["supervision"]["by"]) == (3, "yellow", "综治中心")
    urges = (await stack.case(cid, supervisor))["urges"]
    assert [(u["automatic"], u["reason"]) for u in urges] == [(True, "overdue"), (False, None), (False, None)]
