"""The case's state and how each command or deadline changes it. Pure: no I/O, time comes in as ``now``.

Every applied change produces exactly one CaseEvent with the next sequence number; the workflow projects
these into the read model and the audit trail, keyed by (case id, seq).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows import policy
from workflows.clock import (
    Due,
    Duration,
    Unit,
    WorkCalendar,
    YearSchedule,
    due_after,
    parse_duration,
    remaining,
)
from workflows.model import (
    SYSTEM_ACTOR,
    Accept,
    Actor,
    CallerFacts,
    CaseEvent,
    CaseFiled,
    CaseView,
    Claim,
    Command,
    Complete,
    Completion,
    CoSign,
    Decide,
    DecideExtension,
    Dispatch,
    DispatchRecord,
    EndSupervision,
    Escalate,
    Escalation,
    EscalationReason,
    ExtendDeadline,
    ExtensionDecision,
    ExtensionRequest,
    FastTrack,
    Meeting,
    Merge,
    Object,
    Objection,
    Outcome,
    PastSuspension,
    PendingReturn,
    Progress,
    RecordMeeting,
    RecordVisit,
    Reject,
    ReportProgress,
    RequestExtension,
    Resume,
    ReturnCase,
    ReturnReason,
    ReturnRecord,
    ReturnRuling,
    Role,
    RuleReturn,
    Satisfaction,
    SetUrgency,
    SlaPolicy,
    Stage,
    Submit,
    Supervise,
    SupervisionGrade,
    SupervisionRecord,
    Suspend,
    SuspendReason,
    Suspension,
    Tier,
    UnitFacts,
    UnitPath,
    Urge,
    Urgency,
    UrgeRecord,
    Visit,
    Withdraw,
    code_of,
    parent_of,
    tier_of,
)
from workflows.rules import Rules


class Clock(BaseModel):
    """The running deadline: ``amount`` ``unit`` counted from ``started`` on the case's calendar, plus the
    working days extensions added. Kept rather than only the deadline, so that the deadline can be counted
    again when the calendar changes, the urgency changes, or the clock restarts after a suspension."""

    started: datetime
    amount: float
    unit: Unit
    extended_wd: int = 0

    @property
    def duration(self) -> Duration:
        return Duration(self.amount, self.unit)


class CaseState(BaseModel):
    """All the workflow needs to carry on, including across continue-as-new."""

    view: CaseView
    units: UnitPath
    policy: SlaPolicy
    # Days the decision gave for implementation (None: the policy's default for the tier).
    implement_days: float | None = None
    unsatisfied_visits: int = 0
    # Bumped whenever the deadline changes, so the SLA timer knows to re-arm.
    clock: int = 0
    timer: Clock | None = None  # None: closed (or a run carried over from before v2, until its next change)
    calendar: WorkCalendar = WorkCalendar()
    paused: Clock | None = None  # while suspended: what was left (``started`` is when it was suspended)
    resume_at: datetime | None = None  # while suspended: when it resumes by itself
    stage_started: datetime | None = None  # when the current stage's own deadline began (set-urgency counts from it)
    # The rule changes in force when the case was filed (workflows/rules.py), kept so that a run continued
    # as new goes on under them; None: carried over by a run from before rules were kept, so the first rules.
    rules: list[str] | None = None
    # Overdue at the town (between-tiers rules): since when, and the automatic cards given since then.
    overdue_since: datetime | None = None
    auto_cards: list[SupervisionGrade] = []
    # Deadline warnings (预警): the deadline the case last warned of. A deadline that moves (an extension, a new
    # stage or tier, a resumption, a calendar's re-timing) is another one, and is warned of in its turn.
    warned_deadline: datetime | None = None


class CaseInput(BaseModel):
    """The case workflow's input: a new case (``filed`` + ``policy``), or one carried on from a previous
    run (``state``). Defined here rather than beside the workflow so that it passes through the sandbox:
    a class in the workflow's own module is rebuilt for every run."""

    filed: CaseFiled
    policy: SlaPolicy
    state: CaseState | None = None
    calendar: WorkCalendar | None = Field(default=None, description="the town's working days (v2 filings)")


