"""Commands the case's state does not allow: 409 with a reason, nothing changed, and an audit line."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.utils.stack import Stack, walk

MEETING = {"held_at": "2026-11-20T19:30:00+08:00", "participants": ["物业"], "minutes": "m"}

# (stage the case is in, action, body, a phrase the reason must contain)
INVALID: list[tuple[str, str, dict[str, Any], str]] = [
    ("collecting", "accept", {"note": "n"}, "only when reviewing"),
    ("collecting", "decide", {"decision": "d", "assignee": "a"}, "only when deliberating"),
    ("collecting", "co-sign", {"resident": "王阿姨"}, "reporter cannot co-sign"),
    ("collecting", "merge", {"into": "SELF"}, "into itself"),
    ("reviewing", "submit", {}, "only when collecting"),
    ("reviewing", "complete", {"summary": "s"}, "only when implementing"),
    ("reviewing", "record-visit", {"satisfaction": "satisfied"}, "only when follow_up"),
    ("deliberating", "decide", {"decision": "d", "assignee": "a"}, "record the deliberation meeting"),
    ("deliberating", "object", {"resident": "x", "reason": "r"}, "only when announcing"),
    ("deliberating", "fast-track", {"assignee": "a"}, "only when reviewing"),
    ("announcing", "record-meeting", MEETING, "only when deliberating"),
    ("announcing", "report-progress", {"note": "n"}, "only when implementing"),
]


@pytest.mark.parametrize(("stage", "action", "body", "reason"), INVALID, ids=[f"{a}@{s}" for s, a, _, _ in INVALID])
async def test_invalid_command_is_409_with_reason_and_changes_nothing(
    stack: Stack, stage: str, action: str, body: dict[str, Any], reason: str
) -> None:
    caseworker = await stack.headers("caseworker", "town-a", "镇综治中心")
    cid = (await stack.file(caseworker))["id"]
    if stage != "collecting":
        await walk(stack, caseworker, cid, stage)
    before = await stack.case(cid, caseworker)
    body = {k: (cid if v == "SELF" else v) for k, v in body.items()}

    response = await stack.act(cid, action, caseworker, body)
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "invalid_transition"
    assert reason in response.json()["detail"]
    assert await stack.case(cid, caseworker) == before

    events = (await stack.http.get(f"/v1/cases/{cid}/events", headers=caseworker)).json()["items"]
    rejected = events[-1]
    assert (rejected["result"], rejected["action"], rejected["seq"]) == ("rejected", action, None)
    assert reason in rejected["reason"] and rejected["actor"]["name"] == "镇综治中心"


async def test_escalating_past_the_town_is_refused(stack: Stack) -> None:
    town = await stack.headers("caseworker", "town-a")
    cid = (await stack.file(town))["id"]
    await stack.ok(cid, "escalate", town, note="to community")
    await stack.ok(cid, "escalate", town, note="to town")
    response = await stack.act(cid, "escalate", town, {"note": "higher"})
    assert response.status_code == 409 and "top tier" in response.json()["detail"]


async def test_commands_on_a_closed_case_are_409(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "withdraw", caseworker, reason="resolved informally")
    response = await stack.act(cid, "co-sign", caseworker, {"resident": "李四"})
    assert response.status_code == 409 and "closed" in response.json()["detail"]


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("accept", {}),  # missing note
        ("accept", {"note": ""}),  # empty note
        ("accept", {"note": "n", "extra": 1}),  # unknown field
        ("fast-track", {"assignee": "a", "due_in_days": -1}),
        ("record-visit", {"satisfaction": "delighted"}),
        ("report-progress", {"note": "n", "percent": 101}),
        ("record-meeting", {"held_at": "yesterday", "participants": ["a"], "minutes": "m"}),
        ("extend-deadline", {"days": 0, "reason": "r"}),
    ],
)
async def test_bad_body_is_422_and_changes_nothing(stack: Stack, action: str, body: dict[str, Any]) -> None:
    supervisor = await stack.headers("supervisor", "town-a")
    cid = (await stack.file(supervisor))["id"]
    await stack.ok(cid, "submit", supervisor)
    before = await stack.case(cid, supervisor)
    response = await stack.act(cid, action, supervisor, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert await stack.case(cid, supervisor) == before


async def test_bad_filings_are_422(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "town-a")
    good = {"unit": "compound-a1x", "category": "c", "title": "t", "description": "d", "reporter": {"name": "n"}}
    for bad in (
        {**good, "unit": "community-a1"},  # not a compound
        {**good, "unit": "nowhere"},
        {**good, "title": ""},
        {**good, "reporter": {"name": "n", "phone": "call me"}},
        {**good, "channel": "pigeon"},
        {k: v for k, v in good.items() if k != "reporter"},
    ):
        response = await stack.http.post("/v1/cases", json=bad, headers=caseworker)
        assert response.status_code == 422, (bad, response.text)
    response = await stack.http.post("/v1/cases", content=b"{not json", headers=caseworker)
    assert response.status_code == 422
    assert (await stack.http.get("/v1/cases", headers=caseworker)).json()["items"] == []


async def test_unknown_case_is_404(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "town-a")
    assert (await stack.http.get("/v1/cases/nope", headers=caseworker)).status_code == 404
    response = await stack.act("nope", "submit", caseworker)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


async def test_filing_with_an_idempotency_key_returns_the_same_case(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    body = {"unit": "compound-a1x", "category": "lighting", "title": "Lamp out at gate 2",
            "description": "Dark since Monday", "reporter": {"name": "赵叔"}}  # fmt: skip
    headers = {**caseworker, "Idempotency-Key": "visit-2026-11-21-001"}
    responses = await asyncio.gather(*(stack.http.post("/v1/cases", json=body, headers=headers) for _ in range(5)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    again = await stack.http.post("/v1/cases", json=body, headers=headers)
    assert again.json()["id"] == responses[0].json()["id"]
    assert len((await stack.http.get("/v1/cases", headers=caseworker)).json()["items"]) == 1

    changed = await stack.http.post("/v1/cases", json={**body, "title": "Other"}, headers=headers)
    assert changed.status_code == 409 and changed.json()["error"] == "idempotency_conflict"


async def test_a_command_retried_with_its_key_is_applied_once(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    headers = {**caseworker, "Idempotency-Key": "cosign-1"}
    first = await stack.act(cid, "co-sign", headers, {"resident": "李四"})
    retry = await stack.act(cid, "co-sign", headers, {"resident": "李四"})
    assert first.status_code == retry.status_code == 200
    assert retry.json()["co_signers"] == ["李四"] and retry.json()["version"] == first.json()["version"]


async def test_a_command_key_reused_for_another_command_is_409(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid, other = (await stack.file(caseworker))["id"], (await stack.file(caseworker))["id"]
    headers = {**caseworker, "Idempotency-Key": "cosign-wang"}
    assert (await stack.act(cid, "co-sign", headers, {"resident": "王五"})).status_code == 200
    for case_id, action, body in (
        (cid, "co-sign", {"resident": "赵六"}),  # same action, other arguments
        (cid, "submit", {}),  # another action
        (other, "co-sign", {"resident": "王五"}),  # the same command on another case
    ):
        response = await stack.act(case_id, action, headers, body)
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "idempotency_conflict" and "co-sign" in response.json()["detail"]
    case = await stack.case(cid, caseworker)
    assert (case["stage"], case["co_signers"], case["version"]) == ("collecting", ["王五"], 2)
    assert (await stack.case(other, caseworker))["co_signers"] == []
    again = await stack.act(cid, "co-sign", headers, {"resident": "王五"})  # a true retry still answers
    assert again.status_code == 200 and again.json()["version"] == 2
