"""The rules: the SLA table, the tier ladder and which command is allowed when. Pure functions.

Everything a caseworker can be told "no" about is decided here, so the workflow's validator and its
handler (which re-checks, because two updates can pass validation in the same activation) agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from workflows.clock import Duration, Unit, WorkCalendar, parse_duration
from workflows.model import (
    WARNINGS_OFF,
    Actor,
    CallerFacts,
    CaseView,
    Claim,
    Command,
    CoSign,
    Decide,
    DecideExtension,
    Dispatch,
    EndSupervision,
    Escalate,
    Merge,
    Object,
    RequestExtension,
    Resume,
    ReturnCase,
    Role,
    RuleReturn,
    SetUrgency,
    SlaPolicy,
    Stage,
    Supervise,
    Suspend,
    Tier,
    UnitFacts,
    UnitPath,
    Urge,
    Urgency,
    Withdraw,
)
from workflows.rules import Rules

# v2 (DESIGN.md, "The clock"): durations with units; `wd` counts working days on the official calendar.
# Collecting and announcing are windows, not work deadlines, and count calendar days.
DEFAULT_DEADLINES: dict[Stage, dict[Tier, str]] = {
    Stage.COLLECTING: {Tier.COMPOUND: "3d", Tier.COMMUNITY: "3d", Tier.TOWN: "3d"},
    Stage.REVIEWING: {Tier.COMPOUND: "2wd", Tier.COMMUNITY: "3wd", Tier.TOWN: "5wd"},
    Stage.DELIBERATING: {Tier.COMPOUND: "7wd", Tier.COMMUNITY: "10wd", Tier.TOWN: "15wd"},
    Stage.ANNOUNCING: {Tier.COMPOUND: "3d", Tier.COMMUNITY: "3d", Tier.TOWN: "3d"},
    Stage.IMPLEMENTING: {Tier.COMPOUND: "15wd", Tier.COMMUNITY: "20wd", Tier.TOWN: "30wd"},
    Stage.FOLLOW_UP: {Tier.COMPOUND: "3wd", Tier.COMMUNITY: "3wd", Tier.TOWN: "5wd"},
}
# Per urgency, the stages whose deadlines differ from the table (every tier alike unless a tier is named).
DEFAULT_URGENCY: dict[Urgency, dict[Stage, str | dict[Tier, str]]] = {
    Urgency.EMERGENCY: {Stage.REVIEWING: "2h", Stage.IMPLEMENTING: "24h"},
    Urgency.URGENT: {Stage.REVIEWING: "24h", Stage.IMPLEMENTING: "3wd"},
    Urgency.COMPLEX: {Stage.IMPLEMENTING: {Tier.COMPOUND: "30wd", Tier.COMMUNITY: "40wd", Tier.TOWN: "60wd"}},
}
# 签收: a unit has a working day to claim a case that reached it; less for urgent matters.
DEFAULT_CLAIM = "1wd"
DEFAULT_CLAIM_URGENCY: dict[Urgency, str] = {Urgency.EMERGENCY: "30m", Urgency.URGENT: "2h"}
# An emergency has no collection window: it is filed straight into review.
NO_COLLECTION = frozenset({Urgency.EMERGENCY})
DEFAULT_OBJECTION_THRESHOLD = 3

TIER_LADDER = (Tier.COMPOUND, Tier.COMMUNITY, Tier.TOWN)

SECONDS_PER_DAY = 86_400

# Rule changes (workflows/rules.py): from here on, the days a decision, a fast-track or a supervisor's
# extension gives are working days (before: calendar days).
WORKING_DAYS = "working-days"
# From here on, a case that reaches a unit must be claimed in time, and a case overdue at the town is urged
# and carded by itself (DESIGN.md, "Between tiers"). Before: none of these timers existed.
BETWEEN_TIERS = "between-tiers"
# From here on, a case warns once per deadline when the policy's ``warn_before`` is left of it (预警, DESIGN.md
# "Telling people"). Before: no warning; the histories of those cases have no timer for one.
DEADLINE_WARNINGS = "deadline-warnings"
# The stages whose deadlines are work somebody must do in time; collecting and announcing are windows that
# end by themselves, and are not warned of.
WARNED_STAGES = frozenset({Stage.REVIEWING, Stage.DELIBERATING, Stage.IMPLEMENTING, Stage.FOLLOW_UP})
# A deadline in hours or minutes is warned of when this share of it is left (unless warn_before is in hours
# or minutes itself): a working day's warning would come before an emergency's two hours even began.
CLOCK_TIME_SHARE = 0.25


class InvalidTransition(Exception):
    """A command the case's current state does not allow; the message is for the caseworker."""