def open_case(
    filed: CaseFiled, sla: SlaPolicy, now: datetime, *, rules: Rules, calendar: WorkCalendar | None = None
) -> tuple[CaseState, CaseEvent]:
    """The state of a case just filed at the compound, and its first event."""
    # An emergency has no collection window: it goes straight to review.
    stage = Stage.REVIEWING if filed.urgency in policy.NO_COLLECTION else Stage.COLLECTING
    view = CaseView(
        id=filed.id,
        number=filed.number,
        unit=filed.units.compound,
        handling_unit=filed.units.compound,
        category=filed.category,
        title=filed.title,
        description=filed.description,
        reporter=filed.reporter,
        channel=filed.channel,
        stage=stage,
        tier=Tier.COMPOUND,
        status="open",
        urgency=filed.urgency,
        filed_by=filed.filed_by.id,
        filed_at=filed.filed_at,
        updated_at=now,
        version=1,
    )
    state = CaseState(view=view, units=filed.units, policy=sla, calendar=calendar or WorkCalendar(),
                      rules=sorted(rules.active))  # fmt: skip
    if rules.has(policy.BETWEEN_TIERS):
        view.handling_path = filed.units.path
        if not filed.claimed:  # filed by a resident (or by staff of another unit): the compound must claim it
            _await_claim(state, now)
    start_clock(state, now, rules)
    state.clock = 0  # the first deadline is the case's own, not a change of one
    event = CaseEvent(
        seq=1,
        at=now,
        action="file",
        actor=filed.filed_by,
        from_stage=Stage.COLLECTING,
        to_stage=stage,
        from_tier=Tier.COMPOUND,
        to_tier=Tier.COMPOUND,
        detail={
            "category": filed.category,
            "title": filed.title,
            "channel": filed.channel,
            "policy": sla.name,
            **({"urgency": filed.urgency.value} if filed.urgency is not Urgency.NORMAL else {}),
        },
    )
    return state, event


def carry_over(state: CaseState) -> None:
    """A run carried on from one before clocks were kept has a deadline but no clock: give it one that runs
    out at that deadline, so suspending, extending and re-counting start from it."""
    if state.timer is None and state.view.deadline is not None and state.view.suspended is None:
        state.timer = clock_at(state.view.deadline)


# --- the clock ---------------------------------------------------------------------------------------------


def start_clock(state: CaseState, now: datetime, rules: Rules, duration: Duration | None = None) -> None:
    """A fresh deadline from ``now``: the stage's own at the tier and urgency, or ``duration``."""
    case = state.view
    if duration is None:
        state.stage_started = now
        days = state.implement_days if case.stage is Stage.IMPLEMENTING else None
        duration = (
            policy.days_given(days, rules)
            if days is not None
            else policy.stage_duration(state.policy, case.stage, case.tier, case.urgency)
        )
    state.timer = Clock(started=now, amount=duration.amount, unit=duration.unit)
    count_deadline(state)
    state.clock += 1
    case.overdue = False


def clock_at(deadline: datetime) -> Clock:
    """A clock that runs out at ``deadline`` exactly: for a deadline set outright (v1's extend-deadline, or a
    run carried over from before clocks were kept), so that later counting starts from it."""
    return Clock(started=deadline, amount=0, unit="m")


def count_deadline(state: CaseState) -> bool:
    """Set the case's deadline from its clock (on its calendar); True if it moved."""
    case, timer = state.view, state.timer
    if timer is None:
        return False
    cal, scale = state.calendar, state.policy.scale
    if timer.unit == "wd":
        due = due_after(timer.started, timer.duration.plus(timer.extended_wd), cal, scale)
    else:
        due = due_after(timer.started, timer.duration, cal, scale)
        if timer.extended_wd:  # working days on top of a clock-time deadline: counted from that deadline
            extra = due_after(due.at, Duration(timer.extended_wd, "wd"), cal, scale)
            due = Due(extra.at, due.provisional or extra.provisional)
    moved = (case.deadline, case.deadline_provisional) != (due.at, due.provisional)
    case.deadline, case.deadline_provisional = due.at, due.provisional
    return moved


