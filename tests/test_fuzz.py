"""The HTTP contract under fuzzing: schemathesis builds requests from `/openapi.json`, the real app answers.

Every answer must be one the schema documents: no 5xx, a status the operation declares, a content type and
a body that match the declaration; and a request that breaks the schema must be refused with a 4xx. The
requests carry real tokens (an admin's, a town supervisor's, a community caseworker's, an auditor's, or none)
and their case ids are mostly real cases in every stage, so the fuzzer gets past authentication and lookups
into the rules.
Derandomized and bounded: CI sends the same requests on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import StackFactory
from tests.utils.fuzz import Fuzzer, seed_cases
from tests.utils.stack import LONG, SECONDS, Stack, sla_file


async def test_every_answer_matches_the_published_contract(make_stack: StackFactory, tmp_path: Path) -> None:
    # Review and objection periods of a second: cases escalate, go overdue and leave announcing on their
    # own, so supervision answers have items whose shape gets checked too.
    stack = await make_stack(
        sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1, "announcing": 1}), sla_scale=SECONDS
    )
    admin = await stack.headers("admin", None, "管理员")
    tokens = [
        admin,
        await stack.headers("supervisor", "town-a", "综治中心"),
        await stack.headers("caseworker", "community-a1", "社区两委"),
        await stack.headers("auditor", None, "审计员"),
        {},  # nobody: every /v1 operation answers 401
    ]
    fuzzer = Fuzzer(stack, tokens=tokens, case_ids=await seed_cases(stack, admin))
    failures = await fuzzer.run()
    assert not failures, "\n\n".join(failures)


# What the fuzzer found, kept as plain tests: a bounded run need not draw these inputs again, and cursors
# are opaque to it (random text seldom decodes into one that reaches a query).


async def test_cursors_the_api_did_not_make_are_422(stack: Stack) -> None:
    # Signed with the installation's own secret, so that it is the values that are refused (tests/test_cursors.py
    # has the cursors it did not sign).
    cursor_of = stack.app.state.cursor_signer.encode
    supervisor = await stack.headers("supervisor", "town-a")
    case_id = (await stack.file(supervisor))["id"]
    time = "2026-11-01T00:00:00+00:00"
    not_ours = ["%%%", cursor_of(), cursor_of({"a": 1}), cursor_of({"a": 1}, {"b": 2}), cursor_of("\x00"),
                cursor_of("\x00", "\x00"), cursor_of(True), cursor_of("not a time", "x")]  # fmt: skip
    wrong_kinds = {
        "/v1/units": [cursor_of(1)],
        "/v1/cases": [cursor_of(time, 5), cursor_of("0001-01-01T00:00:00+08:00", "x")],
        f"/v1/cases/{case_id}/events": [cursor_of("1"), cursor_of(1.5)],
        "/v1/supervision/overdue": [cursor_of(time, 5)],
        "/v1/supervision/escalations": [cursor_of(time, "x"), cursor_of("9999-12-31T23:59:59-01:00", 1)],
    }
    for path, cursors in wrong_kinds.items():
        for cursor in [*not_ours, *cursors]:
            response = await stack.http.get(path, params={"cursor": cursor}, headers=supervisor)
            assert response.status_code == 422, (path, cursor, response.text)
            assert response.json()["error"] == "invalid_request"
    # A time without a zone is read as UTC, as elsewhere, rather than failing on its way into the query.
    naive = cursor_of("2026-11-01T00:00:00", 1)
    assert (
        await stack.http.get("/v1/supervision/escalations", params={"cursor": naive}, headers=supervisor)
    ).is_success


async def test_nul_in_text_numbers_that_are_not_numbers_and_unreadable_bodies_are_422(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "管理员")
    case_id = (await stack.file(admin))["id"]
    filing = {"unit": "compound-a1x", "category": "c", "title": "t\x00", "description": "d", "reporter": {"name": "n"}}
    refused: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/cases", {"json": filing}),
        ("POST", f"/v1/cases/{case_id}/actions/co-sign", {"json": {"resident": "李\x00"}}),
        ("POST", f"/v1/cases/{case_id}/actions/extend-deadline", {"json": {"days": True, "reason": "r"}}),
        ("POST", f"/v1/cases/{case_id}/actions/extend-deadline", {"json": {"days": "5", "reason": "r"}}),
        ("POST", "/v1/units", {"json": {"code": "town-z", "name": "镇\x00", "kind": "town"}}),
        ("POST", "/v1/cases", {"content": b"\xff\xfe", "headers": {**admin, "Content-Type": "application/json"}}),
        ("GET", "/v1/cases", {"params": {"unit": "\x00"}}),
        ("GET", "/v1/cases/%00", {}),
        ("GET", "/v1/supervision/stats", {"params": {"to": "0.0"}}),
        ("GET", "/v1/supervision/escalations", {"params": {"since": "0001-01-01T00:00:00+08:00"}}),
    ]
    for method, path, request in refused:
        response = await stack.http.request(method, path, **{"headers": admin, **request})
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["error"] == "invalid_request"
    assert (await stack.case(case_id, admin))["co_signers"] == []
