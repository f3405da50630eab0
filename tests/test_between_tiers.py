"""Between tiers through the API: dispatch down, claim, return and the ruling, automatic urges and cards.

The unit tree (tests/utils/stack.py): town-a › community-a1 › compound-a1x, compound-a1y;
town-a › community-a2 › compound-a2x.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def refused(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = str(response.json()["detail"])
    assert all(w in detail for w in words), detail


async def test_dispatched_returned_overruled_and_handled_to_the_end(make_stack: StackFactory, tmp_path: Path) -> None:
    """The town dispatches a case to a compound of another community; the compound returns it as not its
    remit; the town overrules; the compound claims it and handles it to the end."""
    stack = await make_stack(sla_file=sla_file(tmp_path, **LONG), sla_scale=SECONDS)
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    community = await stack.headers("caseworker", "community-a1", "社区两委")
    town = await stack.headers("caseworker", "town-a", "镇综治中心")
    other_compound = await stack.headers("caseworker", "compound-a2x", "实成物业")
    neighbour = await stack.headers("caseworker", "compound-a1y", "惠民物业")
    community_supervisor = await stack.headers("supervisor", "community-a1", "社区书记")

    case = await stack.file(compound, title="Street lamp out on the service road")
    cid = case["id"]
    assert (case["claimed"], case["claim_deadline"], case["handling_path"]) == (
        True,
        None,
        "/town-a/community-a1/compound-a1x/",
    )
    refused(await stack.act(cid, "return", compound, {"reason": "not_our_remit", "explanation": "x"}), 409, "filed at")
    await stack.ok(cid, "submit", compound)
    case = await stack.ok(cid, "escalate", compound, note="Lamp belongs to the road authority")
    assert (case["tier"], case["handling_unit"], case["claimed"]) == ("community", "community-a1", False)
    assert case["claim_deadline"] is not None and case["claims_due"] == 1

    # Dispatching is down only, inside the handling unit's own subtree.
    outside = await stack.act(cid, "dispatch", community, {"to_unit": "compound-a2x", "note": "yours"})
    refused(outside, 409, "compound-a2x", "not inside community-a1")
    refused(await stack.act(cid, "dispatch", community, {"to_unit": "nowhere", "note": "x"}), 422, "nowhere")
    case = await stack.ok(cid, "escalate", community, note="Needs the town")
    assert (case["tier"], case["claimed"], case["claims_due"]) == ("town", False, 2)
    # Any command of the handling unit's caseworkers claims it: here the dispatch itself.
    case = await stack.ok(cid, "dispatch", town, to_unit="compound-a2x", note="The service road is 实成's")
    assert (case["tier"], case["handling_unit"], case["handling_path"]) == (
        "compound", "compound-a2x", "/town-a/community-a2/compound-a2x/")  # fmt: skip
    assert (case["claimed"], case["arrived_from"], case["stage"]) == (False, "/town-a/", "reviewing")
    assert [(d["from_unit"], d["to_unit"], d["by"]) for d in case["dispatches"]] == [
        ("town-a", "compound-a2x", "镇综治中心")
    ]
    # The unit it was dispatched to can read and act on it though the case is another compound's.
    assert (await stack.case(cid, other_compound))["handling_unit"] == "compound-a2x"
    listed = (await stack.http.get("/v1/cases", headers=other_compound)).json()["items"]
    assert [c["id"] for c in listed] == [cid]
    assert (await stack.http.get(f"/v1/cases/{cid}", headers=neighbour)).status_code == 403

    case = await stack.ok(
        cid, "return", other_compound, reason="not_our_remit", explanation="The lamp is on 云台府's side"
    )
    assert (case["tier"], case["handling_unit"], case["claimed"]) == ("town", "town-a", True)
    assert case["pending_return"]["from_unit"] == "compound-a2x" and case["pending_return"]["reason"] == "not_our_remit"
    refused(await stack.act(cid, "accept", town, {"note": "x"}), 409, "rule on the return")
    # Ruling is for the unit it came back to or a supervisor over it: community-a1's caseworker (who can
    # read the case, it is their compound's) is neither.
    refused(await stack.act(cid, "rule-return", community, {"upheld": False, "note": "x"}), 409, "only town-a")
    # Nor can community-a1's supervisor urge a case the town handles.
    refused(await stack.act(cid, "urge", community_supervisor, {"note": "x"}), 409, "handled by town-a")
    bad = await stack.act(cid, "rule-return", town, {"upheld": False, "to_unit": "compound-a1x", "note": "x"})
    refused(bad, 422, "to_unit")

    case = await stack.ok(cid, "rule-return", town, upheld=False, note="The survey map puts the lamp on 实成's road")
    assert (case["handling_unit"], case["tier"], case["claimed"], case["pending_return"]) == (
        "compound-a2x", "compound", False, None)  # fmt: skip
    (returned,) = case["returns"]
    assert (returned["from_unit"], returned["to_unit"], returned["ruling"]["upheld"], returned["ruling"]["by"]) == (
        "compound-a2x", "town-a", False, "镇综治中心")  # fmt: skip
    again = await stack.act(cid, "return", other_compound, {"reason": "ownership_unclear", "explanation": "x"})
    refused(again, 409, "overruled", "must handle it")
    case = await stack.ok(cid, "claim", other_compound)
    assert (case["claimed"], case["claim_deadline"]) == (True, None)
    refused(await stack.act(cid, "claim", other_compound), 409, "already claimed")

    await stack.ok(cid, "fast-track", other_compound, assignee="实成物业电工", due_in_days=2)
    await stack.ok(cid, "complete", other_compound, summary="Lamp replaced")
    case = await stack.ok(cid, "record-visit", other_compound, satisfaction="satisfied")
    assert (case["status"], case["outcome"]) == ("closed", "resolved")

    events = (await stack.http.get(f"/v1/cases/{cid}/events?limit=100", headers=town)).json()["items"]
    applied = [e["action"] for e in events if e["result"] == "applied"]
    assert applied == ["file", "submit", "escalate", "escalate", "dispatch", "return", "rule-return", "claim",
                       "fast-track", "complete", "record-visit"]  # fmt: skip
    # A dispatch is not an escalation: the escalations list has the two that went up.
    ups = (await stack.http.get("/v1/supervision/escalations", headers=community_supervisor)).json()["items"]
    assert [(e["from_tier"], e["to_tier"]) for e in ups if e["case_id"] == cid] == [
        ("community", "town"), ("compound", "community")]  # fmt: skip


async def test_an_unclaimed_escalated_case_is_urged_by_itself_and_waits_in_pending(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """A claim deadline (here 5 s) that passes urges the case once (claim_overdue, a penalty point); it does
    not escalate, and the case waits in the town supervisor's pending queue until it is claimed."""
    stack = await make_stack(sla_file=sla_file(tmp_path, {"claim": "5d"}, **LONG), sla_scale=SECONDS)
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    community = await stack.headers("caseworker", "community-a1", "社区两委")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid = (await stack.file(compound))["id"]
    await stack.ok(cid, "submit", compound)
    escalated = await stack.ok(cid, "escalate", compound, note="Needs the community")

    pending = (await stack.http.get("/v1/supervision/pending?kind=claim", headers=supervisor)).json()["items"]
    (item,) = [p for p in pending if p["case"]["id"] == cid]
    assert (item["kind"], item["case"]["handling_unit"], at(item["due"])) == (
        "claim", "community-a1", at(escalated["claim_deadline"]))  # fmt: skip

    case = await eventually(lambda: stack.case(cid, supervisor), lambda c: c["urges"], timeout=30)
    (urge,) = case["urges"]
    assert (urge["automatic"], urge["reason"], urge["by"]) == (True, "claim_overdue", "linli")
    assert (case["tier"], case["claimed"], case["claims_overdue"], case["claim_deadline"]) == (
        "community",
        False,
        1,
        None,
    )
    pending = (await stack.http.get("/v1/supervision/pending", headers=supervisor)).json()["items"]
    (item,) = [p for p in pending if p["case"]["id"] == cid]
    assert item["kind"] == "claim" and item["due"] is None

    case = await stack.ok(cid, "accept", community, note="On the agenda")  # acting claims it
    assert case["claimed"] is True and len(case["urges"]) == 1
    pending = (await stack.http.get("/v1/supervision/pending", headers=supervisor)).json()["items"]
    assert cid not in [p["case"]["id"] for p in pending]


