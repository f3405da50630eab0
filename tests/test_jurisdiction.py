"""Who may see and change what, beyond the role: a scoped admin stays in its subtree, and a resident who
acts on a neighbour's case gets back only what any resident may know of it."""

from __future__ import annotations

from typing import Any

from tests.utils.stack import Stack, walk

PERSONAL = ("王阿姨", "13800138000", "8000", "Water stands for days after rain.")


async def test_a_scoped_admin_adds_units_only_inside_its_own_subtree(stack: Stack) -> None:
    admin_b = await stack.headers("admin", "town-b", "town-b admin")
    community_b = await stack.headers("admin", "community-b1", "community-b1 admin")

    def compound(code: str, parent: str) -> dict[str, Any]:
        return {"code": code, "name": code, "kind": "compound", "parent": parent}

    # Under a community of another town, and a new top-level town: both outside town-b.
    for tree in (compound("intruder", "community-a1"), {"code": "town-z", "name": "新镇", "kind": "town"}):
        response = await stack.http.post("/v1/units", json=tree, headers=admin_b)
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden"
    # A community admin cannot add a sibling community under its town either.
    sibling = {"code": "community-b2", "name": "b2", "kind": "community", "parent": "town-b"}
    assert (await stack.http.post("/v1/units", json=sibling, headers=community_b)).status_code == 403

    unscoped = await stack.headers("admin", None, "admin")
    codes = {u["code"] for u in (await stack.http.get("/v1/units?limit=200", headers=unscoped)).json()["items"]}
    assert not {"intruder", "town-z", "community-b2"} & codes  # nothing was created

    # Inside its own subtree it works, at any depth.
    assert (await stack.http.post("/v1/units", json=sibling, headers=admin_b)).status_code == 201
    assert (
        await stack.http.post("/v1/units", json=compound("b2x", "community-b2"), headers=admin_b)
    ).status_code == 201
    assert (
        await stack.http.post("/v1/units", json=compound("b1z", "community-b1"), headers=community_b)
    ).status_code == 201
    # A new town needs the unscoped admin.
    town = {"code": "town-z", "name": "新镇", "kind": "town"}
    assert (await stack.http.post("/v1/units", json=town, headers=unscoped)).status_code == 201


async def test_a_scoped_admin_reaches_no_case_outside_its_town(stack: Stack) -> None:
    """Every other operation an admin may use is held to the admin's jurisdiction like anyone's."""
    caseworker_a = await stack.headers("caseworker", "compound-a1x")
    admin_b = await stack.headers("admin", "town-b", "town-b admin")
    case = await stack.file(caseworker_a)
    cid = case["id"]
    assert (await stack.http.get(f"/v1/cases/{cid}", headers=admin_b)).status_code == 403
    assert (await stack.http.get(f"/v1/cases/{cid}/events", headers=admin_b)).status_code == 403
    assert (await stack.act(cid, "submit", admin_b)).status_code == 403
    assert (await stack.act(cid, "extend-deadline", admin_b, {"days": 1, "reason": "r"})).status_code == 403
    assert (await stack.http.get("/v1/cases", headers=admin_b)).json()["items"] == []
    body = {"unit": "compound-a1x", "category": "c", "title": "t", "description": "d", "reporter": {"name": "n"}}
    assert (await stack.http.post("/v1/cases", json=body, headers=admin_b)).status_code == 403
    for path in ("overdue", "escalations", "stats"):
        assert (await stack.http.get(f"/v1/supervision/{path}?unit=town-a", headers=admin_b)).status_code == 403
    stats = (await stack.http.get("/v1/supervision/stats", headers=admin_b)).json()
    assert stats["unit"] == "town-b" and {row["unit"] for row in stats["items"]} == {"community-b1"}
    for method, path in (("GET", "history"), ("GET", "runs"), ("POST", "replay")):
        response = await stack.http.request(method, f"/v1/audit/cases/{cid}/{path}", headers=admin_b)
        assert response.status_code == 403, (path, response.text)
    units = {u["code"] for u in (await stack.http.get("/v1/units?limit=200", headers=admin_b)).json()["items"]}
    assert units == {"town-b", "community-b1", "compound-b1x"}


def _leaks(answer: dict[str, Any]) -> list[str]:
    text = str(answer)
    return [item for item in PERSONAL if item in text]


async def test_a_residents_command_on_a_neighbours_case_answers_with_its_public_facts_only(stack: Stack) -> None:
    wang = await stack.headers("resident", "compound-a1x", "王阿姨")
    li = await stack.headers("resident", "compound-a1x", "李大爷")
    zhao = await stack.headers("resident", "compound-a1x", "赵叔")
    caseworker = await stack.headers("caseworker", "compound-a1x")
    case = await stack.file(wang)
    assert (await stack.http.get(f"/v1/cases/{case['id']}", headers=li)).status_code == 403  # as GET refuses

    keyed = {**li, "Idempotency-Key": "k1"}
    signed = await stack.act(case["id"], "co-sign", keyed, {"resident": "李大爷"})
    assert signed.status_code == 200, signed.text
    facts = signed.json()
    assert set(facts) == {"id", "number", "unit", "title", "stage", "tier", "status", "outcome", "decision",
                          "deadline", "co_signer_count", "objection_count"}  # fmt: skip
    assert facts["id"] == case["id"] and facts["co_signer_count"] == 1 and not _leaks(facts)
    # A retry with the same key is answered from what was stored: cut the same way.
    again = await stack.act(case["id"], "co-sign", keyed, {"resident": "李大爷"})
    assert again.status_code == 200 and again.json() == facts

    await walk(stack, caseworker, case["id"], "announcing")
    objected = await stack.act(case["id"], "object", zhao, {"resident": "赵叔", "reason": "Too costly"})
    assert objected.status_code == 200, objected.text
    facts = objected.json()
    assert facts["stage"] == "announcing" and facts["objection_count"] == 1 and facts["decision"]
    assert not _leaks(facts) and "李大爷" not in str(facts)  # nor the neighbours who co-signed

    # The reporter acting on her own case sees it whole, as GET shows it.
    withdrawn = (await stack.act(case["id"], "withdraw", wang, {"reason": "fixed"})).json()
    assert withdrawn["reporter"]["phone"] == "13800138000" and withdrawn["description"] == PERSONAL[3]