def build_policy(overrides: Mapping[str, Any] | None = None, *, scale: float = 1.0) -> SlaPolicy:
    """The default policy with a policy file's overrides laid over it (any stage/tier may be omitted).

    A file may give ``deadlines`` (durations: "2h", "3d", "7wd"), v1's ``days`` (calendar days, as numbers),
    ``urgency`` overrides, ``objection_threshold``, ``max_suspension`` and ``name``. Raises ValueError
    naming what is wrong.
    """
    overrides = dict(overrides or {})
    deadlines = {stage: dict(tiers) for stage, tiers in DEFAULT_DEADLINES.items()}
    for key, as_text in (("days", lambda v: f"{_number(v)}d"), ("deadlines", lambda v: v)):
        for stage, tiers in _per_stage(overrides.pop(key, {}), key).items():
            for tier, value in tiers.items():
                deadlines[stage][tier] = as_text(value)
    claim = _claim_table(overrides.pop("claim", DEFAULT_CLAIM))
    urgency: dict[Urgency, dict[Stage, dict[Tier, str]]] = {}
    claim_urgency = dict(DEFAULT_CLAIM_URGENCY)
    given = dict(overrides.pop("urgency", {}))
    for level in Urgency:
        table = _expand(DEFAULT_URGENCY.get(level, {}))
        if isinstance(levels := given.get(level.value), Mapping) and "claim" in levels:
            levels = dict(levels)
            claim_urgency[level] = levels.pop("claim")
            given[level.value] = levels
        for stage, tiers in _per_stage(given.pop(level.value, {}), "urgency").items():
            table[stage] = {**table.get(stage, {}), **tiers}  # tier by tier, as the deadlines themselves
        if table:
            urgency[level] = table
    if given:
        raise ValueError(f"urgency: no such urgency {', '.join(map(repr, given))}; one of {_names(Urgency)}")
    return SlaPolicy.model_validate(
        {"objection_threshold": DEFAULT_OBJECTION_THRESHOLD, **overrides, "deadlines": deadlines,
         "urgency": urgency, "claim": claim, "claim_urgency": claim_urgency, "scale": scale}
    )  # fmt: skip


def _claim_table(value: Any) -> dict[Tier, str]:
    """``claim``: one duration for every tier, or ``{tier: duration}`` (tiers not named keep the default)."""
    if not isinstance(value, Mapping):
        return dict.fromkeys(Tier, value)
    for tier_name in value:
        if tier_name not in Tier.__members__.values():
            raise ValueError(f"claim: no such tier {tier_name!r}; one of {_names(Tier)}")
    return {**dict.fromkeys(Tier, DEFAULT_CLAIM), **{Tier(t): v for t, v in value.items()}}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"days: {value!r} is not a number of calendar days")
    return float(value)


def _names(enum: type[StrEnum]) -> str:
    return ", ".join(e.value for e in enum)