def _await_claim(state: CaseState, now: datetime) -> None:
    """The case has reached its handling unit, which must claim it by the policy's claim deadline."""
    case = state.view
    claim = policy.claim_duration(state.policy, case.tier, case.urgency)
    case.claimed = False
    case.claim_deadline = due_after(now, claim, state.calendar, state.policy.scale).at
    case.claims_due += 1
    state.clock += 1


def _claimed(state: CaseState) -> None:
    state.view.claimed, state.view.claim_deadline = True, None
    state.clock += 1


GRADE_ORDER = (SupervisionGrade.ORDINARY, SupervisionGrade.YELLOW, SupervisionGrade.RED)


class _Change:
    """Collects one transition's effects, then seals them into the case's next event."""

    def __init__(self, state: CaseState, actor: Actor, action: str, now: datetime, rules: Rules) -> None:
        self.state, self.actor, self.action, self.now, self.rules = state, actor, action, now, rules
        self.case = state.view
        self.from_stage, self.from_tier = self.case.stage, self.case.tier
        self.detail: dict[str, Any] = {}

    def enter(self, stage: Stage) -> None:
        """Move to ``stage`` with a fresh deadline for the current tier."""
        self.case.stage = stage
        self.lapse_request()
        self._restart_clock()

    def escalate(self, reason: EscalationReason, note: str | None = None) -> bool:
        """Hand the case one tier up; False at the town, which has no tier above."""
        to = policy.next_tier(self.case.tier)
        if to is None:
            return False
        if self.case.suspended is not None:  # the higher tier takes the case over, with its own clock
            self._end_suspension()
            self.state.paused = None
        self.lapse_request()
        self.case.escalations.append(
            Escalation(
                from_tier=self.case.tier,
                to_tier=to,
                reason=reason,
                at=self.now,
                by=self.actor.name,
                note=note,
            )
        )
        if self.case.handling_path is not None:  # the unit above the handling one (it may have been dispatched)
            self.arrive(parent_of(self.case.handling_path))
        else:
            self.case.tier = to
            self.case.handling_unit = self.state.units.at(to)
        self.detail["escalation"] = {"to_tier": to.value, "reason": reason.value}
        self.take_over()
        return True

    def arrive(self, path: str, *, claim: bool = True) -> None:
        """The case is handled at ``path`` from now on; it comes from the unit handling it so far, and must
        be claimed there (``claim``, under the between-tiers rules)."""
        case = self.case
        case.arrived_from = case.handling_path
        case.handling_path, case.handling_unit, case.tier = path, code_of(path), tier_of(path)
        case.pending_return = None
        if claim and self.rules.has(policy.BETWEEN_TIERS):
            _await_claim(self.state, self.now)
        elif not case.claimed:
            _claimed(self.state)

    def take_over(self) -> None:
        """The unit the case has just reached works to its own tier's deadline for the stage, from now (not
        to the deadline a decision gave the unit before it)."""
        self.state.implement_days = None
        self._restart_clock()

    def close(self, outcome: Outcome) -> None:
        self.case.stage = Stage.CLOSED
        self.case.status = "closed"
        self.case.outcome = outcome
        self.case.deadline = None
        self.case.deadline_provisional = False
        self.case.overdue = False
        self.case.claim_deadline = None
        self._end_suspension()
        self.state.timer, self.state.paused = None, None
        self.state.clock += 1

    def suspend(self, reason: SuspendReason, note: str, until: datetime | None) -> None:
        """Stop the clock, keeping what is left of it; it resumes by itself at ``until`` or the policy's max."""
        state, case = self.state, self.case
        if case.deadline is not None and state.timer is not None:
            left = remaining(self.now, case.deadline, state.timer.unit, state.calendar, state.policy.scale)
            state.paused = Clock(started=self.now, amount=left.amount, unit=left.unit)
        longest = due_after(self.now, parse_duration(state.policy.max_suspension), state.calendar, state.policy.scale)
        state.resume_at = min(until, longest.at) if until is not None else longest.at
        case.suspended = Suspension(since=self.now, reason=reason, note=note, until=state.resume_at, by=self.actor.name)
        case.deadline, case.deadline_provisional, case.overdue = None, False, False
        state.timer = None
        state.clock += 1

    def resume(self) -> None:
        """Restart the clock with what was left when it stopped."""
        state, case = self.state, self.case
        if not self._end_suspension():
            return
        if state.paused is not None:
            start_clock(state, self.now, self.rules, state.paused.duration)
            state.paused = None
            self.detail["deadline"] = case.deadline.isoformat() if case.deadline else None
        if not case.claimed and case.claim_deadline is not None:  # the claim's clock stopped too: it starts over
            _await_claim(state, self.now)
            case.claims_due -= 1  # the same arrival
        state.clock += 1

    def _end_suspension(self) -> bool:
        """Record the suspension as past; False if the case was not suspended."""
        state, case = self.state, self.case
        if case.suspended is None:
            return False
        case.suspensions.append(
            PastSuspension(
                since=case.suspended.since,
                resumed_at=self.now,
                reason=case.suspended.reason,
                by=case.suspended.by,
                resumed_by=self.actor.name,
            )  # fmt: skip
        )
        self.detail["suspended_for_minutes"] = round((self.now - case.suspended.since).total_seconds() / 60, 1)
        case.suspended, state.resume_at = None, None
        return True

    def lapse_request(self) -> None:
        """A pending extension request was for the deadline that just ended: it lapses, undecided."""
        case = self.case
        if (request := case.extension_request) is not None:
            lapsed = ExtensionDecision(requested=request.days, granted=0, approved=False, by=self.actor.name,
                                       at=self.now, note="lapsed: the deadline it was for has ended")  # fmt: skip
            case.extensions.append(lapsed)
            case.extension_request = None
            self.detail["extension_request_lapsed"] = request.days

    def _restart_clock(self) -> None:
        start_clock(self.state, self.now, self.rules)

    def seal(self) -> CaseEvent:
        self.case.version += 1
        self.case.updated_at = self.now
        return CaseEvent(
            seq=self.case.version,
            at=self.now,
            action=self.action,
            actor=self.actor,
            from_stage=self.from_stage,
            to_stage=self.case.stage,
            from_tier=self.from_tier,
            to_tier=self.case.tier,
            detail=self.detail,
        )


