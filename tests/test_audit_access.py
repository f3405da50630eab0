"""Who may audit, and what a bad audit request gets: auditors and admins only, read-only; 404 and 422, never 500."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

from sqlalchemy import delete
from sqlmodel import col

from core.tables import CaseRecord
from tests.utils.stack import Stack
from workflows import workflow_id

ACTION_BODIES: dict[str, dict[str, Any]] = {
    "co-sign": {"resident": "李大爷"}, "submit": {}, "accept": {"note": "n"}, "fast-track": {"assignee": "物业"},
    "reject": {"explanation": "e"}, "escalate": {"note": "n"}, "object": {"resident": "张三", "reason": "r"},
    "record-meeting": {"held_at": "2026-11-20T19:30:00+08:00", "participants": ["物业"], "minutes": "m"},
    "decide": {"decision": "d", "assignee": "物业"}, "report-progress": {"note": "n"}, "complete": {"summary": "s"},
    "record-visit": {"satisfaction": "satisfied"}, "withdraw": {"reason": "r"}, "merge": {"into": "x"},
    "extend-deadline": {"days": 1, "reason": "r"}, "set-urgency": {"urgency": "urgent", "reason": "r"},
    "suspend": {"reason": "other", "note": "n"}, "resume": {"note": "n"},
    "request-extension": {"days": 1, "reason": "r"}, "decide-extension": {"approve": True, "note": "n"},
    "urge": {"note": "n"}, "supervise": {"grade": "yellow", "note": "n"}, "end-supervision": {"note": "n"},
    "dispatch": {"to_unit": "compound-a2x"}, "claim": {}, "return": {"reason": "not_our_remit", "explanation": "e"},
    "rule-return": {"upheld": False, "note": "n"},
}  # fmt: skip
CASE = {"unit": "compound-a1x", "category": "c", "title": "t", "description": "d", "reporter": {"name": "n"}}
UNIT = {"code": "town-z", "name": "新镇", "kind": "town"}


def audit_paths(case_id: str) -> list[tuple[str, str]]:
    base = f"/v1/audit/cases/{case_id}"
    return [
        ("GET", f"{base}/history"),
        ("GET", f"{base}/runs"),
        ("POST", f"{base}/replay"),
        ("POST", "/v1/audit/replay"),
    ]


async def upload_of(stack: Stack, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
    history = (await stack.http.get(f"/v1/audit/cases/{case_id}/history", headers=headers)).json()
    return {"workflow_id": workflow_id(case_id), "history": history}


async def snapshot(stack: Stack, case_id: str, headers: dict[str, str]) -> tuple[Any, Any]:
    events = (await stack.http.get(f"/v1/cases/{case_id}/events", headers=headers)).json()["items"]
    return await stack.case(case_id, headers), events


async def test_audit_is_for_auditors_and_admins_only(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "town-a", "镇干部")
    case_id = (await stack.file(caseworker))["id"]
    auditor = await stack.headers("auditor", None, "纪检监察组")
    upload = await upload_of(stack, case_id, auditor)
    others = [caseworker, await stack.headers("supervisor", "town-a"), await stack.headers("resident", "compound-a1x")]
    for method, path in audit_paths(case_id):
        body = upload if path == "/v1/audit/replay" else None
        for headers in others:
            response = await stack.http.request(method, path, json=body, headers=headers)
            assert response.status_code == 403 and response.json()["error"] == "forbidden", (method, path)
        assert (await stack.http.request(method, path, json=body)).status_code == 401
        for headers in (auditor, await stack.headers("admin", None, "admin")):
            assert (await stack.http.request(method, path, json=body, headers=headers)).status_code == 200


async def test_auditors_cannot_change_anything(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    case_id = (await stack.file(caseworker))["id"]
    auditor = await stack.headers("auditor", None, "纪检监察组")
    before = await snapshot(stack, case_id, caseworker)

    paths = (await stack.http.get("/openapi.json")).json()["paths"]  # every endpoint the API has, now or later
    writes = [(m.upper(), p) for p, ops in paths.items() for m in ops
              if m in {"post", "put", "patch", "delete"} and not p.startswith("/v1/audit/")]  # fmt: skip
    assert len(writes) >= len(ACTION_BODIES) + 2  # every action, filing, units (and whatever comes later)
    for method, template in writes:
        path = template.replace("{case_id}", case_id)
        body: dict[str, Any] = ACTION_BODIES.get(path.rsplit("/", 1)[-1], {}) if "/actions/" in path else CASE
        body = UNIT if path == "/v1/units" else body
        response = await stack.http.request(method, path, json=body, headers=auditor)
        assert response.status_code == 403, (method, template, response.status_code, response.text)

    for method, path in audit_paths(case_id):  # the audit's own POSTs read and replay; they write nothing
        upload = await upload_of(stack, case_id, auditor) if path == "/v1/audit/replay" else None
        assert (await stack.http.request(method, path, json=upload, headers=auditor)).status_code == 200
    assert await snapshot(stack, case_id, caseworker) == before


async def test_unknown_cases_and_runs_are_404(stack: Stack) -> None:
    auditor = await stack.headers("auditor", None, "纪检监察组")
    for method, path in audit_paths("0000000000000000")[:3]:
        response = await stack.http.request(method, path, headers=auditor)
        assert response.status_code == 404 and response.json()["error"] == "not_found", path
    case_id = (await stack.file(await stack.headers("caseworker", "compound-a1x")))["id"]
    history = f"/v1/audit/cases/{case_id}/history"
    assert (await stack.http.get(history, params={"run_id": str(uuid.uuid4())}, headers=auditor)).status_code == 404
    assert (await stack.http.get(history, params={"run_id": "not-a-run"}, headers=auditor)).status_code == 422


async def test_bad_uploads_are_422_with_the_reason(stack: Stack) -> None:
    auditor = await stack.headers("auditor", None, "纪检监察组")
    case_id = (await stack.file(await stack.headers("caseworker", "compound-a1x")))["id"]
    good = await upload_of(stack, case_id, auditor)
    events = good["history"]["events"]

    def history(changed: list[dict[str, Any]]) -> dict[str, Any]:
        return {**good, "history": {"events": changed}}

    cut = copy.deepcopy(events[:3] + events[4:])  # a workflow task started that never ends
    for number, event in enumerate(cut, start=1):
        event["eventId"] = str(number)
    not_a_case = copy.deepcopy(events)
    not_a_case[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = "Payroll"
    bad_uploads: list[tuple[Any, str]] = [
        ({}, "workflow_id"),
        ({"history": good["history"]}, "workflow_id"),
        ({**good, "workflow_id": "../../etc/passwd"}, "workflow_id"),
        ({**good, "history": "not an object"}, "history"),
        ({**good, "history": {}}, "events"),
        ({**good, "history": {"events": "many"}}, "events"),
        (history([]), "no events"),
        (history([{"eventId": "one", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]), "not a Temporal history"),
        (history([{"eventId": "1", "eventType": "NOT_AN_EVENT"}]), "WorkflowExecutionStarted"),
        (history(events[1:]), "WorkflowExecutionStarted"),
        (history(events[:3] + events[5:]), "without gaps"),
        (history(cut), "cut or reordered"),
        (history(not_a_case), "'Payroll' workflow"),
        ({**good, "workflow_id": "case-someone-else"}, "not case-someone-else"),
        ({**good, "extra": 1}, "extra"),
    ]
    for body, reason in bad_uploads:
        response = await stack.http.post("/v1/audit/replay", json=body, headers=auditor)
        assert response.status_code == 422, (reason, response.status_code, response.text)
        assert response.json()["error"] == "invalid_request" and reason in response.text, (reason, response.text)

    # A readable history whose input is not a case's is reported, not refused: the evidence is the finding.
    garbled = copy.deepcopy(events)
    payload = garbled[0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    payload["data"] = base64.b64encode(json.dumps({"filed": "nothing"}).encode()).decode()
    response = await stack.http.post("/v1/audit/replay", json=history(garbled), headers=auditor)
    assert response.status_code == 200, response.text
    assert response.json()["deterministic"] is False
    assert response.json()["error"]["kind"] in ("unreadable_history", "replay_failure")


async def test_scoped_auditors_see_only_their_jurisdiction(stack: Stack) -> None:
    case_id = (await stack.file(await stack.headers("caseworker", "compound-a1x")))["id"]
    town_a = await stack.headers("auditor", "town-a", "昌宁镇纪委")
    town_b = await stack.headers("auditor", "town-b", "龙泉街道纪委")
    upload = await upload_of(stack, case_id, town_a)
    for _ in range(2):  # with the read model's row, then without it (the unit comes from the history)
        for method, path in audit_paths(case_id):
            body = upload if path == "/v1/audit/replay" else None
            assert (await stack.http.request(method, path, json=body, headers=town_b)).status_code == 403, path
            assert (await stack.http.request(method, path, json=body, headers=town_a)).status_code == 200, path
        async with stack.engine.begin() as db:
            await db.execute(delete(CaseRecord).where(col(CaseRecord.id) == case_id))

    # Temporal still has the case the read model lost: the audit says so.
    report = (await stack.http.post(f"/v1/audit/cases/{case_id}/replay", headers=town_a)).json()
    assert report["deterministic"] is True and report["matches_read_model"] is False
    assert report["mismatches"] == [{"record": "case", "seq": None, "field": None, "history": case_id,
                                     "read_model": None}]  # fmt: skip
