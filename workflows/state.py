"""The case's state and how each command or deadline changes it. Pure: no I/O, time comes in as ``now``.

Every applied change produces exactly one CaseEvent with the next sequence number; the workflow projects
these into the read model and the audit trail, keyed by (case id, seq).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from workflows import policy
from workflows.model import (
    SYSTEM_ACTOR,
    Accept,
    Actor,
    CaseEvent,
    CaseFiled,
    CaseView,
    Complete,
    Completion,
    CoSign,
    Decide,
    Escalate,
    Escalation,
    EscalationReason,
    ExtendDeadline,
    FastTrack,
    Meeting,
    Merge,
    Object,
    Objection,
    Outcome,
    Progress,
    RecordMeeting,
    RecordVisit,
    Reject,
    ReportProgress,
    Satisfaction,
    SlaPolicy,
    Stage,
    Strict,
    Submit,
    Tier,
    UnitPath,
    Visit,
    Withdraw,
)


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


class CaseInput(BaseModel):
    """The case workflow's input: a new case (``filed`` + ``policy``), or one carried on from a previous
    run (``state``). Defined here rather than beside the workflow so that it passes through the sandbox:
    a class in the workflow's own module is rebuilt for every run."""

    filed: CaseFiled
    policy: SlaPolicy
    state: CaseState | None = None


def open_case(filed: CaseFiled, sla: SlaPolicy, now: datetime) -> tuple[CaseState, CaseEvent]:
    """The state of a case just filed at the compound, and its first event."""
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
        stage=Stage.COLLECTING,
        tier=Tier.COMPOUND,
        status="open",
        deadline=now + policy.duration(sla, Stage.COLLECTING, Tier.COMPOUND),
        filed_by=filed.filed_by.id,
        filed_at=filed.filed_at,
        updated_at=now,
        version=1,
    )
    state = CaseState(view=view, units=filed.units, policy=sla)
    event = CaseEvent(
        seq=1,
        at=now,
        action="file",
        actor=filed.filed_by,
        from_stage=Stage.COLLECTING,
        to_stage=Stage.COLLECTING,
        from_tier=Tier.COMPOUND,
        to_tier=Tier.COMPOUND,
        detail={
            "category": filed.category,
            "title": filed.title,
            "channel": filed.channel,
            "policy": sla.name,
        },
    )
    return state, event


class _Change:
    """Collects one transition's effects, then seals them into the case's next event."""

    def __init__(self, state: CaseState, actor: Actor, action: str, now: datetime) -> None:
        self.state, self.actor, self.action, self.now = state, actor, action, now
        self.case = state.view
        self.from_stage, self.from_tier = self.case.stage, self.case.tier
        self.detail: dict[str, Any] = {}

    def enter(self, stage: Stage) -> None:
        """Move to ``stage`` with a fresh deadline for the current tier."""
        self.case.stage = stage
        self._restart_clock()

    def escalate(self, reason: EscalationReason, note: str | None = None) -> bool:
        """Hand the case one tier up; False at the town, which has no tier above."""
        to = policy.next_tier(self.case.tier)
        if to is None:
            return False
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
        self.case.tier = to
        self.case.handling_unit = self.state.units.at(to)
        self.state.implement_days = None  # the new tier works to its own deadline, not the old decision's
        self.detail["escalation"] = {"to_tier": to.value, "reason": reason.value}
        self._restart_clock()
        return True

    def close(self, outcome: Outcome) -> None:
        self.case.stage = Stage.CLOSED
        self.case.status = "closed"
        self.case.outcome = outcome
        self.case.deadline = None
        self.case.overdue = False
        self.state.clock += 1

    def _restart_clock(self) -> None:
        days = self.state.implement_days if self.case.stage is Stage.IMPLEMENTING else None
        sla = self.state.policy
        due = (
            policy.days_to_duration(sla, days)
            if days is not None
            else policy.duration(sla, self.case.stage, self.case.tier)
        )
        self.case.deadline = self.now + due
        self.case.overdue = False
        self.state.clock += 1

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


def apply_command(state: CaseState, actor: Actor, body: Strict, now: datetime) -> CaseEvent:
    """Apply a command that ``policy.check`` has allowed."""
    change = _Change(state, actor, str(getattr(body, "action")), now)  # noqa: B009
    case = state.view
    change.detail = body.model_dump(mode="json", exclude={"action"}, exclude_none=True)
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
            base = case.deadline if case.deadline and case.deadline > now else now
            case.deadline = base + policy.days_to_duration(state.policy, days)
            case.overdue = False
            state.clock += 1
        case _:
            raise AssertionError(f"unhandled command {body!r}")
    return change.seal()


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


def deadline_passed(state: CaseState, now: datetime) -> CaseEvent:
    """The current stage's deadline has passed with nobody acting: the window closes or the tier is breached."""
    case = state.view
    if case.stage is Stage.COLLECTING:
        change = _Change(state, SYSTEM_ACTOR, "collection-closed", now)
        change.enter(Stage.REVIEWING)
    elif case.stage is Stage.ANNOUNCING:
        change = _Change(state, SYSTEM_ACTOR, "objection-period-ended", now)
        upheld = len(case.objections) >= state.policy.objection_threshold
        change.detail = {"objections": len(case.objections), "threshold": state.policy.objection_threshold}
        change.enter(Stage.DELIBERATING if upheld else Stage.IMPLEMENTING)
    else:
        change = _Change(state, SYSTEM_ACTOR, "sla-breach", now)
        case.breaches += 1
        change.detail = {"deadline": case.deadline.isoformat() if case.deadline else None}
        if not change.escalate(EscalationReason.SLA_BREACH):
            # The town is the top: the case stays there, flagged, until somebody acts on it.
            case.overdue = True
            change.action = "overdue"
            state.clock += 1
    return change.seal()
