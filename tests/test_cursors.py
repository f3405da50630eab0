"""Pagination cursors: only the ones this installation signed are taken, and their values are checked too.

A cursor is opaque to clients, but it is only base64: anybody can write one. Values a real page never
yields (a lone surrogate SQLite cannot bind, an integer past 64 bits) used to reach the query and fail
there as a 500; now a cursor we did not sign is a 422 before it gets near the database.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.errors import ApiError
from api.pagination import CursorSigner
from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, Stack, sla_file

TIME = "2026-11-01T00:00:00+00:00"


def unsigned(*key: Any) -> str:
    """A cursor as anyone can write one: base64 of the JSON key, no signature."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def hostile(case_id: str) -> list[tuple[str, str]]:
    """Per list route, keys of the right shape whose values SQLite cannot bind: a lone surrogate, 2**70."""
    return [
        ("/v1/units", unsigned("\ud800")),
        ("/v1/cases", unsigned(TIME, "\ud800")),
        ("/v1/supervision/overdue", unsigned(TIME, "\ud800")),
        (f"/v1/cases/{case_id}/events", unsigned(2**70)),
        ("/v1/supervision/escalations", unsigned(TIME, 2**70)),
    ]


async def test_cursors_we_did_not_sign_are_422(stack: Stack) -> None:
    supervisor = await stack.headers("supervisor", "town-a")
    case_id = (await stack.file(supervisor))["id"]
    for path, cursor in hostile(case_id):
        response = await stack.http.get(path, params={"cursor": cursor}, headers=supervisor)
        assert response.status_code == 422, (path, cursor, response.status_code, response.text)
        assert response.json()["error"] == "invalid_request"


async def test_a_signed_cursor_that_was_altered_is_422(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "管理员")
    first = (await stack.http.get("/v1/units", params={"limit": 1}, headers=admin)).json()
    cursor = first["next_cursor"]
    assert (await stack.http.get("/v1/units", params={"cursor": cursor}, headers=admin)).status_code == 200
    payload, signature = cursor.split(".")
    forged_key = base64.urlsafe_b64encode(b'["/"]').decode().rstrip("=")
    altered = [
        f"{forged_key}.{signature}",  # another key under the old signature
        f"{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}",  # one character off
        f"{payload}.",
        payload,
        f"{payload}.{signature}.{signature}",
    ]
    for bad in altered:
        response = await stack.http.get("/v1/units", params={"cursor": bad}, headers=admin)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"] == "invalid_request"
    # A cursor signed by another installation (another secret) is not ours either.
    elsewhere = CursorSigner("another installation's secret").encode("/")
    assert (await stack.http.get("/v1/units", params={"cursor": elsewhere}, headers=admin)).status_code == 422


async def test_pages_follow_one_another(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1}), sla_scale=SECONDS)
    admin = await stack.headers("admin", None, "管理员")
    ids = [(await stack.file(admin))["id"] for _ in range(3)]
    for case_id in ids:
        await stack.ok(case_id, "escalate", admin, note="The compound cannot reach the owner")
        await stack.ok(case_id, "submit", admin)
    await stack.stop_worker()  # the review deadlines pass with no timer firing: the cases stay overdue
    events = (await stack.http.get(f"/v1/cases/{ids[0]}/events", headers=admin)).json()["items"]

    async def walk(path: str) -> list[Any]:
        items, cursor = [], None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            response = await stack.http.get(path, params=params, headers=admin)
            assert response.status_code == 200, (path, response.text)
            page = response.json()
            items += page["items"]
            if not (cursor := page["next_cursor"]):
                return items

    assert [u["code"] for u in await walk("/v1/units")] == [
        "town-a", "community-a1", "compound-a1x", "compound-a1y", "community-a2", "compound-a2x",
        "town-b", "community-b1", "compound-b1x",
    ]  # fmt: skip
    assert [c["id"] for c in await walk("/v1/cases")] == ids[::-1]
    assert [e["seq"] for e in await walk(f"/v1/cases/{ids[0]}/events")] == [e["seq"] for e in events]
    assert [e["case_id"] for e in await walk("/v1/supervision/escalations")] == ids[::-1]
    overdue = await walk("/v1/supervision/overdue")
    while len(overdue) < len(ids):  # each review deadline is a second after its submit
        overdue = await walk("/v1/supervision/overdue")
    assert [c["id"] for c in overdue] == ids


# --- without a server ----------------------------------------------------------------------------------------


def test_a_cursor_decodes_to_what_was_encoded() -> None:
    signer = CursorSigner("secret")
    at = datetime(2026, 11, 1, 8, tzinfo=UTC)
    cursor = signer.encode(at.isoformat(), "云台府-42")
    assert signer.decode(cursor, datetime, str) == [at, "云台府-42"]
    assert signer.decode(signer.encode(2**63 - 1), int) == [2**63 - 1]
    assert signer.decode(signer.encode(-(2**63)), int) == [-(2**63)]
    assert len(cursor) < 500  # the routes take cursors of at most 500 characters


@pytest.mark.parametrize(
    ("key", "kinds"),
    [
        (["\ud800"], (str,)),  # a lone surrogate: not UTF-8, SQLite cannot bind it
        (["a\x00b"], (str,)),  # NUL: PostgreSQL cannot hold it
        ([2**63], (int,)),  # past signed 64 bits
        ([-(2**63) - 1], (int,)),
        ([True], (int,)),
        ([1.5], (int,)),
        (["1"], (int,)),
        ([1], (str,)),
        (["not a time"], (datetime,)),
        (["9999-12-31T23:59:59-01:00"], (datetime,)),  # no UTC equivalent
        ([TIME], (datetime, str)),  # too few values
        ([TIME, "x", "y"], (datetime, str)),  # too many
    ],
)
def test_even_a_signed_cursor_must_hold_values_of_the_right_kind(key: list[Any], kinds: tuple[type, ...]) -> None:
    signer = CursorSigner("secret")
    with pytest.raises(ApiError) as refused:
        signer.decode(signer.encode(*key), *kinds)
    assert (refused.value.status, refused.value.error) == (422, "invalid_request")


@pytest.mark.parametrize(
    "cursor", ["", ".", "%%%", "abc", unsigned("x"), f"{unsigned('x')}.", f"{unsigned('x')}.%%%", "é.é"]
)
def test_text_that_is_not_a_signed_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ApiError) as refused:
        CursorSigner("secret").decode(cursor, str)
    assert refused.value.status == 422


def test_another_secret_does_not_verify() -> None:
    cursor = CursorSigner("one").encode("x")
    with pytest.raises(ApiError):
        CursorSigner("two").decode(cursor, str)