def _per_stage(table: Any, key: str) -> dict[Stage, dict[Tier, Any]]:
    """``{stage: value | {tier: value}}`` with every name checked."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{key}: expected an object of stages")
    out: dict[Stage, dict[Tier, Any]] = {}
    for stage_name, tiers in table.items():
        try:
            stage = Stage(stage_name)
        except ValueError:
            raise ValueError(f"{key}: no such stage {stage_name!r}; one of {_names(Stage)}") from None
        if stage is Stage.CLOSED:
            raise ValueError(f"{key}: the closed stage has no deadline")
        if not isinstance(tiers, Mapping):
            out[stage] = dict.fromkeys(Tier, tiers)
            continue
        for tier_name in tiers:
            if tier_name not in Tier.__members__.values():
                raise ValueError(f"{key}.{stage_name}: no such tier {tier_name!r}; one of {_names(Tier)}")
        out[stage] = {Tier(t): v for t, v in tiers.items()}
    return out


def _expand(table: Mapping[Stage, str | Mapping[Tier, str]]) -> dict[Stage, dict[Tier, str]]:
    return {s: dict(v) if isinstance(v, Mapping) else dict.fromkeys(Tier, v) for s, v in table.items()}


def stage_duration(sla: SlaPolicy, stage: Stage, tier: Tier, urgency: Urgency = Urgency.NORMAL) -> Duration:
    """How long the stage may take at the tier, for a case of this urgency."""
    if sla.deadlines is None:  # filed under v1: calendar days
        return Duration(sla.days[stage][tier], "d")
    override = sla.urgency.get(urgency, {}).get(stage, {}).get(tier)
    return parse_duration(override or sla.deadlines[stage][tier])


def claim_duration(sla: SlaPolicy, tier: Tier, urgency: Urgency) -> Duration:
    """How long a unit at ``tier`` has to claim a case of this urgency (签收时限)."""
    override = sla.claim_urgency.get(urgency)
    return parse_duration(override or sla.claim.get(tier) or DEFAULT_CLAIM)


@dataclass(frozen=True)
class DeadlineWarning:
    """When a deadline is warned of (预警), and how much of it is left then, as the event says it ("1wd", "30m")."""

    at: datetime
    left: str


def deadline_warning(
    sla: SlaPolicy, deadline: datetime, *, started: datetime, unit: Unit, calendar: WorkCalendar
) -> DeadlineWarning | None:
    """When to warn that ``deadline`` is approaching; None if the policy warns of nothing (``warn_before`` "off").

    ``started`` and ``unit``: the deadline's clock (when it started; what it counts). The warning is due at the
    first moment from which only ``warn_before`` is left on the working-day clock the deadlines use, i.e. the
    first moment from which a clock of ``warn_before`` would run out at the deadline (or later): for working
    days, the start of the Nth working day before the deadline's day — on that day, counted from the next day
    (次日起算), N working days end with the deadline's. A deadline in hours or minutes is warned of when a
    quarter of it is left, unless ``warn_before`` is in hours or minutes too.

    The moment may already have passed when the deadline is set (a one-working-day deadline is inside its own
    warning from the start): the workflow then warns at once, still only once.
    """
    if sla.warn_before == WARNINGS_OFF:
        return None
    before = parse_duration(sla.warn_before)
    if unit in ("m", "h") and before.unit in ("d", "wd"):
        share = (deadline - started) * CLOCK_TIME_SHARE
        if share <= timedelta(0):
            return None  # a deadline set outright, not counted from anything: no interval to take a share of
        return DeadlineWarning(deadline - share, _clock_text(share / sla.scale))
    return DeadlineWarning(time_before(deadline, before, calendar, started=started, scale=sla.scale), str(before))


def time_before(
    deadline: datetime, before: Duration, calendar: WorkCalendar, *, started: datetime, scale: float = 1.0
) -> datetime:
    """The first moment from which a clock of ``before`` runs out at ``deadline`` or later (``clock.due_after``
    backwards). ``started`` is when the deadline's clock started: under a ``scale`` (demos, tests) intervals are
    shrunk from there, so the working days are counted on the deadline as the unscaled clock has it."""
    if before.unit != "wd":
        seconds = {"m": 60, "h": 3_600, "d": 86_400}[before.unit]
        return deadline - timedelta(seconds=before.amount * seconds * scale)
    real = deadline
    if scale != 1.0:  # unscaled, to the second: scaling rounds to microseconds, which dividing magnifies
        real = started + (deadline - started) / scale
        real = real.replace(microsecond=0) + timedelta(seconds=round(real.microsecond / 1_000_000))
    day = calendar.local_day(real - timedelta(microseconds=1))  # the deadline's own day (it ends at 24:00)
    while not calendar.is_workday(day):  # a calendar-day deadline on a day off: as if on the next working day
        day += timedelta(days=1)
    for _ in range(int(before.amount)):
        day -= timedelta(days=1)
        while not calendar.is_workday(day):
            day -= timedelta(days=1)
    at = calendar.end_of(day - timedelta(days=1))  # 00:00 local on that working day
    return at if scale == 1.0 else started + (at - started) * scale


def _clock_text(left: timedelta) -> str:
    """Clock time as a duration would write it: whole hours in hours, else minutes (to a tenth)."""
    minutes = round(left.total_seconds() / 60, 1)
    return str(Duration(minutes / 60, "h") if minutes % 60 == 0 else Duration(minutes, "m"))


def days_given(days: float, rules: Rules) -> Duration:
    """The days a decision, a fast-track or an extension gives: working days since v2 (a part day counts whole)."""
    if rules.has(WORKING_DAYS):
        return Duration(math.ceil(days), "wd")
    return Duration(days, "d")


def days_to_duration(policy: SlaPolicy, days: float) -> timedelta:
    """Calendar days as the policy's clock runs them (scaled for demos and tests)."""
    return timedelta(seconds=days * SECONDS_PER_DAY * policy.scale)


