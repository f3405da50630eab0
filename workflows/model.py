"""The case's vocabulary: stages, tiers, commands and the case view.

Shared by the workflow, the activities and the API. Everything here is a pydantic model so that one data
converter (``temporalio.contrib.pydantic``) carries it through Temporal and FastAPI alike. This module is
inside the determinism boundary: standard library and pydantic only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    COLLECTING = "collecting"  # 议题征集
    REVIEWING = "reviewing"  # 议题审议
    DELIBERATING = "deliberating"  # 协商议事
    ANNOUNCING = "announcing"  # 公布决策
    IMPLEMENTING = "implementing"  # 议题落实
    FOLLOW_UP = "follow_up"  # 回访
    CLOSED = "closed"


OPEN_STAGES = frozenset(s for s in Stage if s is not Stage.CLOSED)


class Tier(StrEnum):
    COMPOUND = "compound"  # 小区
    COMMUNITY = "community"  # 社区
    TOWN = "town"  # 镇 / 街道


class Outcome(StrEnum):
    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


class EscalationReason(StrEnum):
    SLA_BREACH = "sla_breach"
    MANUAL = "manual"
    UNSATISFIED_VISIT = "unsatisfied_visit"


class Role(StrEnum):
    RESIDENT = "resident"
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"  # the workflow itself: timers, never a token


class Strict(BaseModel):
    """Request-shaped models refuse unknown fields, so a misspelt field is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Actor(BaseModel):
    """Who did something: taken from the caller's token, never from the request body."""

    id: str
    name: str
    role: Role


SYSTEM_ACTOR = Actor(id="system", name="linli", role=Role.SYSTEM)


class Reporter(Strict):
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=30, pattern=r"^\+?[0-9][0-9 \-]{3,29}$")


# --- commands (one model per action; the field ``action`` tells them apart) ---------------------------------

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
# Numbers must be numbers: lax pydantic would read `true` as 1 day and "5" as 5, which the schema forbids.
Days = Annotated[float, Field(gt=0, le=365, strict=True)]


class CoSign(Strict):
    action: Literal["co-sign"] = "co-sign"
    resident: Name


class Submit(Strict):
    action: Literal["submit"] = "submit"


class Accept(Strict):
    action: Literal["accept"] = "accept"
    note: Text


class FastTrack(Strict):
    action: Literal["fast-track"] = "fast-track"
    assignee: Name
    due_in_days: Days | None = None
    note: Text | None = None


class Reject(Strict):
    action: Literal["reject"] = "reject"
    explanation: Text


class Escalate(Strict):
    action: Literal["escalate"] = "escalate"
    note: Text


class RecordMeeting(Strict):
    action: Literal["record-meeting"] = "record-meeting"
    held_at: datetime
    participants: list[Name] = Field(min_length=1, max_length=200)
    minutes: Text


class Decide(Strict):
    action: Literal["decide"] = "decide"
    decision: Text
    assignee: Name
    due_in_days: Days | None = None


class Object(Strict):
    action: Literal["object"] = "object"
    resident: Name
    reason: Text


class ReportProgress(Strict):
    action: Literal["report-progress"] = "report-progress"
    note: Text
    percent: Annotated[int, Field(ge=0, le=100, strict=True)] | None = None


class Complete(Strict):
    action: Literal["complete"] = "complete"
    summary: Text
    evidence: list[Annotated[str, Field(max_length=500)]] | None = Field(default=None, max_length=50)


class RecordVisit(Strict):
    action: Literal["record-visit"] = "record-visit"
    satisfaction: Satisfaction
    comment: Text | None = None


class Withdraw(Strict):
    action: Literal["withdraw"] = "withdraw"
    reason: Text


class Merge(Strict):
    action: Literal["merge"] = "merge"
    into: Annotated[str, Field(min_length=1, max_length=64)]


class ExtendDeadline(Strict):
    action: Literal["extend-deadline"] = "extend-deadline"
    days: Days
    reason: Text


ActionBody = Annotated[
    CoSign
    | Submit
    | Accept
    | FastTrack
    | Reject
    | Escalate
    | RecordMeeting
    | Decide
    | Object
    | ReportProgress
    | Complete
    | RecordVisit
    | Withdraw
    | Merge
    | ExtendDeadline,
    Field(discriminator="action"),
]

ACTION_BODIES: dict[str, type[Strict]] = {
    m.model_fields["action"].default: m
    for m in (
        CoSign, Submit, Accept, FastTrack, Reject, Escalate, RecordMeeting, Decide,
        Object, ReportProgress, Complete, RecordVisit, Withdraw, Merge, ExtendDeadline,
    )
}  # fmt: skip


