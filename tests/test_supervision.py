"""Supervisors over HTTP: overdue by the clock (even before a timer fires), escalations, stats, scoping."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file


async def test_town_supervisor_sees_exactly_the_town_overdue_cases(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1}), sla_scale=SECONDS)
    admin = await stack.headers("admin", None, "admin")
    town_a = await stack.headers("supervisor", "town-a", "昌宁镇综治中心")
    town_b = await stack.headers("supervisor", "town-b", "龙泉街道")
    community = await stack.headers("supervisor", "community-a1", "营里社区")
    filed = {}
    for name, unit, submit in [("a1x", "compound-a1x", True), ("a2x", "compound-a2x", True),
                               ("a1y", "compound-a1y", False), ("b1x", "compound-b1x", True)]:  # fmt: skip
        filed[name] = (await stack.file(admin, unit=unit))["id"]
        if submit:
            await stack.ok(filed[name], "submit", admin)

    # No worker: no timer can fire, yet the deadlines pass. Overdue is read off the clock.
    await stack.stop_worker()
    await asyncio.sleep(1.5)

    async def overdue(headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
        response = await stack.http.get(f"/v1/supervision/overdue{query}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    town_a_items = await overdue(town_a)
    assert [i["id"] for i in town_a_items] == [filed["a1x"], filed["a2x"]]  # most overdue (earliest deadline) first
    assert all(i["overdue_by_seconds"] >= 0 and not i["flagged"] and i["escalations"] == [] for i in town_a_items)
    assert [i["id"] for i in await overdue(town_b)] == [filed["b1x"]]
    assert [i["id"] for i in await overdue(community)] == [filed["a1x"]]
    assert [i["id"] for i in await overdue(town_a, "?unit=community-a2")] == [filed["a2x"]]
    assert await overdue(town_a, "?stage=deliberating") == []
    page = (await stack.http.get("/v1/supervision/overdue?limit=1", headers=town_a)).json()
    rest = (
        await stack.http.get(f"/v1/supervision/overdue?limit=1&cursor={page['next_cursor']}", headers=town_a)
    ).json()
    assert [i["id"] for i in page["items"] + rest["items"]] == [filed["a1x"], filed["a2x"]]
    assert rest["next_cursor"] is None

    # The timers fire once a worker is back: the cases go up, and the escalations list says why.
    await stack.start_worker()
    await eventually(lambda: stack.case(filed["a1x"], admin), lambda c: c["tier"] != "compound")
    escalations = await eventually(
        lambda: stack.http.get("/v1/supervision/escalations?reason=sla_breach", headers=town_a),
        lambda r: {e["case_id"] for e in r.json()["items"]} >= {filed["a1x"], filed["a2x"]},
    )
    items = escalations.json()["items"]
    assert {e["case_id"] for e in items} <= {filed["a1x"], filed["a2x"]}  # nothing from town-b
    assert items[0]["at"] >= items[-1]["at"] and items[-1]["from_tier"] == "compound"
    assert all(e["by"] == "linli" and e["reason"] == "sla_breach" for e in items)
    manual = (await stack.http.get("/v1/supervision/escalations?reason=manual", headers=town_a)).json()["items"]
    assert manual == []


async def test_supervision_is_for_supervisors_within_their_jurisdiction(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "town-a")
    auditor = await stack.headers("auditor", None)
    supervisor = await stack.headers("supervisor", "community-a1")
    for path in ("/v1/supervision/overdue", "/v1/supervision/escalations", "/v1/supervision/stats"):
        assert (await stack.http.get(path, headers=caseworker)).status_code == 403
        assert (await stack.http.get(path, headers=auditor)).status_code == 403
        assert (await stack.http.get(path)).status_code == 401
        assert (await stack.http.get(f"{path}?unit=town-b", headers=supervisor)).status_code == 403
        assert (await stack.http.get(f"{path}?unit=nowhere", headers=supervisor)).status_code == 422
    assert (await stack.http.get("/v1/supervision/overdue?cursor=xyz", headers=supervisor)).status_code == 422
    bad_period = "/v1/supervision/stats?from=2026-11-02&to=2026-11-01"
    assert (await stack.http.get(bad_period, headers=supervisor)).status_code == 422


async def test_stats_follow_the_cases(stack: Stack) -> None:
    supervisor = await stack.headers("supervisor", "town-a", "镇长")
    first = (await stack.file(supervisor, unit="compound-a1x"))["id"]
    second = (await stack.file(supervisor, unit="compound-a2x"))["id"]
    await stack.ok(first, "submit", supervisor)
    await stack.ok(first, "fast-track", supervisor, assignee="物业")
    await stack.ok(first, "complete", supervisor, summary="done")
    await stack.ok(first, "record-visit", supervisor, satisfaction="basically_satisfied")
    await stack.ok(second, "escalate", supervisor, note="beyond the compound")

    report = (await stack.http.get("/v1/supervision/stats", headers=supervisor)).json()
    total = report["total"]
    assert (total["filed"], total["responded"], total["closed"], total["resolved"]) == (2, 1, 1, 1)
    assert (total["escalations"], total["response_rate"], total["satisfaction_rate"]) == (1, 0.5, 1.0)
    assert [r["unit"] for r in report["items"]] == ["community-a1", "community-a2"]
    csv = await stack.http.get("/v1/supervision/stats?format=csv", headers=supervisor)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[-1].startswith("town-a,")