async def test_a_case_overdue_at_the_town_gets_a_yellow_then_a_red_card_by_itself(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """Nobody reviews it: it climbs to the town, becomes overdue there (urged once, automatically), then after
    yellow_card_after gets a yellow card and after red_card_after a red one, all by itself."""
    cards = {"yellow_card_after": "2d", "red_card_after": "4d"}
    stack = await make_stack(sla_file=sla_file(tmp_path, cards, **{**LONG, "reviewing": 0.5}), sla_scale=SECONDS)
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid = (await stack.file(compound))["id"]
    await stack.ok(cid, "submit", compound)
    case = await eventually(lambda: stack.case(cid, supervisor), lambda c: c["overdue"], timeout=30)
    assert [(u["automatic"], u["reason"]) for u in case["urges"]] == [(True, "overdue")]
    case = await eventually(lambda: stack.case(cid, supervisor), lambda c: c["supervision"], timeout=30)
    assert (case["supervision"]["grade"], case["supervision"]["automatic"]) == ("yellow", True)
    case = await eventually(
        lambda: stack.case(cid, supervisor), lambda c: c["supervision"]["grade"] == "red", timeout=30
    )
    assert case["supervision"]["automatic"] and [h["grade"] for h in case["supervision_history"]] == ["yellow"]
    overdue_since = at(next(e for e in await _events(stack, cid, supervisor) if e["action"] == "overdue")["at"])
    yellow, red = (at(h["since"]) for h in (*case["supervision_history"], case["supervision"]))
    assert 2 <= (yellow - overdue_since).total_seconds() < 4 <= (red - overdue_since).total_seconds()
    rows = (await stack.http.get("/v1/supervision/overdue", headers=supervisor)).json()["items"]
    row = next(r for r in rows if r["id"] == cid)
    assert (row["supervision"]["grade"], row["urges"]) == ("red", 1)
    # Extending the deadline ends the overdue; the cards given stay in the record.
    case = await stack.ok(cid, "extend-deadline", supervisor, days=5, reason="Contractor booked")
    assert case["overdue"] is False and case["supervision"]["grade"] == "red"


async def _events(stack: Stack, cid: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    return (await stack.http.get(f"/v1/cases/{cid}/events?limit=100", headers=headers)).json()["items"]  # type: ignore[no-any-return]


async def test_a_residents_filing_waits_for_the_compound_to_claim_it(stack: Stack) -> None:
    """Filed by a resident: unclaimed at the compound, with a claim deadline; staff of the compound filing
    claim it at once (the other tests); a supervisor's command does not claim it for the unit."""
    resident = await stack.headers("resident", "compound-a1x", "王阿姨")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    case = await stack.file(resident)
    assert (case["claimed"], case["claims_due"]) == (False, 1) and case["claim_deadline"] is not None
    case = await stack.ok(case["id"], "urge", supervisor, note="Please acknowledge")
    assert case["claimed"] is False
    refused(await stack.act(case["id"], "claim", supervisor), 409, "only compound-a1x")
    case = await stack.ok(case["id"], "claim", compound)
    assert case["claimed"] is True
