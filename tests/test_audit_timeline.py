"""How the timeline joins the history's records to the replayed events, including the rare records that
changed nothing: a command refused by the handler after it was accepted, a timer whose deadline had moved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory

from api.audit.check import CaseHistories
from api.audit.facts import read_run
from api.audit.replay import RunCapture, replay_cases
from api.audit.timeline import run_timeline

RESOLVED = Path(__file__).parent / "histories" / "resolved.json"


async def replayed_resolved() -> tuple[WorkflowHistory, RunCapture]:
    history = WorkflowHistory.from_json("case-resolved", RESOLVED.read_text())

    async def one() -> AsyncIterator[CaseHistories]:
        yield CaseHistories("case-resolved", [history])

    ((_, (run,)),) = [item async for item in replay_cases(one())]
    assert run.failure is None
    return history, run.capture


async def test_every_record_is_joined_to_the_event_it_caused() -> None:
    history, capture = await replayed_resolved()
    timeline = run_timeline(read_run(history), capture)
    assert [e.seq for e in timeline] == list(range(1, 11))
    assert [(e.kind, e.action) for e in timeline][:3] == [("filing", "file"), ("command", "co-sign"),
                                                          ("command", "submit")]  # fmt: skip
    period = next(e for e in timeline if e.kind == "deadline")
    assert period.action == "objection-period-ended" and period.timer is not None
    assert period.timer.fired_at <= period.at and period.to_stage == "implementing"
    assert all(e.result == "applied" and e.update_id for e in timeline if e.kind == "command")


async def test_records_that_changed_nothing_say_so() -> None:
    history, capture = await replayed_resolved()
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
