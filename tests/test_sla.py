"""Deadlines that nobody meets: escalation up the tiers, overdue at the town, objections, follow-up visits.

Durations come from a policy file under ``sla_scale=SECONDS``, so a policy "day" lasts one second.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, eventually, sla_file, walk


async def test_review_breach_escalates_to_community_then_town_then_overdue(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1.5}), sla_scale=SECONDS)
    town = await stack.headers("supervisor", "town-a", "综治中心")
    cid = (await stack.file(town))["id"]
    await stack.ok(cid, "submit", town)

    case = await eventually(lambda: stack.case(cid, town), lambda c: c["overdue"], timeout=30)
    assert (case["stage"], case["tier"], case["handling_unit"]) == ("reviewing", "town", "town-a")
    assert [(e["from_tier"], e["to_tier"], e["reason"], e["by"]) for e in case["escalations"]] == [
        ("compound", "community", "sla_breach", "linli"),
        ("community", "town", "sla_breach", "linli"),
    ]
    assert case["status"] == "open" and case["deadline"] is not None  # the missed deadline stays visible

    listed = (await stack.http.get("/v1/cases?overdue=true", headers=town)).json()["items"]
    assert [c["id"] for c in listed] == [cid]
    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=town)).json()["items"]
    assert [e["action"] for e in events][-3:] == ["sla-breach", "sla-breach", "overdue"]

    # Acting on it clears the flag: the town accepts it and a fresh deadline starts.
    case = await stack.ok(cid, "accept", town, note="Town centre takes it")
    assert (case["stage"], case["overdue"]) == ("deliberating", False)


async def test_supervisor_extends_the_deadline(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 3}), sla_scale=SECONDS)
    supervisor = await stack.headers("supervisor", "community-a1")
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    before = await stack.ok(cid, "submit", caseworker)
    assert (await stack.act(cid, "extend-deadline", caseworker, {"days": 1, "reason": "x"})).status_code == 403
    case = await stack.ok(cid, "extend-deadline", supervisor, days=100, reason="Waiting for the pipe supplier")
    assert case["deadline"] > before["deadline"] and case["tier"] == "compound"
    # Past the original 3 s deadline nothing escalates: the timer was re-armed on the new one.
    await asyncio.sleep(4)
    assert (await stack.case(cid, caseworker))["escalations"] == []


async def test_manual_escalation_moves_the_case_up_with_a_note(stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x", "楼栋长")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "submit", caseworker)
    case = await stack.ok(cid, "escalate", caseworker, note="Needs the water company: beyond the compound")
    assert (case["tier"], case["handling_unit"], case["stage"]) == ("community", "community-a1", "reviewing")
    assert case["escalations"][0]["reason"] == "manual" and case["escalations"][0]["by"] == "楼栋长"
    # The compound no longer handles it: its caseworker can read it but not act on it.
    assert (await stack.act(cid, "accept", caseworker, {"note": "x"})).status_code == 403
    assert (await stack.case(cid, caseworker))["tier"] == "community"


async def test_three_objections_send_the_decision_back_to_deliberation(make_stack, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "announcing": 2}), sla_scale=SECONDS)
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    await walk(stack, caseworker, cid, "announcing")
    for name in ("张三", "李四", "王五"):
        resident = await stack.headers("resident", "compound-a1x", name)
        await stack.ok(cid, "object", resident, resident=name, reason="The new parking lines block the fire lane")
    second = await stack.act(cid, "object", resident, {"resident": "王五", "reason": "again"})
    assert second.status_code == 409 and "already objected" in second.json()["detail"]

    case = await eventually(lambda: stack.case(cid, caseworker), lambda c: c["stage"] != "announcing")
    assert case["stage"] == "deliberating" and len(case["objections"]) == 3
    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=caseworker)).json()["items"]
    ended = [e for e in events if e["action"] == "objection-period-ended"]
    assert ended[0]["detail"] == {"objections": 3, "threshold": 3}


async def test_two_objections_do_not_stop_the_decision(make_stack, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "announcing": 2}), sla_scale=SECONDS)
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    await walk(stack, caseworker, cid, "announcing")
    for name in ("张三", "李四"):
        await stack.ok(cid, "object", caseworker, resident=name, reason="Too expensive")
    case = await eventually(lambda: stack.case(cid, caseworker), lambda c: c["stage"] != "announcing")
    assert case["stage"] == "implementing"


async def test_unsatisfied_visit_reopens_then_the_second_escalates(make_stack, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "announcing": 1}), sla_scale=SECONDS)
    caseworker = await stack.headers("caseworker", "community-a1")
    cid = (await stack.file(caseworker))["id"]
    await walk(stack, caseworker, cid, "follow_up")

    case = await stack.ok(cid, "record-visit", caseworker, satisfaction="unsatisfied", comment="Still smells")
    assert (case["stage"], case["tier"], case["reopened"]) == ("implementing", "compound", 1)
    await stack.ok(cid, "complete", caseworker, summary="Pipe replaced")
    case = await stack.ok(cid, "record-visit", caseworker, satisfaction="unsatisfied", comment="Still smells")
    assert (case["stage"], case["tier"], case["reopened"]) == ("implementing", "community", 2)
    assert case["escalations"][-1]["reason"] == "unsatisfied_visit"
    assert [v["satisfaction"] for v in case["visits"]] == ["unsatisfied", "unsatisfied"]
    await stack.ok(cid, "complete", caseworker, summary="Community had the sewer relined")
    case = await stack.ok(cid, "record-visit", caseworker, satisfaction="satisfied")
    assert (case["outcome"], case["satisfaction"]) == ("resolved", "satisfied")
