"""What an audit returns: the runs, the timeline, the final state and every disagreement found."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.rows import EventPublic
from workflows.model import Actor, CaseView, Escalation, SlaPolicy, Stage, Tier

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


class TimelineEntry(BaseModel):
    """One thing that happened to the case, read off its history (and what it changed, from the replay)."""

    run_id: str
    history_event_id: int = Field(description="the event in that run's history this entry stands on")
    at: datetime = Field(description="when the workflow applied it (workflow time)")
    seq: int | None = Field(description="the case event it produced; null when nothing changed")
    kind: Literal["filing", "command", "deadline", "calendar", "run"] = Field(
        description="calendar: a year of the town's working days was loaded or changed, and the case re-timed"
    )
    action: str
    actor: Actor
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
    escalation: Escalation | None = None
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
