"""Request bodies: too deeply nested is a 422, too large a 413, both refused before any route runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from api.limits import MAX_DEPTH, nested_deeper_than
from tests.utils.stack import Stack
from workflows import workflow_id

MiB = 1 << 20


def nested(levels: int) -> Any:
    """Objects and arrays in turn, ``levels`` deep."""
    value: Any = "bottom"
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return value


def assert_refused(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text


async def test_a_history_nested_700_deep_is_422_before_any_parser(stack: Stack) -> None:
    auditor = await stack.headers("auditor", None, "纪检监察组")
    case_id = (await stack.file(await stack.headers("admin", None, "管理员")))["id"]
    history = {"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "x": nested(700)}]}
    response = await stack.http.post(
        "/v1/audit/replay", json={"workflow_id": workflow_id(case_id), "history": history}, headers=auditor
    )
    assert_refused(response, 422, "invalid_request")
    assert f"nested deeper than {MAX_DEPTH}" in response.json()["detail"]


async def test_deep_nesting_on_a_command_is_422_and_changes_nothing(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "管理员")
    case_id = (await stack.file(admin))["id"]

    async def state() -> tuple[Any, Any]:
        events = await stack.http.get(f"/v1/cases/{case_id}/events", headers=admin)
        return await stack.case(case_id, admin), events.json()

    before = await state()
    hostile: list[bytes] = [
        json.dumps({"resident": "李大爷", "x": nested(MAX_DEPTH + 1)}).encode(),
        b'{"resident": "\xe6\x9d\x8e", "x": ' + b"[" * 100_000,  # never closed: a parser recurses all the same
        b'{"resident": "li", "x": ' + b'{"a": [' * 2500 + b"0" + b"]}" * 2500 + b"}",  # too deep to json.dumps
    ]
    for body in hostile:
        response = await stack.http.post(
            f"/v1/cases/{case_id}/actions/co-sign", content=body, headers={**admin, "Content-Type": "application/json"}
        )
        assert_refused(response, 422, "invalid_request")
        assert f"nested deeper than {MAX_DEPTH}" in response.json()["detail"]  # refused before the route
        assert_refused(await stack.http.post("/v1/cases", content=body, headers=admin), 422, "invalid_request")
    assert await state() == before
    assert len((await stack.http.get("/v1/cases", headers=admin)).json()["items"]) == 1  # no filing either
    # As deep as the limit is fine: the body reaches the route, which answers for the command itself.
    ok = {"resident": "李大爷"}
    assert (await stack.act(case_id, "co-sign", admin, ok)).status_code == 200
    at_the_limit = {"code": "town-z", "name": "镇", "kind": "town", "children": nested(MAX_DEPTH - 2)}
    response = await stack.http.post("/v1/units", json=at_the_limit, headers=admin)
    assert response.status_code == 422 and "nested deeper" not in response.text  # refused by the schema instead


async def test_an_oversize_body_is_413_and_changes_nothing(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "管理员")
    case_id = (await stack.file(admin))["id"]
    path = f"/v1/cases/{case_id}/actions/co-sign"
    big = json.dumps({"resident": "李" * MiB}).encode()  # 3 MiB of UTF-8

    response = await stack.http.post(path, content=big, headers={**admin, "Content-Type": "application/json"})
    assert_refused(response, 413, "payload_too_large")

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    response = await stack.http.post(path, content=chunked(), headers={**admin, "Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_refused(response, 413, "payload_too_large")
    assert (await stack.case(case_id, admin))["co_signers"] == []
    # Just under the limit is read (and then refused by the command's own rules, not for its size).
    response = await stack.act(case_id, "co-sign", admin, {"resident": "x" * (MiB - 100)})
    assert response.status_code == 422 and response.json()["error"] == "invalid_request", response.text[:300]


async def test_a_history_upload_may_be_larger_than_other_bodies(stack: Stack) -> None:
    auditor = await stack.headers("auditor", None, "纪检监察组")
    case_id = (await stack.file(await stack.headers("admin", None, "管理员")))["id"]
    history = (await stack.http.get(f"/v1/audit/cases/{case_id}/history", headers=auditor)).json()
    upload = json.dumps({"workflow_id": workflow_id(case_id), "history": history}).encode()
    headers = {**auditor, "Content-Type": "application/json"}

    padded = upload + b" " * (2 * MiB)  # whitespace is still the same JSON, and more than other routes take
    response = await stack.http.post("/v1/audit/replay", content=padded, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["deterministic"] is True

    response = await stack.http.post("/v1/audit/replay", content=upload + b" " * (32 * MiB), headers=headers)
    assert_refused(response, 413, "payload_too_large")
    response = await stack.http.post(f"/v1/audit/cases/{case_id}/replay", content=padded, headers=headers)
    assert_refused(response, 413, "payload_too_large")  # the larger limit is that route's only


# --- the scan, without a server ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "limit", "deeper"),
    [
        (b"[" * 3 + b"]" * 3, 3, False),
        (b"[" * 4 + b"]" * 4, 3, True),
        (b"{" * 4, 3, True),  # unbalanced: still deep for a parser
        (b'[{"a": [[1]]}]', 3, True),
        (b'[{"a": [1], "b": [2]}, [3], {"c": {}}]', 3, False),
        (b'["[[[[[[", {"{{{{{{": "]]]]]]"}]', 2, False),  # brackets in strings are text
        (b'["\\"[[[[[[", "\\\\", [[["x"]]]]', 3, True),  # escaped quotes and backslashes
        (b'["\\"[[[[[[", "\\\\", [["x"]]]', 3, False),
        (b'["' + "中文[".encode() * 10 + b'"]', 1, False),
        (b'"unterminated [[[[[[', 3, True),  # what follows an unterminated string still counts
        ('[[[["∀"]]]]'.encode("utf-16-le"), 3, True),  # UTF-16: every bracket counts
        (b"", 0, False),
        (b"null", 0, False),
    ],
)
def test_the_depth_scan(body: bytes, limit: int, deeper: bool) -> None:
    assert nested_deeper_than(body, limit) is deeper


def test_a_real_history_is_far_from_the_limit() -> None:
    with open("tests/histories/objected_and_revisited.json", "rb") as saved:
        history = saved.read()
    upload = b'{"workflow_id": "case-x", "history": ' + history + b"}"
    assert not nested_deeper_than(upload, 11) and nested_deeper_than(upload, 10)
