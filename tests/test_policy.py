"""The rules as pure functions: no server, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.logging import mask_phone
from core.settings import Settings
from workflows import policy
from workflows.clock import Duration
from workflows.model import (
    SYSTEM_ACTOR,
    Accept,
    Actor,
    CallerFacts,
    CaseFiled,
    Claim,
    CoSign,
    Dispatch,
    Escalate,
    ExtendDeadline,
    Reporter,
    RequestExtension,
    Resume,
    ReturnCase,
    ReturnReason,
    Role,
    RuleReturn,
    SetUrgency,
    SlaPolicy,
    Stage,
    Submit,
    Supervise,
    SupervisionGrade,
    Suspend,
    Tier,
    UnitFacts,
    UnitPath,
    Urgency,
    Withdraw,
)
from workflows.rules import FIRST, LATEST
from workflows.state import alarm_rang, apply_command, carry_over, deadline_passed, next_alarm, open_case

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
ACTOR = Actor(id="p1", name="小李", role=Role.CASEWORKER)


# The v1 table (calendar days), as cases filed before v2 carry it in their input.
V1_DAYS = {"collecting": 3, "reviewing": [2, 3, 5], "deliberating": [7, 10, 15], "announcing": 3,
           "implementing": [15, 20, 30], "follow_up": [3, 3, 5]}  # fmt: skip
V1 = SlaPolicy(days={Stage(s): dict(zip(Tier, v if isinstance(v, list) else [v] * 3, strict=True))
                     for s, v in V1_DAYS.items()})  # fmt: skip


def new_case(*, v1: bool = False, **policy_overrides: object):
    filed = CaseFiled(
        id="c1", number="2026-000001", units=UnitPath(compound="x", community="y", town="z"), category="c",
        title="t", description="d", reporter=Reporter(name="王阿姨"), channel="in_person", filed_by=ACTOR, filed_at=T0,
    )  # fmt: skip
    sla = V1 if v1 else policy.build_policy(policy_overrides or None)
    state, _ = open_case(filed, sla, T0, rules=FIRST if v1 else LATEST)
    return state


def test_default_table_matches_the_design() -> None:
    sla = policy.build_policy()
    assert sla.deadlines is not None
    assert sla.deadlines[Stage.REVIEWING] == {Tier.COMPOUND: "2wd", Tier.COMMUNITY: "3wd", Tier.TOWN: "5wd"}
    assert sla.deadlines[Stage.IMPLEMENTING][Tier.TOWN] == "30wd" and sla.objection_threshold == 3
    assert policy.stage_duration(sla, Stage.DELIBERATING, Tier.COMMUNITY) == Duration(10, "wd")
    assert policy.stage_duration(sla, Stage.COLLECTING, Tier.TOWN) == Duration(3, "d")
    assert policy.stage_duration(sla, Stage.REVIEWING, Tier.TOWN, Urgency.EMERGENCY) == Duration(2, "h")
    assert policy.stage_duration(sla, Stage.IMPLEMENTING, Tier.COMPOUND, Urgency.URGENT) == Duration(3, "wd")
    assert policy.stage_duration(sla, Stage.IMPLEMENTING, Tier.TOWN, Urgency.COMPLEX) == Duration(60, "wd")
    assert policy.stage_duration(sla, Stage.REVIEWING, Tier.TOWN, Urgency.COMPLEX) == Duration(5, "wd")
    assert sla.max_suspension == "30d"


def test_a_v1_policy_counts_calendar_days_as_it_did() -> None:
    assert V1.deadlines is None
    assert policy.stage_duration(V1, Stage.REVIEWING, Tier.TOWN) == Duration(5.0, "d")


def test_policy_file_overrides_and_scale(tmp_path: Path) -> None:
    path = tmp_path / "sla.json"
    path.write_text(json.dumps({
        "name": "昌宁镇 2026", "objection_threshold": 5, "days": {"reviewing": {"town": 7}},
        "deadlines": {"deliberating": "12wd"}, "urgency": {"urgent": {"reviewing": "12h"}},
    }))  # fmt: skip
    sla = Settings(sla_file=path, sla_scale=0.5).sla_policy
    assert (sla.name, sla.objection_threshold, sla.scale) == ("昌宁镇 2026", 5, 0.5)
    assert sla.deadlines is not None
    assert sla.deadlines[Stage.REVIEWING] == {Tier.COMPOUND: "2wd", Tier.COMMUNITY: "3wd", Tier.TOWN: "7d"}
    assert set(sla.deadlines[Stage.DELIBERATING].values()) == {"12wd"}
    assert policy.stage_duration(sla, Stage.REVIEWING, Tier.TOWN, Urgency.URGENT) == Duration(12, "h")


@pytest.mark.parametrize(
    ("overrides", "why"),
    [({"days": {"closed": {"town": 1}}}, "closed stage"), ({"deadlines": {"reviewing": "2w"}}, "not a duration"),
     ({"deadlines": {"reviewing": "-1h"}}, "not a duration"), ({"deadlines": {"reviewing": "5000d"}}, "at most"),
     ({"deadlines": {"reviewing": {"city": "2wd"}}}, "no such tier 'city'"),
     ({"days": {"reviewing": "2"}}, "not a number"), ({"deadlines": {"reveiwing": "2wd"}}, "no such stage 'reveiwing'"),
     ({"urgency": {"critical": {}}}, "no such urgency"),
     ({"max_suspension": "0d"}, "more than zero")],
)  # fmt: skip
def test_bad_policies_say_what_is_wrong(overrides: dict[str, object], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        policy.build_policy(overrides)


def test_a_policy_file_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Settings(sla_file=tmp_path / "missing.json")


def test_tier_ladder() -> None:
    assert policy.next_tier(Tier.COMPOUND) is Tier.COMMUNITY
    assert policy.next_tier(Tier.COMMUNITY) is Tier.TOWN
    assert policy.next_tier(Tier.TOWN) is None


def test_breach_escalates_then_flags_overdue_at_the_town() -> None:
    """As v1 counted it (calendar days), which every case filed before v2 still runs on."""
    state = new_case(v1=True)
    apply_command(state, ACTOR, Submit(), T0, rules=FIRST)
    assert state.view.deadline == T0 + timedelta(days=2)
    tiers = []
    for _ in range(3):
        assert state.view.deadline is not None
        event = deadline_passed(state, state.view.deadline, rules=FIRST)
        tiers.append((event.action, event.to_tier, state.view.overdue))
    assert tiers == [
        ("sla-breach", Tier.COMMUNITY, False), ("sla-breach", Tier.TOWN, False), ("overdue", Tier.TOWN, True)
    ]  # fmt: skip
    assert state.view.handling_unit == "z" and state.view.stage is Stage.REVIEWING
    # The community got 3 days, the town 5, each from the moment of escalation.
    assert state.view.deadline == T0 + timedelta(days=2 + 3 + 5)
    assert all(e.by == SYSTEM_ACTOR.name for e in state.view.escalations)


def test_v2_breaches_count_working_days_from_each_escalation() -> None:
    """T0 is Saturday 21 Nov 2026, 16:00 in Beijing; no official schedule here, so Monday–Friday, provisional."""
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST)
    beijing_midnight = timedelta(hours=-8)
    assert state.view.deadline == datetime(2026, 11, 25, tzinfo=UTC) + beijing_midnight  # end of Tue 24th: 2wd
    assert state.view.deadline_provisional
    # At the community from Wed 25th 00:00: that day does not count, so Thu 26, Fri 27, Mon 30 (3wd).
    deadline_passed(state, state.view.deadline, rules=LATEST)
    assert state.view.deadline == datetime(2026, 12, 1, tzinfo=UTC) + beijing_midnight


def test_extension_clears_overdue_and_counts_from_now_when_already_late() -> None:
    state = new_case(v1=True)
    apply_command(state, ACTOR, Submit(), T0, rules=FIRST)
    for _ in range(3):
        deadline_passed(state, state.view.deadline, rules=FIRST)
    late = T0 + timedelta(days=20)
    apply_command(state, ACTOR, ExtendDeadline(days=2, reason="r"), late, rules=FIRST)
    assert state.view.deadline == late + timedelta(days=2) and not state.view.overdue
    # Since v2 the days are working days: from Friday 11 Dec 16:00 Beijing, 2wd end with Tuesday 15th.
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST)
    for _ in range(3):
        deadline_passed(state, state.view.deadline, rules=LATEST)
    apply_command(state, ACTOR, ExtendDeadline(days=2, reason="r"), late, rules=LATEST)
    assert state.view.deadline == datetime(2026, 12, 15, 16, tzinfo=UTC) and not state.view.overdue


def test_checks_give_reasons() -> None:
    state = new_case()
    with pytest.raises(policy.InvalidTransition, match="only when reviewing"):
        policy.check(state.view, Accept(note="n"), actor=ACTOR, now=T0, rules=LATEST)
    with pytest.raises(policy.InvalidTransition, match="reporter cannot co-sign"):
        policy.check(state.view, CoSign(resident="王阿姨"), actor=ACTOR, now=T0, rules=LATEST)
    apply_command(state, ACTOR, CoSign(resident="李四"), T0, rules=LATEST)
    with pytest.raises(policy.InvalidTransition, match="already co-signed"):
        policy.check(state.view, CoSign(resident="李四"), actor=ACTOR, now=T0, rules=LATEST)
    for _ in range(2):
        apply_command(state, ACTOR, Escalate(note="up"), T0, rules=LATEST)
    with pytest.raises(policy.InvalidTransition, match="top tier"):
        policy.check(state.view, Escalate(note="up"), actor=ACTOR, now=T0, rules=LATEST)


def test_every_applied_command_is_one_event_with_the_next_seq() -> None:
    state = new_case()
    events = [
        apply_command(state, ACTOR, c, T0, rules=LATEST) for c in (CoSign(resident="a"), Submit(), Accept(note="n"))
    ]
    assert [e.seq for e in events] == [2, 3, 4] and state.view.version == 4
    assert [(e.from_stage, e.to_stage) for e in events] == [
        (Stage.COLLECTING, Stage.COLLECTING), (Stage.COLLECTING, Stage.REVIEWING), (Stage.REVIEWING, Stage.DELIBERATING)
    ]  # fmt: skip


def test_phone_numbers_are_masked() -> None:
    assert mask_phone("13800138000") == "*******8000"
    assert mask_phone("+86 138-0013-8000") == "*********8000"
    assert mask_phone(None) is None


def test_a_bad_policy_file_stops_the_process_at_start_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "sla.json"
    path.write_text(json.dumps({"deadlines": {"reviewing": "2weeks"}}))
    with pytest.raises(ValueError, match="'2weeks' is not a duration"):
        Settings(sla_file=path)


# --- the clock's edges -------------------------------------------------------------------------------------


def _suspend(state, at, **fields) -> None:
    body = Suspend(reason="waiting_for_resident", note="away", **fields)
    policy.check(state.view, body, actor=ACTOR, now=at, rules=LATEST)
    apply_command(state, ACTOR, body, at, rules=LATEST)


def test_the_rules_a_case_was_filed_under_travel_with_it_across_continue_as_new() -> None:
    assert new_case().rules == sorted(LATEST.active)
    assert new_case(v1=True).rules == []


def test_a_run_carried_over_without_a_clock_suspends_and_extends_from_its_deadline() -> None:
    state = new_case(v1=True)
    apply_command(state, ACTOR, Submit(), T0, rules=FIRST)
    deadline = state.view.deadline
    assert deadline is not None
    state.timer = None  # as a run continued as new before clocks were kept carries it
    carry_over(state)
    apply_command(state, ACTOR, ExtendDeadline(days=1, reason="r"), T0, rules=LATEST)
    assert state.view.deadline is not None and state.view.deadline > deadline  # later, never earlier
    _suspend(state, T0 + timedelta(hours=1))
    apply_command(state, ACTOR, Resume(note="back"), T0 + timedelta(hours=2), rules=LATEST)
    assert state.view.deadline is not None and state.timer is not None


def test_withdrawing_a_suspended_case_leaves_no_deadline() -> None:
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST)
    _suspend(state, T0)
    apply_command(state, ACTOR, Withdraw(reason="fixed"), T0 + timedelta(hours=1), rules=LATEST)
    assert state.view.deadline is None and state.view.suspended is None and state.view.suspensions


def test_a_case_past_its_deadline_cannot_be_suspended() -> None:
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST)
    assert state.view.deadline is not None
    with pytest.raises(policy.InvalidTransition, match="already passed"):
        _suspend(state, state.view.deadline + timedelta(minutes=1))


def test_a_pending_extension_request_lapses_when_its_deadline_ends() -> None:
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST)
    apply_command(state, ACTOR, RequestExtension(days=5, reason="r"), T0, rules=LATEST)
    assert state.view.deadline is not None
    event = deadline_passed(state, state.view.deadline, rules=LATEST)
    assert event.detail["extension_request_lapsed"] == 5 and state.view.tier is Tier.COMMUNITY
    assert state.view.extension_request is None
    assert [(e.requested, e.granted, e.approved) for e in state.view.extensions] == [(5, 0, False)]


def test_set_urgency_counts_from_the_stages_start_even_after_a_suspension() -> None:
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST)
    _suspend(state, T0 + timedelta(hours=1))
    apply_command(state, ACTOR, Resume(note="back"), T0 + timedelta(hours=3), rules=LATEST)
    apply_command(state, ACTOR, SetUrgency(urgency="urgent", reason="no water"), T0 + timedelta(hours=4),
                  rules=LATEST)  # fmt: skip
    assert state.view.deadline == T0 + timedelta(hours=24)


def test_urgency_overrides_merge_tier_by_tier() -> None:
    sla = policy.build_policy({"urgency": {"complex": {"implementing": {"town": "90wd"}}}})
    assert policy.stage_duration(sla, Stage.IMPLEMENTING, Tier.TOWN, Urgency.COMPLEX) == Duration(90, "wd")
    assert policy.stage_duration(sla, Stage.IMPLEMENTING, Tier.COMPOUND, Urgency.COMPLEX) == Duration(30, "wd")


# --- between tiers ------------------------------------------------------------------------------------------

TOWN_WORKER = CallerFacts(unit="z", path="/z/")
COMPOUND_WORKER = CallerFacts(unit="x", path="/z/y/x/")


def test_claim_deadlines_from_the_policy_per_tier_and_urgency() -> None:
    sla = policy.build_policy({"claim": {"town": "2wd"}, "urgency": {"urgent": {"claim": "4h"}}})
    assert policy.claim_duration(sla, Tier.COMPOUND, Urgency.NORMAL) == Duration(1, "wd")
    assert policy.claim_duration(sla, Tier.TOWN, Urgency.NORMAL) == Duration(2, "wd")
    assert policy.claim_duration(sla, Tier.TOWN, Urgency.URGENT) == Duration(4, "h")
    assert policy.claim_duration(sla, Tier.TOWN, Urgency.EMERGENCY) == Duration(30, "m")
    with pytest.raises(ValueError, match="claim: no such tier 'city'"):
        policy.build_policy({"claim": {"city": "1wd"}})


def test_a_residents_filing_waits_for_a_claim_and_its_deadline_urges_once() -> None:
    """Filed Saturday 21 Nov (Beijing): claimed by the end of the next working day, Monday 23rd."""
    state = new_case()
    assert (state.view.claimed, state.view.claims_due) == (False, 1)
    assert state.view.claim_deadline == datetime(2026, 11, 24, tzinfo=UTC) - timedelta(hours=8)
    assert next_alarm(state, LATEST) == (state.view.claim_deadline, "claim")
    assert next_alarm(state, FIRST) == (state.view.deadline, "deadline")  # a case from before: no claim alarm
    event = alarm_rang(state, "claim", state.view.claim_deadline, rules=LATEST)
    assert event is not None and (event.action, event.detail["reason"]) == ("urge", "claim_overdue")
    assert (state.view.claimed, state.view.claims_overdue, state.view.claim_deadline) == (False, 1, None)
    assert next_alarm(state, LATEST) == (state.view.deadline, "deadline")  # urged once, not again


def test_a_supervisors_command_does_not_claim_but_a_caseworkers_of_the_unit_does() -> None:
    state = new_case()
    boss = Actor(id="s1", name="书记", role=Role.SUPERVISOR)
    event = apply_command(state, boss, Submit(), T0, rules=LATEST, caller=CallerFacts(unit="x", path="/z/y/x/"))
    assert not state.view.claimed and "claimed" not in event.detail
    event = apply_command(state, ACTOR, Accept(note="n"), T0, rules=LATEST, caller=COMPOUND_WORKER)
    assert state.view.claimed and event.detail["claimed"] is True


def test_dispatch_down_only_and_return_to_the_sender_once() -> None:
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST, caller=COMPOUND_WORKER)
    for _ in range(2):
        apply_command(state, ACTOR, Escalate(note="up"), T0, rules=LATEST, caller=COMPOUND_WORKER)
    town = Actor(id="t1", name="镇", role=Role.CASEWORKER)
    other = UnitFacts(code="w", path="/z/v/w/")
    with pytest.raises(policy.InvalidTransition, match="not inside z's subtree"):
        policy.check(state.view, Dispatch(to_unit="q"), actor=town, now=T0, rules=LATEST, caller=TOWN_WORKER,
                     target=UnitFacts(code="q", path="/q/"))  # fmt: skip
    apply_command(state, town, Dispatch(to_unit="w"), T0, rules=LATEST, caller=TOWN_WORKER, target=other)
    assert (state.view.handling_unit, state.view.tier, state.view.claimed) == ("w", Tier.COMPOUND, False)
    w_worker, w = Actor(id="w1", name="w", role=Role.CASEWORKER), CallerFacts(unit="w", path="/z/v/w/")
    body = ReturnCase(reason=ReturnReason.NOT_OUR_REMIT, explanation="not ours")
    apply_command(state, w_worker, body, T0, rules=LATEST, caller=w)
    assert (state.view.handling_unit, state.view.claimed, state.view.pending_return.from_unit) == ("z", True, "w")
    with pytest.raises(policy.InvalidTransition, match="rule on the return"):
        policy.check(state.view, Accept(note="n"), actor=town, now=T0, rules=LATEST, caller=TOWN_WORKER)
    apply_command(state, town, RuleReturn(upheld=False, note="yours"), T0, rules=LATEST, caller=TOWN_WORKER)
    assert (state.view.handling_path, state.view.claimed, state.view.pending_return) == ("/z/v/w/", False, None)
    with pytest.raises(policy.InvalidTransition, match="overruled"):
        policy.check(state.view, body, actor=w_worker, now=T0, rules=LATEST, caller=w)
    # Escalating from there goes to w's own community, not the compound line the case was filed on.
    apply_command(state, w_worker, Escalate(note="up"), T0, rules=LATEST, caller=w)
    assert (state.view.handling_unit, state.view.tier, state.view.arrived_from) == ("v", Tier.COMMUNITY, "/z/v/w/")


def test_overdue_at_the_town_is_urged_once_then_carded_yellow_then_red() -> None:
    state = new_case(yellow_card_after="3wd", red_card_after="10wd")
    apply_command(state, ACTOR, Submit(), T0, rules=LATEST, caller=COMPOUND_WORKER)
    while not state.view.overdue:
        assert state.view.deadline is not None
        deadline_passed(state, state.view.deadline, rules=LATEST)
    since = state.overdue_since
    assert since is not None and [(u.automatic, u.reason) for u in state.view.urges] == [(True, "overdue")]
    assert next_alarm(state, LATEST) == (state.view.claim_deadline, "claim")  # the town has not claimed it
    apply_command(state, ACTOR, Claim(), since, rules=LATEST, caller=TOWN_WORKER)
    yellow_at, kind = next_alarm(state, LATEST) or (None, None)
    assert kind == "yellow" and yellow_at is not None and yellow_at > since + timedelta(days=3)
    alarm_rang(state, "yellow", yellow_at, rules=LATEST)
    red_at, kind = next_alarm(state, LATEST) or (None, None)
    assert kind == "red" and red_at is not None and red_at > since + timedelta(days=10)
    # A red card given by hand first: the automatic one changes nothing, and no alarm is left.
    apply_command(state, SYSTEM_ACTOR, Supervise(grade=SupervisionGrade.RED, note="n"), yellow_at, rules=LATEST)
    assert alarm_rang(state, "red", red_at, rules=LATEST) is None
    assert next_alarm(state, LATEST) is None
    assert [h.grade for h in state.view.supervision_history] == [SupervisionGrade.YELLOW]
