"""How the timeline joins the history's records to the replayed events, including the rare records that
changed nothing: a command refused by the handler after it was accepted, a timer whose deadline had moved,
a calendar update that moved no deadline; and how the clock's events, and the moves between tiers, read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from temporalio.client import WorkflowHistory

from audit.check import CaseHistories
from audit.facts import read_run
from audit.replay import RunCapture, replay_cases
from audit.timeline import run_timeline
from core.codec import Keyring
from core.tables import CaseRecord
from core.temporal import converter_for
from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file
from workflows import workflow_id
from workflows.case import CaseWorkflow
from workflows.clock import YearSchedule

RESOLVED = Path(__file__).parent / "histories" / "resolved.json"
CARDED = Path(__file__).parent / "histories" / "carded_by_itself.json"


async def replayed(saved: Path = RESOLVED) -> tuple[WorkflowHistory, RunCapture]:
    history = WorkflowHistory.from_json(f"case-{saved.stem}", saved.read_text())

    async def one() -> AsyncIterator[CaseHistories]:
        yield CaseHistories(f"case-{saved.stem}", [history])

    converter = converter_for(Keyring.generate())  # the saved history is plaintext: any keys read it
    ((_, (run,)),) = [item async for item in replay_cases(one(), data_converter=converter)]
    assert run.failure is None
    return history, run.capture


async def test_every_record_is_joined_to_the_event_it_caused() -> None:
    history, capture = await replayed()
    timeline = run_timeline(read_run(history), capture)
    assert [e.seq for e in timeline] == list(range(1, 11))
    assert [(e.kind, e.action) for e in timeline][:3] == [("filing", "file"), ("command", "co-sign"),
                                                          ("command", "submit")]  # fmt: skip
    period = next(e for e in timeline if e.kind == "deadline")
    assert period.action == "objection-period-ended" and period.timer is not None
    assert period.timer.fired_at <= period.at and period.to_stage == "implementing"
    assert all(e.result == "applied" and e.update_id for e in timeline if e.kind == "command")


async def test_records_that_changed_nothing_say_so() -> None:
    history, capture = await replayed()
    facts = read_run(history)
    # As if the handler had refused the co-sign after accepting it, and the deadline had moved before the
    # objection period's timer fired: the history keeps both records, the workflow made no event of them.
    co_sign = next(u for u in facts.updates if u.command and u.command.body.action == "co-sign")
    co_sign.outcome, co_sign.reason = "rejected", "李大爷 has already co-signed this case"
    period_ended = next(seq for seq, e in capture.events.items() if e.action == "objection-period-ended")
    del capture.events[2], capture.events[period_ended]

    timeline = run_timeline(facts, capture)
    refused = next(e for e in timeline if e.action == "co-sign")
    assert (refused.result, refused.seq, refused.reason) == ("rejected", None, "李大爷 has already co-signed this case")
    assert refused.actor.name == "社区两委" and refused.arguments == {"resident": "李大爷"}
    idle = next(e for e in timeline if e.kind == "deadline")
    assert (idle.action, idle.result, idle.seq) == ("timer-fired", "no_change", None) and idle.timer is not None
    assert [e.seq for e in timeline if e.seq] == [s for s in range(1, 11) if s not in (2, period_ended)]


# --- the clock: each of its events reads as what it is, from the history alone ------------------------------


async def audit(stack: Stack, case_id: str) -> dict[str, Any]:
    auditor = await stack.headers("auditor", None, "纪检监察组")
    response = await stack.http.post(f"/v1/audit/cases/{case_id}/replay", headers=auditor)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert report["deterministic"] is True and report["error"] is None, report["error"]
    return report


def first_working_day_after(case: dict[str, Any]) -> date:
    """The first day a working-day deadline counts: the next Monday–Friday after the day the clock started
    (Beijing; the case carries no official schedule yet)."""
    day = (datetime.fromisoformat(case["updated_at"]) + timedelta(hours=8)).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def test_the_clock_reads_as_what_it_did(stack: Stack) -> None:
    """A calendar change that moved the deadline and one that did not, an urgency change, a suspension
    resumed by hand and one that resumed by itself, an extension asked for and granted: one entry each."""
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid = (await stack.file(caseworker))["id"]
    reviewing = await stack.ok(cid, "submit", caseworker)
    holiday = first_working_day_after(reviewing)
    schedule = YearSchedule(year=holiday.year, complete=False, holidays=[holiday])
    handle = stack.temporal.get_workflow_handle(workflow_id(cid))
    moved = await handle.execute_update(CaseWorkflow.calendar, schedule)
    assert moved.deadline is not None and moved.deadline > datetime.fromisoformat(reviewing["deadline"])
    await handle.execute_update(CaseWorkflow.calendar, schedule)  # the same again: nothing moves
    await stack.ok(cid, "set-urgency", caseworker, urgency="complex", reason="Three owners must agree")
    await stack.ok(cid, "accept", caseworker, note="Within the compound's reach")
    await stack.ok(cid, "suspend", caseworker, reason="waiting_for_resident", note="Resident away until Friday")
    await stack.ok(cid, "resume", caseworker, note="Resident is back")
    await stack.ok(cid, "request-extension", caseworker, days=2, reason="Waiting for the pipe supplier")
    await stack.ok(cid, "decide-extension", supervisor, approve=True, note="Two days")
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await stack.ok(cid, "suspend", caseworker, reason="waiting_for_third_party", note="Water company", until=until)
    final = await eventually(lambda: stack.case(cid, caseworker), lambda c: c["suspended"] is None, timeout=20)

    report = await audit(stack, cid)
    assert report["matches_read_model"] is True, report["mismatches"]
    timeline = report["timeline"]
    assert [(e["kind"], e["action"], e["actor"]["name"], e["result"], e["seq"]) for e in timeline] == [
        ("filing", "file", "网格员小李", "applied", 1),
        ("command", "submit", "网格员小李", "applied", 2),
        ("calendar", "calendar-updated", "linli", "applied", 3),
        ("calendar", "calendar-updated", "linli", "no_change", None),
        ("command", "set-urgency", "网格员小李", "applied", 4),
        ("command", "accept", "网格员小李", "applied", 5),
        ("command", "suspend", "网格员小李", "applied", 6),
        ("command", "resume", "网格员小李", "applied", 7),
        ("command", "request-extension", "网格员小李", "applied", 8),
        ("command", "decide-extension", "综治中心", "applied", 9),
        ("command", "suspend", "网格员小李", "applied", 10),
        ("deadline", "resume", "linli", "applied", 11),
    ]  # fmt: skip
    retimed, unchanged = timeline[2], timeline[3]
    assert retimed["arguments"]["holidays"] == [holiday.isoformat()] and retimed["update_id"]
    assert retimed["detail"]["year"] == holiday.year and retimed["detail"]["provisional"] is True
    assert datetime.fromisoformat(retimed["detail"]["old_deadline"]) == datetime.fromisoformat(reviewing["deadline"])
    assert datetime.fromisoformat(retimed["detail"]["new_deadline"]) == moved.deadline
    assert unchanged["reason"] == "the case's deadline did not move" and unchanged["detail"] == {}
    assert timeline[4]["arguments"] == {"urgency": "complex", "reason": "Three owners must agree"}
    suspend, resume = timeline[6], timeline[7]
    assert suspend["arguments"] == {"reason": "waiting_for_resident", "note": "Resident away until Friday"}
    assert resume["arguments"] == {"note": "Resident is back"} and "suspended_for_minutes" in resume["detail"]
    assert timeline[8]["arguments"] == {"days": 2, "reason": "Waiting for the pipe supplier"}
    assert timeline[9]["arguments"] == {"approve": True, "note": "Two days"}
    automatic = timeline[11]
    assert automatic["detail"]["automatic"] is True and automatic["actor"]["role"] == "system"
    assert automatic["timer"] is not None and automatic["timer"]["fired_at"] <= automatic["at"]
    state = report["final_state"]
    as_auditors_see_it = await stack.case(cid, await stack.headers("auditor", None))  # the phone masked
    assert state == as_auditors_see_it and state["urgency"] == "complex" and state["suspended"] is None
    assert [(s["reason"], s["resumed_by"]) for s in state["suspensions"]] == [
        ("waiting_for_resident", "网格员小李"), ("waiting_for_third_party", "linli"),
    ]  # fmt: skip
    assert [(e["requested"], e["granted"], e["by"]) for e in state["extensions"]] == [(2, 2, "综治中心")]

    # Replay checks the clock's columns too: the read model altered, the audit names each one.
    async with stack.engine.begin() as db:
        await db.execute(
            update(CaseRecord)
            .where(col(CaseRecord.id) == cid)
            .values(urgency="normal", suspended=True, deadline_provisional=not final["deadline_provisional"])
        )
    report = await audit(stack, cid)
    assert report["matches_read_model"] is False
    assert {(m["field"], m["history"], m["read_model"]) for m in report["mismatches"]} == {
        ("urgency", "complex", "normal"), ("suspended", False, True),
        ("deadline_provisional", final["deadline_provisional"], not final["deadline_provisional"]),
    }  # fmt: skip


async def test_a_breach_says_the_extension_request_it_overtook(make_stack: StackFactory, tmp_path: Path) -> None:
    """A request still pending when the deadline passes does not stop the breach; the breach records it."""
    stack = await make_stack(sla_file=sla_file(tmp_path, None, **{**LONG, "reviewing": 1}), sla_scale=SECONDS)
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "submit", caseworker)
    await stack.ok(cid, "request-extension", caseworker, days=3, reason="Waiting for the pipe supplier")
    await eventually(lambda: stack.case(cid, caseworker), lambda c: c["tier"] == "community")

    report = await audit(stack, cid)
    assert report["matches_read_model"] is True, report["mismatches"]
    breach = next(e for e in report["timeline"] if e["action"] == "sla-breach")
    assert (breach["kind"], breach["seq"], breach["detail"]["extension_request_lapsed"]) == ("deadline", 4, 3)
    assert breach["escalation"]["reason"] == "sla_breach" and breach["timer"] is not None


# --- between tiers: each move between units, and each urge and card, reads as what it is ----------------------

NOT_LINKED = "the replay produced this event but the history has no record that caused it"


def read(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["kind"], entry["action"], entry["actor"]["name"], entry["actor_unit"], entry["claimed"]


async def at_the_town(stack: Stack, compound: dict[str, str], community: dict[str, str]) -> str:
    """A case filed at compound-a1x by its caseworker, in review, escalated by hand to community-a1, then
    (by community-a1, which claims it so) to the town."""
    cid: str = (await stack.file(compound, title="Street lamp out on the service road"))["id"]
    await stack.ok(cid, "submit", compound)
    await stack.ok(cid, "escalate", compound, note="Lamp belongs to the road authority")
    await stack.ok(cid, "escalate", community, note="Needs the town")
    return cid


async def test_dispatch_claim_return_and_ruling_read_as_what_they_are(stack: Stack) -> None:
    """Dispatched down, returned, the return overruled, claimed; urged and carded by hand: the timeline says
    from and to, by whom, why, and which tier changes were escalations (only the two that went up)."""
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    community = await stack.headers("caseworker", "community-a1", "社区两委")
    town = await stack.headers("caseworker", "town-a", "镇综治中心")
    other = await stack.headers("caseworker", "compound-a2x", "实成物业")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid = await at_the_town(stack, compound, community)
    await stack.ok(cid, "dispatch", town, to_unit="compound-a2x", note="The service road is 实成's")
    await stack.ok(cid, "return", other, reason="not_our_remit", explanation="The lamp is on 云台府's side")
    await stack.ok(cid, "rule-return", town, upheld=False, note="The survey map puts it on 实成's road")
    await stack.ok(cid, "claim", other)
    await stack.ok(cid, "urge", supervisor, note="Residents have called twice")
    await stack.ok(cid, "supervise", supervisor, grade="yellow", note="A week without a light")

    report = await audit(stack, cid)
    assert report["matches_read_model"] is True, report["mismatches"]
    timeline = report["timeline"]
    assert [read(e) for e in timeline] == [
        ("filing", "file", "网格员", None, True),
        ("command", "submit", "网格员", "compound-a1x", False),
        ("command", "escalate", "网格员", "compound-a1x", False),
        ("command", "escalate", "社区两委", "community-a1", True),  # acting claimed it for community-a1
        ("command", "dispatch", "镇综治中心", "town-a", True),
        ("command", "return", "实成物业", "compound-a2x", False),  # a return never claims
        ("command", "rule-return", "镇综治中心", "town-a", False),
        ("command", "claim", "实成物业", "compound-a2x", True),
        ("command", "urge", "综治中心", "town-a", False),
        ("command", "supervise", "综治中心", "town-a", False),
    ]  # fmt: skip
    assert all(e["result"] == "applied" and e["update_id"] for e in timeline[1:])
    _, _, up, up_again, dispatch, returned, ruling, claim, urge, card = timeline
    # Two tier changes went up by hand; the dispatch, the return and the ruling moved the tier without escalating.
    assert [(e["from_tier"], e["to_tier"], (e["escalation"] or {}).get("reason")) for e in timeline[2:7]] == [
        ("compound", "community", "manual"), ("community", "town", "manual"), ("town", "compound", None),
        ("compound", "town", None), ("town", "compound", None),
    ]  # fmt: skip
    assert up["summary"] == "escalated from compound to community by 网格员 (compound-a1x)"
    assert (
        up_again["summary"]
        == "escalated from community to town by 社区两委 (community-a1), claiming the case for community-a1"
    )
    assert dispatch["dispatch"] == {
        "from_unit": "town-a",
        "to_unit": "compound-a2x",
        "note": "The service road is 实成's",
    }
    assert (
        dispatch["summary"]
        == "dispatched from town-a to compound-a2x (compound) by 镇综治中心, claiming the case for town-a"
    )
    assert returned["returned"] == {"from_unit": "compound-a2x", "to_unit": "town-a", "reason": "not_our_remit",
                                    "explanation": "The lamp is on 云台府's side"}  # fmt: skip
    assert returned["summary"] == "returned by compound-a2x (实成物业) to town-a: not_our_remit; town-a must rule on it"
    assert ruling["ruling"] == {"upheld": False, "returned_by": "compound-a2x", "outcome": "sent_back",
                                "to_unit": "compound-a2x", "note": "The survey map puts it on 实成's road"}  # fmt: skip
    assert ruling["dispatch"] is None and ruling["summary"] == (
        "the return by compound-a2x overruled by 镇综治中心 (town-a): back to compound-a2x (compound), which must "
        "claim and handle it"
    )
    assert claim["summary"] == "claimed for compound-a2x by 实成物业"
    assert urge["urge"] == {"automatic": False, "reason": None, "note": "Residents have called twice", "unit": None,
                            "claim_deadline": None}  # fmt: skip
    assert urge["summary"] == "urged by 综治中心 (town-a)"
    assert (card["supervision"]["grade"], card["supervision"]["automatic"], card["summary"]) == (
        "yellow", False, "a yellow card given by 综治中心 (town-a)")  # fmt: skip
    assert all(e["returned"] is None and e["ruling"] is None for e in timeline if e["action"] not in (
        "return", "rule-return"))  # fmt: skip


async def test_an_upheld_return_is_kept_or_dispatched_on(stack: Stack) -> None:
    """Upheld with a unit to send it to: a ruling that dispatches; upheld without one: the town keeps it."""
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    community = await stack.headers("caseworker", "community-a1", "社区两委")
    town = await stack.headers("caseworker", "town-a", "镇综治中心")
    neighbour = await stack.headers("caseworker", "compound-a1y", "惠民物业")
    other = await stack.headers("caseworker", "compound-a2x", "实成物业")
    cid = await at_the_town(stack, compound, community)
    await stack.ok(cid, "dispatch", town, to_unit="compound-a1y")
    await stack.ok(cid, "return", neighbour, reason="wrong_jurisdiction", explanation="Not our road")
    await stack.ok(cid, "rule-return", town, upheld=True, to_unit="compound-a2x", note="实成's road then")
    await stack.ok(cid, "return", other, reason="duplicate", explanation="Filed with us as well")
    case = await stack.ok(cid, "rule-return", town, upheld=True, note="The town handles it")
    assert (case["handling_unit"], case["tier"]) == ("town-a", "town")

    report = await audit(stack, cid)
    assert report["matches_read_model"] is True, report["mismatches"]
    dispatch, _, onward, _, kept = report["timeline"][4:]
    assert dispatch["dispatch"] == {"from_unit": "town-a", "to_unit": "compound-a1y", "note": None}
    assert (onward["ruling"]["outcome"], onward["ruling"]["to_unit"], onward["ruling"]["returned_by"]) == (
        "dispatched_on", "compound-a2x", "compound-a1y")  # fmt: skip
    assert onward["dispatch"] == {"from_unit": "town-a", "to_unit": "compound-a2x", "note": "实成's road then"}
    assert onward["summary"] == (
        "the return by compound-a1y upheld by 镇综治中心 (town-a): dispatched on to compound-a2x (compound)"
    )
    assert (kept["ruling"]["outcome"], kept["ruling"]["to_unit"], kept["dispatch"], kept["to_tier"]) == (
        "kept", None, None, "town")  # fmt: skip
    assert (
        kept["summary"]
        == "the return by compound-a2x upheld by 镇综治中心 (town-a): the unit it came back to handles the case"
    )
    assert all(e["escalation"] is None for e in report["timeline"][4:])


async def test_a_claim_deadline_that_passes_is_an_urge_on_its_timer(make_stack: StackFactory, tmp_path: Path) -> None:
    """A 2 s claim deadline passes at community-a1: the automatic urge stands on the timer that fired it, like a
    breach; the community's next command claims the case as it goes."""
    stack = await make_stack(sla_file=sla_file(tmp_path, {"claim": "2d"}, **LONG), sla_scale=SECONDS)
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    community = await stack.headers("caseworker", "community-a1", "社区两委")
    cid = (await stack.file(compound))["id"]
    await stack.ok(cid, "submit", compound)
    escalated = await stack.ok(cid, "escalate", compound, note="Needs the community")
    await eventually(lambda: stack.case(cid, community), lambda c: c["claims_overdue"] == 1, timeout=30)
    await stack.ok(cid, "accept", community, note="On the agenda")

    report = await audit(stack, cid)
    assert report["matches_read_model"] is True, report["mismatches"]
    timeline = report["timeline"]
    assert [(e["kind"], e["action"], e["actor"]["role"], e["seq"]) for e in timeline] == [
        ("filing", "file", "caseworker", 1), ("command", "submit", "caseworker", 2),
        ("command", "escalate", "caseworker", 3), ("deadline", "urge", "system", 4),
        ("command", "accept", "caseworker", 5),
    ]  # fmt: skip
    assert all(e["reason"] != NOT_LINKED for e in timeline)
    urged = timeline[3]
    assert urged["result"] == "applied" and urged["timer"] is not None
    assert urged["timer"]["fired_at"] <= urged["at"] and urged["history_event_id"] > timeline[2]["history_event_id"]
    missed = urged["urge"].pop("claim_deadline")
    assert datetime.fromisoformat(missed) == datetime.fromisoformat(escalated["claim_deadline"])
    assert urged["urge"] == {"automatic": True, "reason": "claim_overdue", "note": None, "unit": "community-a1"}
    assert urged["summary"] == "urged automatically: community-a1 had not claimed the case by its claim deadline"
    accepted = timeline[4]
    assert accepted["claimed"] is True and accepted["summary"] == (
        "accept by 社区两委 (community-a1): reviewing → deliberating, claiming the case for community-a1"
    )