def apply_command(
    state: CaseState, actor: Actor, body: Command, now: datetime, *, rules: Rules,
    caller: CallerFacts | None = None, target: UnitFacts | None = None,
) -> CaseEvent:  # fmt: skip
    """Apply a command that ``policy.check`` has allowed."""
    change = _Change(state, actor, body.action, now, rules)
    case = state.view
    change.detail = body.model_dump(mode="json", exclude={"action"}, exclude_none=True)
    if (
        not case.claimed
        and not isinstance(body, Claim | ReturnCase)
        and actor.role is Role.CASEWORKER
        and caller is not None
        and caller.unit == case.handling_unit
    ):
        _claimed(state)  # 签收 by acting: any command of the handling unit's caseworkers but a return
        change.detail["claimed"] = True
    if isinstance(body, Accept | FastTrack | Reject) and case.responded_at is None:
        case.responded_at = now  # the review decision: what the response rate counts
    match body:
        case CoSign(resident=resident):
            case.co_signers.append(resident)
        case Submit():
            change.enter(Stage.REVIEWING)
        case Accept():
            change.enter(Stage.DELIBERATING)
        case FastTrack(assignee=assignee, due_in_days=days):
            case.assignee, state.implement_days = assignee, days
            change.enter(Stage.IMPLEMENTING)
        case Reject(explanation=explanation):
            case.explanation = explanation
            change.close(Outcome.REJECTED)
        case Escalate(note=note):
            change.escalate(EscalationReason.MANUAL, note)
        case RecordMeeting(held_at=held_at, participants=participants, minutes=minutes):
            case.meetings.append(
                Meeting(held_at=held_at, participants=participants, minutes=minutes, recorded_by=actor.name)
            )
        case Decide(decision=decision, assignee=assignee, due_in_days=days):
            case.decision, case.assignee, state.implement_days = decision, assignee, days
            case.objections = []  # each announcement is a new objection period
            change.enter(Stage.ANNOUNCING)
        case Object(resident=resident, reason=reason):
            case.objections.append(Objection(resident=resident, reason=reason, at=now))
        case ReportProgress(note=note, percent=percent):
            case.progress.append(Progress(at=now, note=note, percent=percent, by=actor.name))
        case Complete(summary=summary, evidence=evidence):
            case.completion = Completion(at=now, summary=summary, evidence=evidence or [], by=actor.name)
            change.enter(Stage.FOLLOW_UP)
        case RecordVisit(satisfaction=satisfaction, comment=comment):
            case.visits.append(Visit(at=now, satisfaction=satisfaction, comment=comment, by=actor.name))
            _visit_recorded(state, change, satisfaction)
        case Withdraw(reason=reason):
            case.explanation = reason
            change.close(Outcome.WITHDRAWN)
        case Merge(into=into):
            case.merged_into = into
            change.close(Outcome.MERGED)
        case ExtendDeadline(days=days):
            if rules.has(policy.WORKING_DAYS):
                _extend(state, now, rules, math.ceil(days))
            else:  # v1: calendar days from the deadline (or from now, if it has passed)
                base = case.deadline if case.deadline and case.deadline > now else now
                case.deadline = base + policy.days_to_duration(state.policy, days)
                state.timer = clock_at(case.deadline)
                case.overdue = False
                state.clock += 1
        case SetUrgency(urgency=urgency):
            case.urgency = urgency
            if case.stage is Stage.COLLECTING and urgency in policy.NO_COLLECTION:
                change.enter(Stage.REVIEWING)
            elif state.timer is not None:  # the stage's deadline for the new urgency, from the stage's start
                fresh = policy.stage_duration(state.policy, case.stage, case.tier, urgency)
                started = state.stage_started or state.timer.started
                state.timer = Clock(started=started, amount=fresh.amount, unit=fresh.unit,
                                    extended_wd=state.timer.extended_wd)  # fmt: skip
                count_deadline(state)
                state.clock += 1
        case Suspend(reason=reason, note=note, until=until):
            change.suspend(reason, note, until)
        case Resume():
            change.resume()
        case RequestExtension(days=days, reason=reason):
            case.extension_request = ExtensionRequest(days=days, reason=reason, by=actor.name, by_id=actor.id, at=now)
        case DecideExtension(approve=approve, days=days, note=note):
            request = case.extension_request
            assert request is not None  # policy.check refuses a decision with nothing to decide
            granted = (days or request.days) if approve else 0
            case.extensions.append(ExtensionDecision(requested=request.days, granted=granted, approved=approve,
                                                     by=actor.name, at=now, note=note))  # fmt: skip
            case.extension_request = None
            if granted:
                _extend(state, now, rules, granted)
        case Urge(note=note):
            case.urges.append(UrgeRecord(at=now, by=actor.name, note=note))
        case Supervise(grade=grade, note=note):
            _end_supervision(case, now, actor.name)
            case.supervision = SupervisionRecord(grade=grade, since=now, by=actor.name, note=note)
        case EndSupervision():
            _end_supervision(case, now, actor.name)
        case Dispatch(to_unit=to_unit, note=note):
            assert target is not None  # policy.check refuses a dispatch without the unit's facts
            _dispatch(change, target, note)
        case Claim():
            _claimed(state)
        case ReturnCase(reason=reason, explanation=explanation):
            _return(change, reason, explanation)
        case RuleReturn(upheld=upheld, to_unit=to_unit, note=note):
            _rule_on_return(change, upheld, target if to_unit else None, note)
        case _:
            raise AssertionError(f"unhandled command {body!r}")
    return change.seal()


