"""Tokens, roles and jurisdictions: 401 without a token, 403 outside one's role or unit."""

from __future__ import annotations

import time

from api.auth import Caller, TokenCache
from api.services.tokens import revoke_token
from tests.conftest import StackFactory
from tests.utils.stack import Stack, eventually
from workflows.model import Role


async def test_no_or_bad_token_is_401(stack: Stack) -> None:
    for headers in ({}, {"Authorization": "Bearer linli_not-a-token"}, {"Authorization": "Basic abc"}):
        response = await stack.http.get("/v1/cases", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized"
    assert (await stack.http.post("/v1/cases/x/actions/submit")).status_code == 401
    assert (await stack.http.get("/healthz")).status_code == 200  # open
    assert (await stack.http.get("/openapi.json")).status_code == 200


async def test_revoked_token_is_401(stack: Stack) -> None:
    headers = await stack.headers("caseworker", "compound-a1x")
    assert (await stack.http.get("/v1/cases", headers=headers)).status_code == 200
    assert await revoke_token(stack.engine, token=headers["Authorization"].split()[1]) == 1
    revoked = time.monotonic()

    async def status() -> int:
        return (await stack.http.get("/v1/cases", headers=headers)).status_code

    # The API trusted the token for at most LINLI_TOKEN_CACHE_SECONDS after checking it.
    assert await eventually(status, lambda code: code == 401, timeout=10, interval=0.05) == 401
    assert time.monotonic() - revoked <= stack.settings.token_cache_seconds + 1


async def test_without_the_token_cache_revocation_is_immediate(make_stack: StackFactory) -> None:
    stack = await make_stack(token_cache_seconds=0)
    headers = await stack.headers("caseworker", "compound-a1x")
    assert (await stack.http.get("/v1/cases", headers=headers)).status_code == 200
    assert await revoke_token(stack.engine, token=headers["Authorization"].split()[1]) == 1
    assert (await stack.http.get("/v1/cases", headers=headers)).status_code == 401


def test_token_cache_expires_and_stays_bounded() -> None:
    caller = Caller("p1", "网格员", Role.CASEWORKER, "compound-a1x", "/town-a/community-a1/compound-a1x/")
    cache = TokenCache(ttl=0.05, capacity=2)
    cache.put("h1", caller)
    assert cache.get("h1") is caller and cache.get("unknown") is None
    time.sleep(0.06)
    assert cache.get("h1") is None  # expired: the database is asked again
    for key in ("h1", "h2", "h3"):
        cache.put(key, caller)
    assert cache.get("h1") is None and cache.get("h2") is caller and cache.get("h3") is caller  # oldest out
    disabled = TokenCache(ttl=0)
    disabled.put("h1", caller)
    assert disabled.get("h1") is None


async def test_out_of_jurisdiction_is_403(stack: Stack) -> None:
    town_a = await stack.headers("caseworker", "town-a")
    town_b = await stack.headers("caseworker", "town-b")
    other_compound = await stack.headers("caseworker", "compound-a1y")
    cid = (await stack.file(town_a, unit="compound-a1x"))["id"]

    for outsider in (town_b, other_compound):
        assert (await stack.http.get(f"/v1/cases/{cid}", headers=outsider)).status_code == 403
        response = await stack.act(cid, "submit", outsider)
        assert response.status_code == 403 and response.json()["error"] == "forbidden"
        assert (await stack.http.get(f"/v1/cases/{cid}/events", headers=outsider)).status_code == 403
    body = {"unit": "compound-a1x", "category": "c", "title": "t", "description": "d", "reporter": {"name": "n"}}
    assert (await stack.http.post("/v1/cases", json=body, headers=town_b)).status_code == 403
    assert (await stack.http.get("/v1/cases?unit=town-a", headers=town_b)).status_code == 403
    assert (await stack.http.get("/v1/cases", headers=town_b)).json()["items"] == []
    assert (await stack.case(cid, town_a))["stage"] == "collecting"


async def test_roles(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    auditor = await stack.headers("auditor", None, "审计员")
    admin = await stack.headers("admin", None, "admin")
    cid = (await stack.file(caseworker))["id"]
    assert (await stack.case(cid, auditor))["id"] == cid  # auditors read everything...
    assert (await stack.act(cid, "submit", auditor)).status_code == 403  # ...and change nothing
    tree = {"code": "town-c", "name": "南康镇", "kind": "town"}
    assert (await stack.http.post("/v1/units", json=tree, headers=caseworker)).status_code == 403
    assert (await stack.http.post("/v1/units", json=tree, headers=admin)).status_code == 201
    assert (await stack.http.post("/v1/units", json=tree, headers=admin)).status_code == 409
    bad = {"code": "c-x", "name": "x", "kind": "compound"}
    assert (await stack.http.post("/v1/units", json=bad, headers=admin)).status_code == 422
    codes = [u["code"] for u in (await stack.http.get("/v1/units", headers=caseworker)).json()["items"]]
    assert codes == ["compound-a1x"]


async def test_residents_see_their_own_cases_and_act_in_their_own_name(stack: Stack) -> None:
    wang = await stack.headers("resident", "compound-a1x", "王阿姨")
    li = await stack.headers("resident", "compound-a1x", "李大爷")
    mine = await stack.file(wang)
    assert mine["filed_by"] and (await stack.case(mine["id"], wang))["id"] == mine["id"]
    assert (await stack.http.get(f"/v1/cases/{mine['id']}", headers=li)).status_code == 403
    assert (await stack.http.get("/v1/cases", headers=li)).json()["items"] == []
    assert [c["id"] for c in (await stack.http.get("/v1/cases", headers=wang)).json()["items"]] == [mine["id"]]

    # 李大爷 backs 王阿姨's issue, in his own name only; he cannot advance it or withdraw it.
    assert (await stack.act(mine["id"], "co-sign", li, {"resident": "李大爷"})).status_code == 200
    assert (await stack.act(mine["id"], "co-sign", li, {"resident": "someone else"})).status_code == 403
    assert (await stack.act(mine["id"], "submit", li)).status_code == 403
    assert (await stack.act(mine["id"], "withdraw", li, {"reason": "r"})).status_code == 403
    assert (await stack.act(mine["id"], "withdraw", wang, {"reason": "fixed"})).status_code == 200

    events = (await stack.http.get(f"/v1/cases/{mine['id']}/events", headers=wang)).json()["items"]
    assert [(e["action"], e["actor"]["name"], e["actor"]["role"]) for e in events] == [
        ("file", "王阿姨", "resident"), ("co-sign", "李大爷", "resident"), ("withdraw", "王阿姨", "resident"),
    ]  # fmt: skip


async def test_pagination_walks_every_case_once(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "community-a1")
    filed = {(await stack.file(caseworker, unit=u))["id"] for u in ["compound-a1x", "compound-a1y"] * 3}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await stack.http.get("/v1/cases", params=params, headers=caseworker)).json()
        seen += [c["id"] for c in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == 6 and set(seen) == filed
    only_y = (await stack.http.get("/v1/cases?unit=compound-a1y", headers=caseworker)).json()["items"]
    assert {c["unit"] for c in only_y} == {"compound-a1y"} and len(only_y) == 3
    assert (await stack.http.get("/v1/cases?cursor=garbage", headers=caseworker)).status_code == 422
    assert (await stack.http.get("/v1/cases?limit=0", headers=caseworker)).status_code == 422