def next_tier(tier: Tier) -> Tier | None:
    index = TIER_LADDER.index(tier)
    return TIER_LADDER[index + 1] if index + 1 < len(TIER_LADDER) else None


def handling_path(case: CaseView, units: UnitPath) -> str:
    """The handling unit's materialized path (cases from before dispatching: derived from the tier)."""
    return case.handling_path or units.path_at(case.tier)


def check(
    case: CaseView, body: Command, *, actor: Actor, now: datetime, rules: Rules,
    caller: CallerFacts | None = None, target: UnitFacts | None = None, units: UnitPath | None = None,
) -> None:  # fmt: skip
    """Raise InvalidTransition with a reason a person can read if ``body`` cannot be applied now.

    ``caller`` and ``target`` are the unit facts the API looked up (the caller's unit; the unit the command
    names); histories from before they were sent have neither, and the checks that need them are skipped.
    ``units``: the case's compound line, where the handling unit is on a case from before dispatching.
    """
    action = body.action
    if case.stage is Stage.CLOSED:
        raise InvalidTransition(f"the case is closed ({case.outcome}); {action} is no longer possible")
    allowed = body.stages
    if case.stage not in allowed:
        stages = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(f"{action} is not possible while the case is {case.stage}; only when {stages}")
    if case.suspended is not None and not body.while_suspended:
        since = case.suspended.since.strftime("%Y-%m-%d %H:%M UTC")
        raise InvalidTransition(
            f"the case is suspended since {since} ({case.suspended.reason}); resume it before {action}"
        )
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
        case SetUrgency(urgency=urgency):
            if urgency is case.urgency:
                raise InvalidTransition(f"the case is already {urgency}")
        case Suspend(until=until):
            if case.overdue or (case.deadline is not None and case.deadline <= now):
                raise InvalidTransition(
                    "the deadline has already passed: a suspension stops a running clock (extend or act instead)"
                )
            if until is not None and until <= now:
                raise InvalidTransition(f"until ({until.isoformat()}) has already passed")
        case Resume():
            if case.suspended is None:
                raise InvalidTransition("the case is not suspended")
        case RequestExtension():
            _check_request(case, now)
        case DecideExtension(approve=approve, days=days):
            _check_decision(case, actor, approve, days)
        case Supervise(grade=grade):
            if case.supervision is not None and case.supervision.grade is grade:
                raise InvalidTransition(f"the case is already under {grade} supervision")
        case EndSupervision():
            if case.supervision is None:
                raise InvalidTransition("the case is not under supervision")
        case _:
            pass
    _check_between_tiers(case, body, actor, caller, target, handling_path(case, units) if units else case.handling_path)