async def test_overdue_at_the_town_is_urged_and_carded_on_its_timers(make_stack: StackFactory, tmp_path: Path) -> None:
    """Overdue at the town (urged as it became so), and a red card given by hand before any fell due: the
    yellow and red cards' timers fire and change nothing, and the timeline says why."""
    cards = {"yellow_card_after": "3d", "red_card_after": "5d"}  # time enough for the red card by hand first
    stack = await make_stack(sla_file=sla_file(tmp_path, cards, **{**LONG, "reviewing": 0.5}), sla_scale=SECONDS)
    compound = await stack.headers("caseworker", "compound-a1x", "网格员")
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid = (await stack.file(compound))["id"]
    await stack.ok(cid, "submit", compound)
    await eventually(lambda: stack.case(cid, supervisor), lambda c: c["overdue"], timeout=30)
    await stack.ok(cid, "supervise", supervisor, grade="red", note="Overdue at the town")

    def both_fell_due(report: dict[str, Any]) -> bool:  # 3 s and 5 s after the case became overdue
        return [e["action"] for e in report["timeline"]].count("timer-fired") == 2

    report = await eventually(lambda: audit(stack, cid), both_fell_due, timeout=30, interval=0.5)
    assert report["matches_read_model"] is True, report["mismatches"]
    timeline = report["timeline"]
    assert [(e["kind"], e["action"], e["result"], e["seq"]) for e in timeline] == [
        ("filing", "file", "applied", 1), ("command", "submit", "applied", 2),
        ("deadline", "sla-breach", "applied", 3), ("deadline", "sla-breach", "applied", 4),
        ("deadline", "overdue", "applied", 5), ("command", "supervise", "applied", 6),
        ("deadline", "timer-fired", "no_change", None), ("deadline", "timer-fired", "no_change", None),
    ]  # fmt: skip
    assert all(e["timer"] is not None for e in timeline if e["kind"] == "deadline")
    overdue = timeline[4]
    assert overdue["urge"] == {"automatic": True, "reason": "overdue", "note": None, "unit": None,
                               "claim_deadline": None}  # fmt: skip
    assert overdue["summary"] == "the deadline passed at the town: overdue, and urged automatically"
    assert timeline[5]["summary"] == "a red card given by 综治中心 (town-a)"
    for idle in timeline[6:]:
        assert idle["reason"] == "a card fell due, but the case was already under a red card"
        assert idle["summary"] == "a timer fired and changed nothing: " + idle["reason"]
    assert report["final_state"]["supervision"]["grade"] == "red"