def _dispatch(change: _Change, target: UnitFacts, note: str | None) -> None:
    """下派: the target handles the case from now on, with its tier's deadline for the stage from now."""
    case = change.case
    case.handling_path = policy.handling_path(case, change.state.units)  # set from here on, on older cases too
    case.dispatches.append(DispatchRecord(from_unit=case.handling_unit, to_unit=target.code, at=change.now,
                                          by=change.actor.name, note=note))  # fmt: skip
    to_tier = tier_of(target.path).value
    change.detail.update({"from_unit": case.handling_unit, "to_unit": target.code, "to_tier": to_tier})
    change.lapse_request()
    change.arrive(target.path)
    change.take_over()


def _return(change: _Change, reason: ReturnReason, explanation: str) -> None:
    """退单: back to the unit that sent the case, which must rule on it."""
    case = change.case
    assert case.arrived_from is not None  # policy.check: a case filed at the unit cannot be returned
    sender = case.arrived_from
    case.returns.append(ReturnRecord(from_unit=case.handling_unit, to_unit=code_of(sender), reason=reason,
                                     explanation=explanation, at=change.now, by=change.actor.name))  # fmt: skip
    pending = PendingReturn(from_unit=case.handling_unit, from_path=case.handling_path or "", reason=reason,
                            explanation=explanation, at=change.now)  # fmt: skip
    change.detail.update({"from_unit": case.handling_unit, "to_unit": code_of(sender)})
    change.lapse_request()
    # The sender had the case before: it comes back claimed (a claimed case is never returned again).
    change.arrive(sender, claim=False)
    case.arrived_from = None  # where it had come from before is not kept: claimed, it cannot be returned
    case.pending_return = pending
    change._restart_clock()