class CaseCommand(BaseModel):
    """The argument of the workflow's ``act`` update: what to do and who does it."""

    actor: Actor
    body: ActionBody


# --- the SLA policy snapshot ---------------------------------------------------------------------------------


class SlaPolicy(BaseModel):
    """Deadlines in calendar days per stage and tier, as in force when the case was filed.

    Travels in the workflow input so that replay is deterministic and auditors see which rules applied.
    ``scale`` multiplies every duration (demos and tests run days as seconds).
    """

    name: str = "default"
    scale: float = Field(default=1.0, gt=0)
    objection_threshold: int = Field(default=3, ge=1)
    days: dict[Stage, dict[Tier, float]]


# --- the case ------------------------------------------------------------------------------------------------


class UnitPath(BaseModel):
    """The unit codes that handle the case at each tier."""

    compound: str
    community: str
    town: str

    def at(self, tier: Tier) -> str:
        return str(getattr(self, tier.value))

    @property
    def path(self) -> str:
        """The compound's materialized path, as the units table stores it."""
        return f"/{self.town}/{self.community}/{self.compound}/"

    def path_at(self, tier: Tier) -> str:
        """The materialized path of the unit handling the case at ``tier``."""
        depth = {Tier.TOWN: 1, Tier.COMMUNITY: 2, Tier.COMPOUND: 3}[tier]
        return "/" + "".join(f"{code}/" for code in (self.town, self.community, self.compound)[:depth])

    @classmethod
    def from_path(cls, path: str) -> UnitPath:
        """Read off a compound's materialized path ``/town/community/compound/``."""
        _, town, community, compound, _ = path.split("/")
        return cls(compound=compound, community=community, town=town)


class CaseFiled(BaseModel):
    """What the resident raised, as the API accepted it: the workflow's starting facts."""

    id: str
    number: str
    units: UnitPath
    category: str
    title: str
    description: str
    reporter: Reporter
    channel: str
    filed_by: Actor
    filed_at: datetime


class Escalation(BaseModel):
    from_tier: Tier
    to_tier: Tier
    reason: EscalationReason
    at: datetime
    by: str
    note: str | None = None


class Objection(BaseModel):
    resident: str
    reason: str
    at: datetime


class Meeting(BaseModel):
    held_at: datetime
    participants: list[str]
    minutes: str
    recorded_by: str


class Progress(BaseModel):
    at: datetime
    note: str
    percent: int | None = None
    by: str


class Completion(BaseModel):
    at: datetime
    summary: str
    evidence: list[str] = []
    by: str


class Visit(BaseModel):
    at: datetime
    satisfaction: Satisfaction
    comment: str | None = None
    by: str


class CaseView(BaseModel):
    """The case as caseworkers, supervisors and the read model see it."""

    id: str
    number: str
    unit: str
    handling_unit: str
    category: str
    title: str
    description: str
    reporter: Reporter
    channel: str
    stage: Stage
    tier: Tier
    status: Literal["open", "closed"]
    outcome: Outcome | None = None
    explanation: str | None = None
    merged_into: str | None = None
    deadline: datetime | None = None
    overdue: bool = False
    escalations: list[Escalation] = []
    co_signers: list[str] = []
    objections: list[Objection] = []
    meetings: list[Meeting] = []
    decision: str | None = None
    assignee: str | None = None
    progress: list[Progress] = []
    completion: Completion | None = None
    visits: list[Visit] = []
    satisfaction: Satisfaction | None = None
    reopened: int = 0
    responded_at: datetime | None = Field(
        default=None, description="when a caseworker first decided on the case in review (accept, fast-track, reject)"
    )
    breaches: int = Field(default=0, description="deadlines missed: escalations for a breach, or overdue at the town")
    filed_by: str
    filed_at: datetime
    updated_at: datetime
    version: int = Field(description="Sequence number of the last event applied to the case.")


class CaseEvent(BaseModel):
    """One applied transition, as the audit trail records it (keyed by case id + seq)."""

    seq: int
    at: datetime
    action: str
    actor: Actor
    from_stage: Stage
    to_stage: Stage
    from_tier: Tier
    to_tier: Tier
    detail: dict[str, Any] = {}
    request_id: str | None = Field(default=None, description="the update id: the caller's idempotency key")


class ProjectCase(BaseModel):
    """The projection activity's input: the case as it now is, and the events that led there."""

    view: CaseView
    units: UnitPath
    events: list[CaseEvent]
