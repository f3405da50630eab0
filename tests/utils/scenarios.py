"""Whole cases driven by HTTP, shared by the replay tests and the script that records saved histories.

Each takes a stack built with ``SCENARIO_SLA`` and returns the case id when the case has reached the end
the scenario is about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file, walk
from workflows import workflow_id
from workflows.case import CaseWorkflow
from workflows.clock import YearSchedule


def scenario_settings(directory: Path) -> dict[str, Any]:
    """Short windows and a short review deadline (seconds); everything else long."""
    return {"sla_file": sla_file(directory, **{**LONG, "announcing": 1, "reviewing": 1}), "sla_scale": SECONDS}


async def resolved(stack: Stack) -> str:
    """Every stage, one co-sign, progress, a satisfied visit."""
    worker = await stack.headers("caseworker", "community-a1", "社区两委")
    cid: str = (await stack.file(worker))["id"]
    await stack.ok(cid, "co-sign", worker, resident="李大爷")
    await walk(stack, worker, cid, "implementing")
    await stack.ok(cid, "report-progress", worker, note="Half done", percent=50)
    await stack.ok(cid, "complete", worker, summary="Done", evidence=["after.jpg"])
    await stack.ok(cid, "record-visit", worker, satisfaction="satisfied")
    return cid


async def escalated_to_overdue(stack: Stack) -> str:
    """Nobody reviews it: compound → community → town → overdue; then a supervisor extends and rejects."""
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid: str = (await stack.file(supervisor))["id"]
    await stack.ok(cid, "submit", supervisor)
    await eventually(lambda: stack.case(cid, supervisor), lambda c: c["overdue"])
    await stack.ok(cid, "extend-deadline", supervisor, days=30, reason="Waiting for the water company")
    await stack.ok(cid, "reject", supervisor, explanation="The pipe belongs to the water company; referred.")
    return cid


async def objected_and_revisited(stack: Stack) -> str:
    """Three objections reopen deliberation; two unsatisfied visits reopen and then escalate."""
    worker = await stack.headers("caseworker", "town-a", "镇干部")
    cid: str = (await stack.file(worker))["id"]
    await walk(stack, worker, cid, "announcing")
    for name in ("张三", "李四", "王五"):
        await stack.ok(cid, "object", worker, resident=name, reason="Blocks the fire lane")
    await eventually(lambda: stack.case(cid, worker), lambda c: c["stage"] == "deliberating")
    await stack.ok(cid, "decide", worker, decision="Paint lines elsewhere", assignee="物业")
    await eventually(lambda: stack.case(cid, worker), lambda c: c["stage"] == "implementing")
    await stack.ok(cid, "complete", worker, summary="Painted")
    await stack.ok(cid, "record-visit", worker, satisfaction="unsatisfied")
    await stack.ok(cid, "complete", worker, summary="Repainted")
    await stack.ok(cid, "record-visit", worker, satisfaction="unsatisfied")
    await stack.ok(cid, "escalate", worker, note="Town takes over")
    await stack.ok(cid, "complete", worker, summary="Town repainted")
    await stack.ok(cid, "record-visit", worker, satisfaction="basically_satisfied")
    return cid


async def withdrawn_after_merge(stack: Stack) -> str:
    worker = await stack.headers("caseworker", "compound-a1x")
    first: str = (await stack.file(worker))["id"]
    second = (await stack.file(worker))["id"]
    await stack.ok(second, "merge", worker, into=first)
    await stack.ok(first, "withdraw", worker, reason="Fixed by the residents themselves")
    return first


# --- the clock (v2): run under the default policy, working days and all, at full scale --------------------


async def working_days(stack: Stack) -> str:
    """Deadlines in working days through review and deliberation; a decision giving 5 working days."""
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    cid: str = (await stack.file(worker))["id"]
    await walk(stack, worker, cid, "announcing")
    await stack.ok(cid, "extend-deadline", await stack.headers("supervisor", "town-a"), days=2, reason="Holiday")
    return cid


async def emergency(stack: Stack) -> str:
    """Filed as an emergency: no collection window, review in hours, fast-tracked, fixed, visited."""
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    cid: str = (await stack.file(worker, urgency="emergency", title="Gas smell in stairwell 2"))["id"]
    await stack.ok(cid, "fast-track", worker, assignee="燃气公司", note="Valve closed, repair today")
    await stack.ok(cid, "complete", worker, summary="Pipe joint replaced")
    await stack.ok(cid, "record-visit", worker, satisfaction="satisfied")
    return cid


async def suspended_and_resumed(stack: Stack) -> str:
    """Suspended and resumed by hand; suspended again until a moment that passes, and resumed by itself."""
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    cid: str = (await stack.file(worker))["id"]
    await stack.ok(cid, "submit", worker)
    await stack.ok(cid, "set-urgency", worker, urgency="urgent", reason="No water on floors 5-8")
    await stack.ok(cid, "suspend", worker, reason="waiting_for_resident", note="Resident away")
    await stack.ok(cid, "resume", worker, note="Resident back")
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    await stack.ok(cid, "suspend", worker, reason="waiting_for_third_party", note="Water company", until=until)
    await eventually(lambda: stack.case(cid, worker), lambda c: c["suspended"] is None)
    await stack.ok(cid, "accept", worker, note="Water company has answered")
    return cid


async def extensions(stack: Stack) -> str:
    """An extension requested and approved for fewer days, another requested and denied."""
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid: str = (await stack.file(worker))["id"]
    await stack.ok(cid, "submit", worker)
    await stack.ok(cid, "request-extension", worker, days=3, reason="Waiting for the pipe supplier")
    await stack.ok(cid, "decide-extension", supervisor, approve=True, days=2, note="Two days")
    await stack.ok(cid, "request-extension", worker, days=5, reason="Still waiting")
    await stack.ok(cid, "decide-extension", supervisor, approve=False, note="Do it within the time")
    return cid


async def calendar_updated(stack: Stack) -> str:
    """A day inside the running deadline becomes a town holiday: the case is counted again on the new calendar."""
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    cid: str = (await stack.file(worker))["id"]
    case = await stack.ok(cid, "submit", worker)
    deadline = datetime.fromisoformat(case["deadline"])
    closure = (deadline - timedelta(hours=16)).date()  # the deadline's own (Beijing) day
    schedule = YearSchedule(year=closure.year, complete=False, holidays=[closure])
    handle = stack.temporal.get_workflow_handle(workflow_id(cid))
    await handle.execute_update(CaseWorkflow.calendar, schedule)
    moved = await stack.case(cid, worker)
    assert moved["deadline"] > case["deadline"], (case["deadline"], moved["deadline"])
    return cid


async def supervised(stack: Stack) -> str:
    """督办 by hand: urged, put under yellow then red supervision (also while suspended), then ended."""
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid: str = (await stack.file(worker))["id"]
    await stack.ok(cid, "submit", worker)
    await stack.ok(cid, "urge", supervisor, note="Residents have called the hotline twice")
    await stack.ok(cid, "supervise", supervisor, grade="yellow", note="Three days without an answer")
    await stack.ok(cid, "suspend", worker, reason="waiting_for_third_party", note="Water company")
    await stack.ok(cid, "supervise", supervisor, grade="red", note="Still nothing")
    await stack.ok(cid, "resume", worker, note="Water company answered")
    await stack.ok(cid, "end-supervision", supervisor, note="Accepted for deliberation")
    await stack.ok(cid, "accept", worker, note="On the agenda")
    return cid


# --- between tiers (v2) ----------------------------------------------------------------------------------


async def dispatched_and_returned(stack: Stack) -> str:
    """The town dispatches a case to a compound of another community; it returns it as not its remit; the
    town overrules; the compound claims it and handles it to the end."""
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    community = await stack.headers("caseworker", "community-a1", "社区两委")
    town = await stack.headers("caseworker", "town-a", "镇综治中心")
    other = await stack.headers("caseworker", "compound-a2x", "实成物业")
    cid: str = (await stack.file(compound, title="Street lamp out on the service road"))["id"]
    await stack.ok(cid, "submit", compound)
    await stack.ok(cid, "escalate", compound, note="Lamp belongs to the road authority")
    await stack.ok(cid, "escalate", community, note="Needs the town")
    await stack.ok(cid, "dispatch", town, to_unit="compound-a2x", note="The service road is 实成's")
    await stack.ok(cid, "return", other, reason="not_our_remit", explanation="The lamp is on 云台府's side")
    await stack.ok(cid, "rule-return", town, upheld=False, note="The survey map puts it on 实成's road")
    await stack.ok(cid, "claim", other)
    await stack.ok(cid, "fast-track", other, assignee="实成物业电工", due_in_days=2)
    await stack.ok(cid, "complete", other, summary="Lamp replaced")
    await stack.ok(cid, "record-visit", other, satisfaction="satisfied")
    return cid


async def carded_by_itself(stack: Stack) -> str:
    """Unclaimed past its claim deadline (urged), then nobody reviews it: it climbs to the town, becomes
    overdue there (urged), and gets a yellow then a red card by itself; then a supervisor rejects it."""
    resident = await stack.headers("resident", "compound-a1x", "王阿姨")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid: str = (await stack.file(resident, urgency="normal"))["id"]
    await eventually(lambda: stack.case(cid, supervisor), lambda c: c["claims_overdue"] == 1, timeout=30)
    await stack.ok(cid, "submit", supervisor)
    await eventually(
        lambda: stack.case(cid, supervisor), lambda c: (c["supervision"] or {}).get("grade") == "red", timeout=60
    )
    await stack.ok(cid, "reject", supervisor, explanation="Referred to the water company")
    return cid


def carding_settings(directory: Path) -> dict[str, Any]:
    """Seconds: a 1 s claim, a 0.5 s review at each tier, cards after 2 and 4 s overdue at the town."""
    extra = {"claim": "1d", "yellow_card_after": "2d", "red_card_after": "4d"}
    return {"sla_file": sla_file(directory, extra, **{**LONG, "reviewing": 0.5}), "sla_scale": SECONDS}


# --- telling people (v2) ---------------------------------------------------------------------------------


async def deadline_warning(stack: Stack) -> str:
    """预警: warned once that its review deadline is approaching, then accepted in time."""
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    cid: str = (await stack.file(worker))["id"]
    await stack.ok(cid, "submit", worker)

    async def actions() -> list[str]:
        events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=worker)).json()["items"]
        return [e["action"] for e in events]

    await eventually(actions, lambda done: "deadline-approaching" in done)
    await stack.ok(cid, "accept", worker, note="On the agenda before the deadline")
    return cid


def warning_settings(directory: Path) -> dict[str, Any]:
    """Seconds: a 4 s review, warned with 2 s left; everything else long (its warnings far off)."""
    return {"sla_file": sla_file(directory, {"warn_before": "2d"}, **{**LONG, "reviewing": 4}), "sla_scale": SECONDS}


SCENARIOS: dict[str, Callable[[Stack], Awaitable[str]]] = {
    "resolved": resolved,
    "escalated_to_overdue": escalated_to_overdue,
    "objected_and_revisited": objected_and_revisited,
    "withdrawn_after_merge": withdrawn_after_merge,
}
CLOCK_SCENARIOS: dict[str, Callable[[Stack], Awaitable[str]]] = {
    "working_days": working_days,
    "emergency": emergency,
    "suspended_and_resumed": suspended_and_resumed,
    "extensions": extensions,
    "calendar_updated": calendar_updated,
    "supervised": supervised,
}
TIER_SCENARIOS: dict[str, Callable[[Stack], Awaitable[str]]] = {
    "dispatched_and_returned": dispatched_and_returned,
    "carded_by_itself": carded_by_itself,
}
WARNING_SCENARIOS: dict[str, Callable[[Stack], Awaitable[str]]] = {
    "deadline_warning": deadline_warning,
}
ALL_SCENARIOS = {**SCENARIOS, **CLOCK_SCENARIOS, **TIER_SCENARIOS, **WARNING_SCENARIOS}


def settings_for(name: str, directory: Path) -> dict[str, Any]:
    """The v1-era scenarios run on short windows; the clock's on the default policy as filed today; the
    automatic cards' and the deadline warning's on seconds."""
    if name == "carded_by_itself":
        return carding_settings(directory)
    if name in WARNING_SCENARIOS:
        return warning_settings(directory)
    return scenario_settings(directory) if name in SCENARIOS else {}