async def test_automatic_urges_and_cards_stand_on_their_timers() -> None:
    """The saved history of a case urged and carded by itself: every automatic event on the timer that fired
    it, none left unlinked, each read as the urge or card it was."""
    history, capture = await replayed(CARDED)
    timeline = run_timeline(read_run(history), capture)
    automatic = [e for e in timeline if e.actor.role == "system"]
    assert [(e.action, e.seq is not None, e.timer is not None) for e in automatic] == [
        ("urge", True, True), ("sla-breach", True, True), ("sla-breach", True, True), ("overdue", True, True),
        ("urge", True, True), ("supervise", True, True), ("supervise", True, True),
    ]  # fmt: skip
    assert all(e.kind == "deadline" and e.reason is None for e in automatic)
    assert [(e.urge.reason, e.urge.unit) for e in automatic if e.urge] == [
        ("claim_overdue", "compound-a1x"), ("overdue", None), ("claim_overdue", "town-a")]  # fmt: skip
    assert [(e.supervision.grade, e.supervision.after) for e in automatic if e.supervision] == [
        ("yellow", "2d"), ("red", "4d")]  # fmt: skip
    assert [e.summary for e in automatic if e.supervision] == [
        "a yellow card given automatically: overdue at the town for 2d",
        "a red card given automatically: overdue at the town for 4d",
    ]
