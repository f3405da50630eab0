"""A caseworker takes a resident's issue through every step by HTTP alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, eventually, sla_file
from workflows import workflow_id


@pytest.mark.parametrize("sandboxed", [False, True], ids=["worker-unsandboxed", "worker-sandboxed"])
async def test_full_happy_path(make_stack: StackFactory, tmp_path: Path, sandboxed: bool) -> None:
    # Real-length deadlines, except the objection period (2 s) so the test can see it end.
    policy = sla_file(tmp_path, **{**LONG, "announcing": 2})
    stack = await make_stack(sla_file=policy, sla_scale=SECONDS, workflow_sandbox=sandboxed)
    worker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    case = await stack.file(worker, channel="say_it_wall")
    assert (case["stage"], case["tier"], case["status"]) == ("collecting", "compound", "open")
    assert case["handling_unit"] == "compound-a1x" and case["number"].endswith("-000001")
    cid = case["id"]

    case = await stack.ok(cid, "co-sign", worker, resident="李大爷")
    assert case["co_signers"] == ["李大爷"]
    assert (await stack.ok(cid, "submit", worker))["stage"] == "reviewing"
    case = await stack.ok(cid, "accept", worker, note="Needs the property company and the owners' committee")
    assert case["stage"] == "deliberating"
    case = await stack.ok(
        cid, "record-meeting", worker, held_at="2026-11-20T19:30:00+08:00",
        participants=["党支部", "业委会", "物业", "志愿者"], minutes="Agreed to dredge the drain.",
    )  # fmt: skip
    assert case["meetings"][0]["participants"] == ["党支部", "业委会", "物业", "志愿者"]
    case = await stack.ok(cid, "decide", worker, decision="物业 dredges the drain", assignee="物业", due_in_days=100)
    assert (case["stage"], case["decision"], case["assignee"]) == ("announcing", "物业 dredges the drain", "物业")

    # No objections: when the period ends the case moves to implementing by itself, with the decision's deadline.
    case = await eventually(lambda: stack.case(cid, worker), lambda c: c["stage"] == "implementing")
    case = await stack.ok(cid, "report-progress", worker, note="Contractor booked", percent=30)
    assert case["progress"][0]["percent"] == 30
    case = await stack.ok(cid, "complete", worker, summary="Drain dredged", evidence=["before.jpg", "after.jpg"])
    assert case["stage"] == "follow_up" and case["completion"]["evidence"] == ["before.jpg", "after.jpg"]
    case = await stack.ok(cid, "record-visit", worker, satisfaction="basically_satisfied", comment="OK now")
    assert (case["stage"], case["status"], case["outcome"]) == ("closed", "closed", "resolved")
    assert case["satisfaction"] == "basically_satisfied" and case["deadline"] is None

    assert await stack.case(cid, worker) == case  # the read model holds exactly what the workflow answered
    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=worker)).json()["items"]
    assert [e["action"] for e in events] == [
        "file", "co-sign", "submit", "accept", "record-meeting", "decide",
        "objection-period-ended", "report-progress", "complete", "record-visit",
    ]  # fmt: skip
    assert [e["seq"] for e in events] == list(range(1, 11))
    assert events[3]["from_stage"] == "reviewing" and events[3]["to_stage"] == "deliberating"
    assert events[3]["actor"]["name"] == "网格员小李" and events[6]["actor"]["role"] == "system"

    handle = stack.temporal.get_workflow_handle(workflow_id(cid))
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    query = f"CaseStage = 'closed' AND CaseUnit = 'compound-a1x' AND TaskQueue = '{stack.settings.task_queue}'"
    listed = [w.id async for w in stack.temporal.list_workflows(query)]
    assert listed == [workflow_id(cid)]


async def test_fast_track_goes_straight_to_implementing(stack) -> None:
    worker = await stack.headers("caseworker", "community-a1")
    cid = (await stack.file(worker, unit="compound-a1y"))["id"]
    await stack.ok(cid, "submit", worker)
    case = await stack.ok(cid, "fast-track", worker, assignee="电工老张", due_in_days=2, note="Lamp bulb only")
    assert (case["stage"], case["assignee"]) == ("implementing", "电工老张")
    filed_to_due = (case["deadline"], case["updated_at"])
    assert filed_to_due[0] > filed_to_due[1]
    case = await stack.ok(cid, "complete", worker, summary="Bulb replaced")
    case = await stack.ok(cid, "record-visit", worker, satisfaction="satisfied")
    assert case["outcome"] == "resolved"


async def test_reject_gives_the_resident_an_explanation(stack) -> None:
    worker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(worker))["id"]
    await stack.ok(cid, "submit", worker)
    case = await stack.ok(cid, "reject", worker, explanation="The wall belongs to the railway; we have told them.")
    assert (case["status"], case["outcome"]) == ("closed", "rejected")
    assert case["explanation"] == "The wall belongs to the railway; we have told them."


async def test_collection_window_closes_by_itself(make_stack, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "collecting": 1}), sla_scale=SECONDS)
    worker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(worker))["id"]
    case = await eventually(lambda: stack.case(cid, worker), lambda c: c["stage"] == "reviewing")
    assert case["tier"] == "compound" and not case["escalations"]
    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=worker)).json()["items"]
    assert events[-1]["action"] == "collection-closed" and events[-1]["actor"]["id"] == "system"


async def test_withdraw_and_merge_close_the_case(stack) -> None:
    worker = await stack.headers("caseworker", "compound-a1x")
    first = (await stack.file(worker))["id"]
    duplicate = (await stack.file(worker, title="Drain blocked again"))["id"]
    case = await stack.ok(duplicate, "merge", worker, into=first)
    assert (case["outcome"], case["merged_into"]) == ("merged", first)
    case = await stack.ok(first, "withdraw", worker, reason="The resident fixed it with neighbours")
    assert case["outcome"] == "withdrawn"
