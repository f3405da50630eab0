"""The rules: the SLA table, the tier ladder and which command is allowed when. Pure functions.

Everything a caseworker can be told "no" about is decided here, so the workflow's validator and its
handler (which re-checks, because two updates can pass validation in the same activation) agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from workflows.model import (
    OPEN_STAGES,
    CaseView,
    CoSign,
    Decide,
    Escalate,
    Merge,
    Object,
    SlaPolicy,
    Stage,
    Strict,
    Tier,
)

# Calendar days per stage and tier (DESIGN.md). Collecting and announcing are windows, not work deadlines.
DEFAULT_DAYS: dict[Stage, dict[Tier, float]] = {
    Stage.COLLECTING: {Tier.COMPOUND: 3, Tier.COMMUNITY: 3, Tier.TOWN: 3},
    Stage.REVIEWING: {Tier.COMPOUND: 2, Tier.COMMUNITY: 3, Tier.TOWN: 5},
    Stage.DELIBERATING: {Tier.COMPOUND: 7, Tier.COMMUNITY: 10, Tier.TOWN: 15},
    Stage.ANNOUNCING: {Tier.COMPOUND: 3, Tier.COMMUNITY: 3, Tier.TOWN: 3},
    Stage.IMPLEMENTING: {Tier.COMPOUND: 15, Tier.COMMUNITY: 20, Tier.TOWN: 30},
    Stage.FOLLOW_UP: {Tier.COMPOUND: 3, Tier.COMMUNITY: 3, Tier.TOWN: 5},
}
DEFAULT_OBJECTION_THRESHOLD = 3

TIER_LADDER = (Tier.COMPOUND, Tier.COMMUNITY, Tier.TOWN)

# Stages whose deadline ending is a normal step rather than a breach.
WINDOW_STAGES = frozenset({Stage.COLLECTING, Stage.ANNOUNCING})

SECONDS_PER_DAY = 86_400


class InvalidTransition(Exception):
    """A command the case's current state does not allow; the message is for the caseworker."""


def build_policy(overrides: Mapping[str, Any] | None = None, *, scale: float = 1.0) -> SlaPolicy:
    """The default policy with a policy file's overrides laid over it (any stage/tier may be omitted)."""
    overrides = dict(overrides or {})
    days = {stage: dict(tiers) for stage, tiers in DEFAULT_DAYS.items()}
    for stage_name, tiers in dict(overrides.pop("days", {})).items():
        stage = Stage(stage_name)
        if stage is Stage.CLOSED:
            raise ValueError("the closed stage has no deadline")
        for tier_name, value in dict(tiers).items():
            days[stage][Tier(tier_name)] = float(value)
    return SlaPolicy.model_validate(
        {"objection_threshold": DEFAULT_OBJECTION_THRESHOLD, **overrides, "days": days, "scale": scale}
    )


def duration(policy: SlaPolicy, stage: Stage, tier: Tier) -> timedelta:
    return days_to_duration(policy, policy.days[stage][tier])


def days_to_duration(policy: SlaPolicy, days: float) -> timedelta:
    """Calendar days as the policy's clock runs them (scaled for demos and tests)."""
    return timedelta(seconds=days * SECONDS_PER_DAY * policy.scale)


def next_tier(tier: Tier) -> Tier | None:
    index = TIER_LADDER.index(tier)
    return TIER_LADDER[index + 1] if index + 1 < len(TIER_LADDER) else None


# Where each command may be given. A stage missing from a set means "not now".
ALLOWED_STAGES: dict[str, frozenset[Stage]] = {
    "co-sign": frozenset({Stage.COLLECTING, Stage.REVIEWING}),
    "submit": frozenset({Stage.COLLECTING}),
    "accept": frozenset({Stage.REVIEWING}),
    "fast-track": frozenset({Stage.REVIEWING}),
    "reject": frozenset({Stage.REVIEWING, Stage.DELIBERATING}),
    "escalate": OPEN_STAGES,
    "record-meeting": frozenset({Stage.DELIBERATING}),
    "decide": frozenset({Stage.DELIBERATING}),
    "object": frozenset({Stage.ANNOUNCING}),
    "report-progress": frozenset({Stage.IMPLEMENTING}),
    "complete": frozenset({Stage.IMPLEMENTING}),
    "record-visit": frozenset({Stage.FOLLOW_UP}),
    "withdraw": OPEN_STAGES,
    "merge": frozenset({Stage.COLLECTING, Stage.REVIEWING}),
    "extend-deadline": OPEN_STAGES,
}


def check(case: CaseView, body: Strict) -> None:
    """Raise InvalidTransition with a reason a person can read if ``body`` cannot be applied now."""
    action = str(getattr(body, "action"))  # noqa: B009 - every command model has it
    if case.stage is Stage.CLOSED:
        raise InvalidTransition(f"the case is closed ({case.outcome}); {action} is no longer possible")
    allowed = ALLOWED_STAGES[action]
    if case.stage not in allowed:
        stages = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(f"{action} is not possible while the case is {case.stage}; only when {stages}")
    match body:
        case CoSign(resident=resident):
            if resident == case.reporter.name:
                raise InvalidTransition("the reporter cannot co-sign their own case")
            if resident in case.co_signers:
                raise InvalidTransition(f"{resident} has already co-signed this case")
        case Escalate():
            if next_tier(case.tier) is None:
                raise InvalidTransition("the case is already at the town, the top tier")
        case Decide():
            if not case.meetings:
                raise InvalidTransition("record the deliberation meeting before deciding")
        case Object(resident=resident):
            if any(o.resident == resident for o in case.objections):
                raise InvalidTransition(f"{resident} has already objected to this decision")
        case Merge(into=into):
            if into == case.id:
                raise InvalidTransition("a case cannot be merged into itself")
        case _:
            pass
