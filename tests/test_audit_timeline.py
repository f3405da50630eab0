"""How the timeline joins the history's records to the replayed events, including the rare records that
changed nothing: a command refused by the handler after it was accepted, a timer whose deadline had moved,
a calendar update that moved no deadline; and how the clock's events read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from temporalio.client import WorkflowHistory

from audit.check import CaseHistories
from audit.facts import read_run
from audit.replay import RunCapture, replay_cases
from audit.timeline import run_timeline
from core.codec import Keyring
from core.tables import CaseRecord
from core.temporal import converter_for
from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file
from workflows import workflow_id
from workflows.case import CaseWorkflow
from workflows.clock import YearSchedule

RESOLVED = Path(__file__).parent / "histories" / "resolved.json"


async def replayed_resolved() -> tuple[WorkflowHistory, RunCapture]:
    history = WorkflowHistory.from_json("case-resolved", RESOLVED.read_text())

    async def one() -> AsyncIterator[CaseHistories]:
        yield CaseHistories("case-resolved", [history])

    converter = converter_for(Keyring.generate())  # the saved history is plaintext: any keys read it
    ((_, (run,)),) = [item async for item in replay_cases(one(), data_converter=converter)]
    assert run.failure is None
    return history, run.capture


async def test_every_record_is_joined_to_the_event_it_caused() -> None:
    history, capture = await replayed_resolved()
    timeline = run_timeline(read_run(history), capture)
    assert [e.seq for e in timeline] == list(range(1, 11))
    assert [(e.kind, e.action) for e in timeline][:3] == [("filing", "file"), ("command", "co-sign"),
                                                          ("command", "submit")]  # fmt: skip
    period = next(e for e in timeline if e.kind == "deadline")
    assert period.action == "objection-period-ended" and period.timer is not None
    assert period.timer.fired_at <= period.at and period.to_stage == "implementing"
    assert all(e.result == "applied" and e.update_id for e in timeline if e.kind == "command")


async def test_records_that_changed_nothing_say_so() -> None:
    history, capture = await replayed_resolved()
    facts = read_run(history)
    # As if the handler had refused the co-sign after accepting it, and the deadline had moved before the
    # objection period's timer fired: the history keeps both records, the workflow made no event of them.
    co_sign = next(u for u in facts.updates if u.command and u.command.body.action == "co-sign")
    co_sign.outcome, co_sign.reason = "rejected", "李大爷 has already co-signed this case"
    period_ended = next(seq for seq, e in capture.events.items() if e.action == "objection-period-ended")
    del capture.events[2], capture.events[period_ended]

    timeline = run_timeline(facts, capture)
    refused = next(e for e in timeline if e.action == "co-sign")
    assert (refused.result, refused.seq, refused.reason) == ("rejected", None, "李大爷 has already co-signed this case")
    assert refused.actor.name == "社区两委" and refused.arguments == {"resident": "李大爷"}
    idle = next(e for e in timeline if e.kind == "deadline")
    assert (idle.action, idle.result, idle.seq) == ("timer-fired", "no_change", None) and idle.timer is not None
    assert [e.seq for e in timeline if e.seq] == [s for s in range(1, 11) if s not in (2, period_ended)]


# --- the clock: each of its events reads as what it is, from the history alone ------------------------------


async def audit(stack: Stack, case_id: str) -> dict[str, Any]:
    auditor = await stack.headers("auditor", None, "纪检监察组")
    response = await stack.http.post(f"/v1/audit/cases/{case_id}/replay", headers=auditor)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert report["deterministic"] is True and report["error"] is None, report["error"]
    return report


def first_working_day_after(case: dict[str, Any]) -> date:
    """The first day a working-day deadline counts: the next Monday–Friday after the day the clock started
    (Beijing; the case carries no official schedule yet)."""
    day = (datetime.fromisoformat(case["updated_at"]) + timedelta(hours=8)).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def test_the_clock_reads_as_what_it_did(stack: Stack) -> None:
    """A calendar change that moved the deadline and one that did not, an urgency change, a suspension
    resumed by hand and one that resumed by itself, an extension asked for and granted: one entry each."""
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid = (await stack.file(caseworker))["id"]
    reviewing = await stack.ok(cid, "submit", caseworker)
    holiday = first_working_day_after(reviewing)
    schedule = YearSchedule(year=holiday.year, complete=False, holidays=[holiday])
    handle = stack.temporal.get_workflow_handle(workflow_id(cid))
    moved = await handle.execute_update(CaseWorkflow.calendar, schedule)
    assert moved.deadline is not None and moved.deadline > datetime.fromisoformat(reviewing["deadline"])
    await handle.execute_update(CaseWorkflow.calendar, schedule)  # the same again: nothing moves
    await stack.ok(cid, "set-urgency", caseworker, urgency="complex", reason="Three owners must agree")
    await stack.ok(cid, "accept", caseworker, note="Within the compound's reach")
    await stack.ok(cid, "suspend", caseworker, reason="waiting_for_resident", note="Resident away until Friday")
    await stack.ok(cid, "resume", caseworker, note="Resident is back")
    await stack.ok(cid, "request-extension", caseworker, days=2, reason="Waiting for the pipe supplier")
    await stack.ok(cid, "decide-extension", supervisor, approve=True, note="Two days")
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await stack.ok(cid, "suspend", caseworker, reason="waiting_for_third_party", note="Water company", until=until)
    final = await eventually(lambda: stack.case(cid, caseworker), lambda c: c["suspended"] is None, timeout=20)

    report = await audit(stack, cid)
    assert report["matches_read_model"] is True, report["mismatches"]
    timeline = report["timeline"]
    assert [(e["kind"], e["action"], e["actor"]["name"], e["result"], e["seq"]) for e in timeline] == [
        ("filing", "file", "网格员小李", "applied", 1),
        ("command", "submit", "网格员小李", "applied", 2),
        ("calendar", "calendar-updated", "linli", "applied", 3),
        ("calendar", "calendar-updated", "linli", "no_change", None),
        ("command", "set-urgency", "网格员小李", "applied", 4),
        ("command", "accept", "网格员小李", "applied", 5),
        ("command", "suspend", "网格员小李", "applied", 6),
        ("command", "resume", "网格员小李", "applied", 7),
        ("command", "request-extension", "网格员小李", "applied", 8),
        ("command", "decide-extension", "综治中心", "applied", 9),
        ("command", "suspend", "网格员小李", "applied", 10),
        ("deadline", "resume", "linli", "applied", 11),
    ]  # fmt: skip
    retimed, unchanged = timeline[2], timeline[3]
    assert retimed["arguments"]["holidays"] == [holiday.isoformat()] and retimed["update_id"]
    assert retimed["detail"]["year"] == holiday.year and retimed["detail"]["provisional"] is True
    assert datetime.fromisoformat(retimed["detail"]["old_deadline"]) == datetime.fromisoformat(reviewing["deadline"])
    assert datetime.fromisoformat(retimed["detail"]["new_deadline"]) == moved.deadline
    assert unchanged["reason"] == "the case's deadline did not move" and unchanged["detail"] == {}
    assert timeline[4]["arguments"] == {"urgency": "complex", "reason": "Three owners must agree"}
    suspend, resume = timeline[6], timeline[7]
    assert suspend["arguments"] == {"reason": "waiting_for_resident", "note": "Resident away until Friday"}
    assert resume["arguments"] == {"note": "Resident is back"} and "suspended_for_minutes" in resume["detail"]
    assert timeline[8]["arguments"] == {"days": 2, "reason": "Waiting for the pipe supplier"}
    assert timeline[9]["arguments"] == {"approve": True, "note": "Two days"}
    automatic = timeline[11]
    assert automatic["detail"]["automatic"] is True and automatic["actor"]["role"] == "system"
    assert automatic["timer"] is not None and automatic["timer"]["fired_at"] <= automatic["at"]
    state = report["final_state"]
    as_auditors_see_it = await stack.case(cid, await stack.headers("auditor", None))  # the phone masked
    assert state == as_auditors_see_it and state["urgency"] == "complex" and state["suspended"] is None
    assert [(s["reason"], s["resumed_by"]) for s in state["suspensions"]] == [
        ("waiting_for_resident", "网格员小李"), ("waiting_for_third_party", "linli"),
    ]  # fmt: skip
    assert [(e["requested"], e["granted"], e["by"]) for e in state["extensions"]] == [(2, 2, "综治中心")]

    # Replay checks the clock's columns too: the read model altered, the audit names each one.
    async with stack.engine.begin() as db:
        await db.execute(
            update(CaseRecord)
            .where(col(CaseRecord.id) == cid)
            .values(urgency="normal", suspended=True, deadline_provisional=not final["deadline_provisional"])
        )
    report = await audit(stack, cid)
    assert report["matches_read_model"] is False
    assert {(m["field"], m["history"], m["read_model"]) for m in report["mismatches"]} == {
        ("urgency", "complex", "normal"), ("suspended", False, True),
        ("deadline_provisional", final["deadline_provisional"], not final["deadline_provisional"]),
    }  # fmt: skip


async def test_a_breach_says_the_extension_request_it_overtook(make_stack: StackFactory, tmp_path: Path) -> None:
    """A request still pending when the deadline passes does not stop the breach; the breach records it."""
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1}), sla_scale=SECONDS)
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "submit", caseworker)
    await stack.ok(cid, "request-extension", caseworker, days=3, reason="Waiting for the pipe supplier")
    await eventually(lambda: stack.case(cid, caseworker), lambda c: c["tier"] == "community")

    report = await audit(stack, cid)
    assert report["matches_read_model"] is True, report["mismatches"]
    breach = next(e for e in report["timeline"] if e["action"] == "sla-breach")
    assert (breach["kind"], breach["seq"], breach["detail"]["extension_request_lapsed"]) == ("deadline", 4, 3)
    assert breach["escalation"]["reason"] == "sla_breach" and breach["timer"] is not None