def _rule_on_return(change: _Change, upheld: bool, target: UnitFacts | None, note: str) -> None:
    case = change.case
    pending = case.pending_return
    assert pending is not None and case.handling_path is not None  # policy.check: a return is pending
    returning = next(r for r in reversed(case.returns) if r.ruling is None)
    returning.ruling = ReturnRuling(upheld=upheld, to_unit=target.code if target else None, note=note,
                                    at=change.now, by=change.actor.name)  # fmt: skip
    change.detail.update({"returned_by": pending.from_unit})
    case.pending_return = None
    if upheld and target is None:
        return  # the return stands: the sending unit keeps the case and handles it
    if upheld and target is not None:
        _dispatch(change, target, note)
        return
    # Overruled: back to the returning unit, which must claim it now and cannot return it again.
    change.arrive(pending.from_path)
    change.take_over()


def _end_supervision(case: CaseView, now: datetime, by: str) -> None:
    """The current supervision, if any, goes into the history as ended (a new grade replaces it so too)."""
    if case.supervision is not None:
        case.supervision_history.append(case.supervision.model_copy(update={"ended_at": now, "ended_by": by}))
        case.supervision = None


def _extend(state: CaseState, now: datetime, rules: Rules, working_days: int) -> None:
    """Move the deadline by working days; one already passed gives that many from today."""
    case = state.view
    if state.timer is not None and case.deadline is not None and case.deadline > now:
        state.timer.extended_wd += working_days
        count_deadline(state)
        state.clock += 1
    else:
        start_clock(state, now, rules, Duration(working_days, "wd"))
    case.overdue = False


def _visit_recorded(state: CaseState, change: _Change, satisfaction: Satisfaction) -> None:
    """回访: satisfied closes the case; unsatisfied reopens it, and a second time escalates it too."""
    case = state.view
    case.satisfaction = satisfaction
    if satisfaction is not Satisfaction.UNSATISFIED:
        change.close(Outcome.RESOLVED)
        return
    state.unsatisfied_visits += 1
    case.reopened += 1
    if state.unsatisfied_visits >= 2:
        change.escalate(EscalationReason.UNSATISFIED_VISIT)
    change.enter(Stage.IMPLEMENTING)


def calendar_changed(state: CaseState, schedule: YearSchedule, now: datetime, *, rules: Rules) -> CaseEvent | None:
    """A year of the case's calendar changed: the event of its deadline moving, or None if it did not move."""
    state.calendar = state.calendar.with_year(schedule)
    case = state.view
    if case.stage is Stage.CLOSED or state.timer is None or (state.timer.unit != "wd" and not state.timer.extended_wd):
        return None  # nothing counted in working days is running (a suspended clock is counted again at resume)
    change = _Change(state, SYSTEM_ACTOR, "calendar-updated", now, rules)
    before = case.deadline
    if not count_deadline(state):
        return None
    state.clock += 1
    if case.overdue and case.deadline is not None and case.deadline > now:
        case.overdue = False  # the town's deadline is later now: no longer overdue
    change.detail = {
        "year": schedule.year,
        "old_deadline": before.isoformat() if before else None,
        "new_deadline": case.deadline.isoformat() if case.deadline else None,
        "provisional": case.deadline_provisional,
    }
    return change.seal()