# While a return awaits its ruling the case waits: only the ruling, the supervisors' commands, and the
# ways out (withdraw, escalate) go on.
WHILE_RETURN_PENDING = (RuleReturn, Urge, Supervise, EndSupervision, Withdraw, Escalate)


def _check_between_tiers(
    case: CaseView, body: Command, actor: Actor, caller: CallerFacts | None, target: UnitFacts | None,
    here: str | None,
) -> None:  # fmt: skip
    """Dispatch, claim, return and the ruling, and who supervises: the rules that need the units' facts."""
    if caller is None or here is None:
        return  # a command from before commands carried unit facts
    unit = case.handling_unit
    of_the_unit = caller.unit == unit or caller.path is None  # its own staff (or an admin over everything)
    if case.pending_return is not None and not isinstance(body, WHILE_RETURN_PENDING):
        raise InvalidTransition(
            f"{case.pending_return.from_unit} returned the case ({case.pending_return.reason}); "
            f"rule on the return (rule-return) before {body.action}"
        )
    match body:
        case Urge() | Supervise() | EndSupervision():
            if not caller.covers(here):
                raise InvalidTransition(
                    f"the case is handled by {unit}, outside your jurisdiction ({caller.unit}): only a supervisor "
                    f"over the handling unit can {body.action} it"
                )
        case Dispatch(to_unit=to_unit):
            assert target is not None  # the API looks the unit up (an unknown one is a 422 there)
            if target.path == here or not target.path.startswith(here):
                raise InvalidTransition(
                    f"{to_unit} is not inside {unit}'s subtree: a case is dispatched down, to a unit under the "
                    "handling unit"
                )
        case Claim():
            if case.claimed:
                raise InvalidTransition(f"the case is already claimed by {unit}")
            if not of_the_unit:
                raise InvalidTransition(f"only {unit}, the handling unit, can claim the case")
        case ReturnCase():
            if not of_the_unit:
                raise InvalidTransition(f"only {unit}, the handling unit, can return the case")
            if case.arrived_from is None:
                raise InvalidTransition(f"the case was filed at {unit} itself: there is no unit to return it to")
            if case.claimed:
                raise InvalidTransition(f"{unit} has claimed the case; a claimed case cannot be returned")
            if any(r.from_unit == unit and r.ruling is not None and not r.ruling.upheld for r in case.returns):
                raise InvalidTransition(f"{unit}'s return of this case was overruled; {unit} must handle it")
        case RuleReturn(upheld=upheld, to_unit=to_unit):
            pending = case.pending_return
            if pending is None:
                raise InvalidTransition("there is no return to rule on")
            supervisor = caller.path is None or (actor.role in (Role.SUPERVISOR, Role.ADMIN) and caller.covers(here))
            if not (caller.unit == unit or supervisor):
                raise InvalidTransition(
                    f"only {unit}, which the case was returned to, or a supervisor over it rules on the return"
                )
            if upheld and to_unit is not None:
                assert target is not None
                if target.path == here or not target.path.startswith(here):
                    raise InvalidTransition(f"{to_unit} is not inside {unit}'s subtree: dispatch the case down")
                if to_unit == pending.from_unit:
                    raise InvalidTransition(f"to send the case back to {to_unit}, overrule the return")
        case _:
            pass


def _check_request(case: CaseView, now: datetime) -> None:
    if (pending := case.extension_request) is not None:
        raise InvalidTransition(
            f"an extension of {pending.days} working days requested by {pending.by} is still pending; "
            "one request at a time"
        )
    if case.deadline is None or case.deadline <= now:
        raise InvalidTransition(
            "the deadline has passed: an extension is asked before it (a supervisor can extend-deadline)"
        )


def _check_decision(case: CaseView, actor: Actor, approve: bool, days: int | None) -> None:
    request = case.extension_request
    if request is None:
        raise InvalidTransition("there is no extension request to decide")
    if actor.id == request.by_id:
        raise InvalidTransition("the requester cannot decide their own extension request")
    if approve and days is not None and days > request.days:
        raise InvalidTransition(f"at most the {request.days} working days requested can be granted")
