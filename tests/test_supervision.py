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


async def test_a_suspended_case_is_never_overdue_and_urgency_narrows_every_view(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """Review takes one second (for an urgent case too: 24 h at this scale); a suspended case's clock is stopped."""
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1}), sla_scale=SECONDS)
    supervisor = await stack.headers("supervisor", "town-a", "昌宁镇综治中心")
    late, urgent, paused = [(await stack.file(supervisor, urgency=u))["id"] for u in ("normal", "urgent", "normal")]
    for cid in (late, urgent, paused):
        await stack.ok(cid, "submit", supervisor)
    await stack.ok(paused, "suspend", supervisor, reason="waiting_for_third_party", note="Water company")
    await stack.stop_worker()  # no timer fires: overdue is read off the clock
    await asyncio.sleep(1.5)

    async def ids(path: str) -> list[str]:
        response = await stack.http.get(path, headers=supervisor)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids("/v1/supervision/overdue") == [late, urgent]
    assert await ids("/v1/supervision/overdue?urgency=urgent") == [urgent]
    assert await ids("/v1/supervision/overdue?urgency=complex") == []
    rows = (await stack.http.get("/v1/supervision/overdue", headers=supervisor)).json()["items"]
    assert [(r["urgency"], r["deadline_provisional"]) for r in rows] == [("normal", False), ("urgent", False)]
    # The case list agrees: the suspended case is among the cases not overdue, not in neither.
    assert sorted(await ids("/v1/cases?overdue=true")) == sorted([late, urgent])
    assert await ids("/v1/cases?overdue=false") == [paused]
    assert await ids("/v1/cases?urgency=urgent") == [urgent]
    assert await ids("/v1/cases?urgency=normal&overdue=true") == [late]

    async def total(query: str = "") -> tuple[Any, ...]:
        response = await stack.http.get(f"/v1/supervision/stats{query}", headers=supervisor)
        assert response.status_code == 200, response.text
        row = response.json()["total"]
        return row["filed"], row["overdue_now"], response.json()["urgency"]

    assert await total() == (3, 2, None)
    assert await total("?urgency=urgent") == (1, 1, "urgent")
    assert await total("?urgency=normal") == (2, 1, "normal")
    assert await total("?urgency=emergency") == (0, 0, "emergency")
    for path in ("overdue", "stats", "escalations"):
        assert (await stack.http.get(f"/v1/supervision/{path}?urgency=soon", headers=supervisor)).status_code == 422

    # The timers fire once a worker is back: the running cases go up, the suspended one stays.
    async def escalated(query: str = "") -> list[dict[str, Any]]:
        response = await stack.http.get(f"/v1/supervision/escalations{query}", headers=supervisor)
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    await stack.start_worker()
    await eventually(escalated, lambda items: {e["case_id"] for e in items} == {late, urgent})
    only_urgent = await escalated("?urgency=urgent")
    assert only_urgent and {(e["case_id"], e["urgency_now"]) for e in only_urgent} == {(urgent, "urgent")}
    assert (await stack.case(paused, supervisor))["escalations"] == []  # (it resumes by itself only after 30 s)


async def test_paused_time_and_extensions_count_as_the_readme_says(make_stack: StackFactory, tmp_path: Path) -> None:
    """On time = handled without a breach. A deadline that passes while suspended is no breach; an approved
    extension moves the deadline; a request still pending when the deadline passes does not stop the breach.
    Review takes one "day" of two seconds; a working day granted adds at least one more day."""
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1}), sla_scale=2 * SECONDS)
    caseworker = await stack.headers("caseworker", "town-a", "镇干部")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    paused, extended, pending = [(await stack.file(caseworker))["id"] for _ in range(3)]
    for cid in (paused, extended, pending):
        await stack.ok(cid, "submit", caseworker)
    await stack.ok(paused, "suspend", caseworker, reason="waiting_for_resident", note="Resident away")
    await stack.ok(extended, "request-extension", caseworker, days=1, reason="Waiting for the pipe supplier")
    await stack.ok(extended, "decide-extension", supervisor, approve=True, note="One day")
    await stack.ok(pending, "request-extension", caseworker, days=1, reason="Waiting for the pipe supplier")

    # Past the review's two seconds: only the case whose request was still pending is breached.
    breached = await eventually(lambda: stack.case(pending, caseworker), lambda c: c["tier"] == "community")
    assert breached["breaches"] == 1
    await stack.ok(paused, "resume", caseworker, note="Resident is back")
    for cid in (paused, extended, pending):
        case = await stack.ok(cid, "fast-track", caseworker, assignee="物业")
        assert case["breaches"] == (1 if cid == pending else 0), case
        await stack.ok(cid, "complete", caseworker, summary="Done")
        await stack.ok(cid, "record-visit", caseworker, satisfaction="satisfied")

    total = (await stack.http.get("/v1/supervision/stats", headers=supervisor)).json()["total"]
    assert (total["handled"], total["on_time"], total["on_time_rate"]) == (3, 2, 0.6667)