def deadline_passed(state: CaseState, now: datetime, *, rules: Rules) -> CaseEvent:
    """The current stage's deadline has passed with nobody acting: the window closes or the tier is breached.
    (A suspended case's only deadline is its resumption, which restarts its clock.)"""
    case = state.view
    if case.suspended is not None:
        change = _Change(state, SYSTEM_ACTOR, "resume", now, rules)
        change.detail = {"automatic": True}
        change.resume()
    elif case.stage is Stage.COLLECTING:
        change = _Change(state, SYSTEM_ACTOR, "collection-closed", now, rules)
        change.enter(Stage.REVIEWING)
    elif case.stage is Stage.ANNOUNCING:
        change = _Change(state, SYSTEM_ACTOR, "objection-period-ended", now, rules)
        upheld = len(case.objections) >= state.policy.objection_threshold
        change.detail = {"objections": len(case.objections), "threshold": state.policy.objection_threshold}
        change.enter(Stage.DELIBERATING if upheld else Stage.IMPLEMENTING)
    else:
        change = _Change(state, SYSTEM_ACTOR, "sla-breach", now, rules)
        case.breaches += 1
        # A pending extension request does not stop the breach; it lapses with the deadline it was for.
        change.lapse_request()
        change.detail["deadline"] = case.deadline.isoformat() if case.deadline else None
        if not change.escalate(EscalationReason.SLA_BREACH):
            # The town is the top: the case stays there, flagged, until somebody acts on it.
            case.overdue = True
            change.action = "overdue"
            state.clock += 1
            if rules.has(policy.BETWEEN_TIERS):  # urged once, and carded if it stays overdue
                state.overdue_since, state.auto_cards = now, []
                case.urges.append(UrgeRecord(at=now, by=SYSTEM_ACTOR.name, automatic=True, reason="overdue"))
                change.detail["urged"] = True
    return change.seal()


# --- alarms: what the workflow's one timer waits for ---------------------------------------------------------

CARDS = (SupervisionGrade.YELLOW, SupervisionGrade.RED)


def next_alarm(state: CaseState, rules: Rules) -> tuple[datetime, str] | None:
    """The next moment something happens by itself, and what: ``deadline`` (the stage's deadline, or the
    end of a suspension), ``claim`` (the claim deadline), ``yellow``/``red`` (a card for a case overdue at
    the town), ``warning`` (预警: the deadline is approaching). Before the between-tiers rules only the first
    existed, and only it is asked for then; ``warning`` only under the deadline-warnings rules."""
    case = state.view
    if case.stage is Stage.CLOSED:
        return None
    if case.suspended is not None:  # a stopped clock: its only alarm is resuming by itself
        return (state.resume_at, "deadline") if state.resume_at is not None else None
    alarms: list[tuple[datetime, str]] = []
    if case.deadline is not None and not case.overdue:
        alarms.append((case.deadline, "deadline"))
    if rules.has(policy.BETWEEN_TIERS):
        if not case.claimed and case.claim_deadline is not None:
            alarms.append((case.claim_deadline, "claim"))
        if case.overdue and state.overdue_since is not None:
            for grade in CARDS:
                if grade not in state.auto_cards:
                    alarms.append((_card_due(state, state.overdue_since, grade), grade.value))
    if rules.has(policy.DEADLINE_WARNINGS) and (warning := _warning_due(state)) is not None:
        # A moment already past (a deadline set inside its own warning) rings at once: the workflow's timer
        # for a past alarm is 1 ms, so the warning still stands on a fired timer in history.
        alarms.append((warning.at, "warning"))
    return min(alarms) if alarms else None


