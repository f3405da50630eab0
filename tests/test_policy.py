"""The rules as pure functions: no server, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.logging import mask_phone
from core.settings import Settings
from workflows import policy
from workflows.model import (
    SYSTEM_ACTOR,
    Accept,
    Actor,
    CaseFiled,
    CoSign,
    Escalate,
    ExtendDeadline,
    Reporter,
    Role,
    Stage,
    Submit,
    Tier,
    UnitPath,
)
from workflows.state import apply_command, deadline_passed, open_case

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
ACTOR = Actor(id="p1", name="小李", role=Role.CASEWORKER)


def new_case(**policy_overrides: object):
    filed = CaseFiled(
        id="c1", number="2026-000001", units=UnitPath(compound="x", community="y", town="z"), category="c",
        title="t", description="d", reporter=Reporter(name="王阿姨"), channel="in_person", filed_by=ACTOR, filed_at=T0,
    )  # fmt: skip
    state, _ = open_case(filed, policy.build_policy(policy_overrides or None), T0)
    return state


def test_default_table_matches_the_design() -> None:
    sla = policy.build_policy()
    assert sla.days[Stage.REVIEWING] == {Tier.COMPOUND: 2, Tier.COMMUNITY: 3, Tier.TOWN: 5}
    assert sla.days[Stage.IMPLEMENTING][Tier.TOWN] == 30 and sla.objection_threshold == 3
    assert policy.duration(sla, Stage.DELIBERATING, Tier.COMMUNITY) == timedelta(days=10)


def test_policy_file_overrides_and_scale(tmp_path: Path) -> None:
    path = tmp_path / "sla.json"
    path.write_text(json.dumps({"name": "昌宁镇 2026", "objection_threshold": 5, "days": {"reviewing": {"town": 7}}}))
    sla = Settings(sla_file=path, sla_scale=0.5).sla_policy
    assert (sla.name, sla.objection_threshold, sla.scale) == ("昌宁镇 2026", 5, 0.5)
    assert sla.days[Stage.REVIEWING] == {Tier.COMPOUND: 2, Tier.COMMUNITY: 3, Tier.TOWN: 7}
    assert policy.duration(sla, Stage.REVIEWING, Tier.TOWN) == timedelta(days=3.5)
    with pytest.raises(ValueError):
        policy.build_policy({"days": {"closed": {"town": 1}}})
    with pytest.raises(ValueError):
        Settings(sla_file=tmp_path / "missing.json")


def test_tier_ladder() -> None:
    assert policy.next_tier(Tier.COMPOUND) is Tier.COMMUNITY
    assert policy.next_tier(Tier.COMMUNITY) is Tier.TOWN
    assert policy.next_tier(Tier.TOWN) is None


def test_breach_escalates_then_flags_overdue_at_the_town() -> None:
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0)
    assert state.view.deadline == T0 + timedelta(days=2)
    tiers = []
    for _ in range(3):
        assert state.view.deadline is not None
        event = deadline_passed(state, state.view.deadline)
        tiers.append((event.action, event.to_tier, state.view.overdue))
    assert tiers == [
        ("sla-breach", Tier.COMMUNITY, False), ("sla-breach", Tier.TOWN, False), ("overdue", Tier.TOWN, True)
    ]  # fmt: skip
    assert state.view.handling_unit == "z" and state.view.stage is Stage.REVIEWING
    # The community got 3 days, the town 5, each from the moment of escalation.
    assert state.view.deadline == T0 + timedelta(days=2 + 3 + 5)
    assert all(e.by == SYSTEM_ACTOR.name for e in state.view.escalations)


def test_extension_clears_overdue_and_counts_from_now_when_already_late() -> None:
    state = new_case()
    apply_command(state, ACTOR, Submit(), T0)
    for _ in range(3):
        deadline_passed(state, state.view.deadline)
    late = T0 + timedelta(days=20)
    apply_command(state, ACTOR, ExtendDeadline(days=2, reason="r"), late)
    assert state.view.deadline == late + timedelta(days=2) and not state.view.overdue


def test_checks_give_reasons() -> None:
    state = new_case()
    with pytest.raises(policy.InvalidTransition, match="only when reviewing"):
        policy.check(state.view, Accept(note="n"))
    with pytest.raises(policy.InvalidTransition, match="reporter cannot co-sign"):
        policy.check(state.view, CoSign(resident="王阿姨"))
    apply_command(state, ACTOR, CoSign(resident="李四"), T0)
    with pytest.raises(policy.InvalidTransition, match="already co-signed"):
        policy.check(state.view, CoSign(resident="李四"))
    for _ in range(2):
        apply_command(state, ACTOR, Escalate(note="up"), T0)
    with pytest.raises(policy.InvalidTransition, match="top tier"):
        policy.check(state.view, Escalate(note="up"))


def test_every_applied_command_is_one_event_with_the_next_seq() -> None:
    state = new_case()
    events = [apply_command(state, ACTOR, c, T0) for c in (CoSign(resident="a"), Submit(), Accept(note="n"))]
    assert [e.seq for e in events] == [2, 3, 4] and state.view.version == 4
    assert [(e.from_stage, e.to_stage) for e in events] == [
        (Stage.COLLECTING, Stage.COLLECTING), (Stage.COLLECTING, Stage.REVIEWING), (Stage.REVIEWING, Stage.DELIBERATING)
    ]  # fmt: skip


def test_phone_numbers_are_masked() -> None:
    assert mask_phone("13800138000") == "*******8000"
    assert mask_phone("+86 138-0013-8000") == "*********8000"
    assert mask_phone(None) is None
