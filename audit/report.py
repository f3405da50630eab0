"""What an audit returns: the runs, the timeline, the final state and every disagreement found."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.rows import EventPublic
from workflows.model import Actor, CaseView, Escalation, ReturnReason, SlaPolicy, Stage, SupervisionGrade, Tier

RunStatus = Literal["running", "completed", "continued_as_new", "failed", "terminated", "canceled", "timed_out"]

ErrorKind = Literal[
    "nondeterminism",  # today's code issues different commands than the history recorded
    "replay_failure",  # the workflow task failed while replaying (an exception, a payload that will not decode)
    "result_differs",  # same commands, but a recorded answer or result is not what the code now computes
    "chain_broken",  # a run does not carry on from where the previous one stopped
    "unreadable_history",  # the history's own records cannot be read as a case
]


class ReplayError(BaseModel):
    run_id: str | None
    kind: ErrorKind
    message: str


class RunInfo(BaseModel):
    """One run of the case's workflow; a long case continues as new into several."""

    run_id: str
    status: RunStatus
    started_at: datetime
    closed_at: datetime | None
    history_length: int = Field(description="events in this run's history")
    continued_from: str | None = Field(description="the run this one carries on from")
    continued_as: str | None = Field(description="the run this one continued as new into")


class RunSummary(RunInfo):
    """A run as replayed: the case events it applied, and whether it replayed cleanly."""

    first_seq: int | None = Field(description="the first case event applied in this run")
    last_seq: int | None
    deterministic: bool


class TimerFired(BaseModel):
    timer_id: str
    started_at: datetime
    fired_at: datetime
    armed_for_seconds: float = Field(description="how long the timer was set for when it was started")


class Dispatched(BaseModel):
    """下派: the case sent down to a unit inside the sender's subtree, by a dispatch or by a ruling that upheld
    a return and sent the case on."""

    from_unit: str
    to_unit: str
    note: str | None = None


class Returned(BaseModel):
    """退单: a unit that had not claimed the case gave it back to the unit that sent it."""

    from_unit: str = Field(description="the unit that returned the case")
    to_unit: str = Field(description="the unit it went back to, which must rule on the return")
    reason: ReturnReason
    explanation: str


class Ruling(BaseModel):
    """The ruling on a return, by the unit it came back to (or a supervisor over it)."""

    upheld: bool
    returned_by: str = Field(description="the unit whose return this rules on")
    outcome: Literal["kept", "dispatched_on", "sent_back"] = Field(
        description="kept: upheld, the unit it came back to handles it; dispatched_on: upheld, sent on to "
        "to_unit; sent_back: overruled, back to the returning unit, which must handle it"
    )
    to_unit: str | None = Field(description="where the case went; null when kept")
    note: str


class Urged(BaseModel):
    """催办: by a supervisor's hand, or by the case itself (a claim deadline passed; overdue at the town)."""

    automatic: bool
    reason: str | None = Field(default=None, description="automatic: claim_overdue or overdue")
    note: str | None = None
    unit: str | None = Field(default=None, description="claim_overdue: the unit that had not claimed the case")
    claim_deadline: datetime | None = Field(default=None, description="claim_overdue: the deadline it missed")


class Supervised(BaseModel):
    """督办: the grade given (ordinary, or a yellow or red card), by a supervisor or by the case itself."""

    grade: SupervisionGrade
    automatic: bool
    note: str | None = None
    overdue_since: datetime | None = Field(default=None, description="automatic: overdue at the town since")
    after: str | None = Field(default=None, description="automatic: the policy's time overdue that earns the card")


class TimelineEntry(BaseModel):
    """One thing that happened to the case, read off its history (and what it changed, from the replay)."""

    run_id: str
    history_event_id: int = Field(description="the event in that run's history this entry stands on")
    summary: str = Field(default="", description="the entry in words: what it was and what it did to the case")
    at: datetime = Field(description="when the workflow applied it (workflow time)")
    seq: int | None = Field(description="the case event it produced; null when nothing changed")
    kind: Literal["filing", "command", "deadline", "calendar", "run"] = Field(
        description="deadline: a fired timer (a window closing, a breach, overdue at the town, a suspension "
        "ending by itself, a claim deadline passing, a card falling due); calendar: a year of the town's working "
        "days was loaded or changed, and the case re-timed"
    )
    action: str
    actor: Actor
    actor_unit: str | None = Field(
        default=None, description="the unit the actor gave the command for, as the history carries it"
    )
    arguments: dict[str, Any] = Field(description="what was asked for, as the history carries it")
    result: Literal["applied", "rejected", "pending", "no_change", "unknown"] = Field(
        description="unknown: the replay stopped before this point, so what it changed is not known"
    )
    reason: str | None = None
    from_stage: Stage | None = None
    to_stage: Stage | None = None
    from_tier: Tier | None = None
    to_tier: Tier | None = None
    detail: dict[str, Any] = Field(default={}, description="what the case recorded for this event")
    escalation: Escalation | None = Field(
        default=None, description="the escalation it made (a tier change by dispatch, return or ruling is not one)"
    )
    claimed: bool = Field(
        default=False,
        description="签收: it claimed the case for the handling unit (a claim, "
        "a filing by the unit's staff, or any other command of the unit's caseworkers)",
    )
    dispatch: Dispatched | None = None
    returned: Returned | None = None
    ruling: Ruling | None = None
    urge: Urged | None = Field(default=None, description="the urge it made (an overdue event urges by itself)")
    supervision: Supervised | None = None
    timer: TimerFired | None = None
    update_id: str | None = None


class Mismatch(BaseModel):
    """A place where the read model does not say what the history says."""

    record: Literal["case", "event", "escalation"]
    seq: int | None = None
    field: str | None = Field(description="null: the whole record is missing on one side")
    history: Any
    read_model: Any


class ReplayReport(BaseModel):
    case_id: str
    workflow_id: str
    deterministic: bool
    error: ReplayError | None
    runs: list[RunSummary]
    policy: SlaPolicy | None = Field(description="the SLA policy in force for the case, as filed")
    timeline: list[TimelineEntry]
    final_state: CaseView | None
    matches_read_model: bool | None = Field(
        description="null when there is nothing to compare: the replay failed, or the read model has no such case"
    )
    mismatches: list[Mismatch]
    rejected: list[EventPublic] = Field(
        description="commands refused before they reached the history, from the read model's audit trail"
    )
