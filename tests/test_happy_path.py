"""A caseworker takes a resident's issue through every step by HTTP alone."""

from __future__ import annotations

from tests.utils.stack import Stack


async def test_full_happy_path(stack: Stack) -> None:
    worker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    case = await stack.file(worker)
    assert (case["stage"], case["tier"], case["status"]) == ("collecting", "compound", "open")
    assert case["handling_unit"] == "compound-a1x" and case["number"].endswith("000001")
    cid = case["id"]

    case = await stack.ok(cid, "co-sign", worker, resident="李大爷")
    assert case["co_signers"] == ["李大爷"]
    case = await stack.ok(cid, "submit", worker)
    assert case["stage"] == "reviewing"
    case = await stack.ok(cid, "accept", worker, note="Needs the property company and the owners' committee")
    assert case["stage"] == "deliberating"
    case = await stack.ok(
        cid, "record-meeting", worker, held_at="2026-11-20T19:30:00+08:00",
        participants=["党支部", "业委会", "物业", "志愿者"], minutes="Agreed to dredge the drain.",
    )  # fmt: skip
    case = await stack.ok(cid, "decide", worker, decision="Property company dredges the drain", assignee="物业")
    assert case["stage"] == "announcing" and case["decision"] == "Property company dredges the drain"
    # The objection period is days long here, so the caseworker waits; a supervisor could also shorten it.
    assert case["deadline"] is not None

    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=worker)).json()["items"]
    assert [e["action"] for e in events] == ["file", "co-sign", "submit", "accept", "record-meeting", "decide"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[3]["from_stage"] == "reviewing" and events[3]["to_stage"] == "deliberating"
    assert events[3]["actor"]["name"] == "网格员小李"