def _warning_due(state: CaseState) -> policy.DeadlineWarning | None:
    """The warning the running deadline is still owed, if any: once per deadline, for a stage's work (not a
    window), never while suspended (the clock is stopped) nor once overdue (past warning)."""
    case, timer = state.view, state.timer
    if case.deadline is None or timer is None or case.suspended is not None or case.overdue:
        return None
    if case.stage not in policy.WARNED_STAGES or state.warned_deadline == case.deadline:
        return None
    unit: Unit = "wd" if timer.extended_wd else timer.unit  # working days added: it ends as they do
    warning = policy.deadline_warning(state.policy, case.deadline, started=timer.started, unit=unit,
                                      calendar=state.calendar)  # fmt: skip
    return warning if warning is not None and warning.at < case.deadline else None


def _card_after(sla: SlaPolicy, grade: SupervisionGrade) -> str:
    """How long overdue at the town before the card of ``grade``."""
    return sla.yellow_card_after if grade is SupervisionGrade.YELLOW else sla.red_card_after


def _card_due(state: CaseState, since: datetime, grade: SupervisionGrade) -> datetime:
    after = parse_duration(_card_after(state.policy, grade))
    return due_after(since, after, state.calendar, state.policy.scale).at


def alarm_rang(state: CaseState, kind: str, now: datetime, *, rules: Rules) -> CaseEvent | None:
    """The alarm ``kind`` (from ``next_alarm``) went off: its event, or None if it changes nothing."""
    if kind == "deadline":
        return deadline_passed(state, now, rules=rules)
    if kind == "warning":
        return _warn(state, now, rules)
    case = state.view
    if kind == "claim":
        change = _Change(state, SYSTEM_ACTOR, "urge", now, rules)
        missed = case.claim_deadline.isoformat() if case.claim_deadline else None
        change.detail = {"automatic": True, "reason": "claim_overdue", "unit": case.handling_unit,
                         "claim_deadline": missed}  # fmt: skip
        case.urges.append(UrgeRecord(at=now, by=SYSTEM_ACTOR.name, automatic=True, reason="claim_overdue",
                                     note=f"not claimed by {case.handling_unit} in time"))  # fmt: skip
        case.claims_overdue += 1
        case.claim_deadline = None  # urged once; the case stays unclaimed until the unit claims it
        state.clock += 1
        return change.seal()
    grade = SupervisionGrade(kind)
    state.auto_cards.append(grade)
    state.clock += 1
    if case.supervision is not None and GRADE_ORDER.index(case.supervision.grade) >= GRADE_ORDER.index(grade):
        return None  # already under this grade or a higher one
    after = _card_after(state.policy, grade)
    change = _Change(state, SYSTEM_ACTOR, "supervise", now, rules)
    change.detail = {"grade": grade.value, "automatic": True, "overdue_since": state.overdue_since.isoformat()
                     if state.overdue_since else None, "after": after}  # fmt: skip
    _end_supervision(case, now, SYSTEM_ACTOR.name)
    case.supervision = SupervisionRecord(grade=grade, since=now, by=SYSTEM_ACTOR.name, automatic=True,
                                         note=f"overdue at the town for {after}")  # fmt: skip
    return change.seal()


def _warn(state: CaseState, now: datetime, rules: Rules) -> CaseEvent | None:
    """预警: the deadline is approaching. Tells, changes nothing else (stage, tier and deadline stay)."""
    warning, case = _warning_due(state), state.view
    if warning is None or case.deadline is None:
        return None  # not owed any more (the workflow only rings what next_alarm gave, so this is a guard)
    state.warned_deadline = case.deadline
    state.clock += 1
    if case.deadline <= now:
        # Rung late (a worker down past the deadline too; or a re-timing that left both behind): a warning
        # after the fact tells nobody anything. Settled all the same, so that the deadline's own alarm is next.
        return None
    change = _Change(state, SYSTEM_ACTOR, "deadline-approaching", now, rules)
    change.detail = {"deadline": case.deadline.isoformat(), "warn_before": warning.left, "stage": case.stage.value,
                     "tier": case.tier.value}  # fmt: skip
    return change.seal()
