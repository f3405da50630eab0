"""The case's vocabulary: stages, tiers, commands and the case view.

Shared by the workflow, the activities and the API. Everything here is a pydantic model so that one data
converter (``temporalio.contrib.pydantic``) carries it through Temporal and FastAPI alike. This module is
inside the determinism boundary: standard library and pydantic only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from workflows.clock import DurationError, DurationText, parse_duration


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


class Urgency(StrEnum):
    """紧急程度: how fast the case must move (the policy shortens deadlines per urgency)."""

    EMERGENCY = "emergency"  # danger to life or property
    URGENT = "urgent"  # water, power, gas, heating
    NORMAL = "normal"
    COMPLEX = "complex"  # needs more time than usual (several parties, works)


class SuspendReason(StrEnum):
    WAITING_FOR_RESIDENT = "waiting_for_resident"
    WAITING_FOR_THIRD_PARTY = "waiting_for_third_party"
    FORCE_MAJEURE = "force_majeure"
    OTHER = "other"


class SupervisionGrade(StrEnum):
    """督办: ordinary, yellow card, red card."""

    ORDINARY = "ordinary"  # 普通
    YELLOW = "yellow"  # 黄牌
    RED = "red"  # 红牌


class ReturnReason(StrEnum):
    """退单: why a unit sends a case back to the one that sent it."""

    NOT_OUR_REMIT = "not_our_remit"  # 不属于本单位职责
    WRONG_JURISDICTION = "wrong_jurisdiction"  # 不属于本辖区
    OWNERSHIP_UNCLEAR = "ownership_unclear"  # 权属不清
    DUPLICATE = "duplicate"  # 重复件


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


PHONE = r"\+?[0-9][0-9 \-]{3,29}"


class ReporterView(BaseModel):
    """Who raised the issue, as a case view shows them; to auditors the phone is masked to its last four
    digits (``*******8000``)."""

    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=30, pattern=rf"^(?:{PHONE}|\**[0-9]{{1,4}})$")


class Reporter(ReporterView, Strict):
    """Who raised the issue, as they gave it when filing: a phone number is digits, never a masked one."""

    phone: str | None = Field(default=None, max_length=30, pattern=rf"^{PHONE}$")


# --- commands (one class per action; the field ``action`` tells them apart) ---------------------------------

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
# Numbers must be numbers: lax pydantic would read `true` as 1 day and "5" as 5, which the schema forbids.
Days = Annotated[float, Field(gt=0, le=365, strict=True)]
WorkingDays = Annotated[int, Field(gt=0, le=250, strict=True)]
# The stages with a deadline that is the handling unit's work (not a window that ends by itself).
WORK_STAGES = frozenset({Stage.REVIEWING, Stage.DELIBERATING, Stage.IMPLEMENTING, Stage.FOLLOW_UP})

STAFF = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
# What a resident may do themselves; staff may do it for them (a co-signature taken at the door).
RESIDENTS_AND_STAFF = STAFF | {Role.RESIDENT}


UnitCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]


class Command(Strict):
    """A command to a case. Each subclass is one action, and says as data where it belongs:

    - ``action``: its name in the API (``POST /v1/cases/{id}/actions/<action>``) and in the audit trail;
    - ``stages``: the stages the case may be in for it (the workflow decides *when*);
    - ``roles``: the roles that may give it (the API decides *who*, with the jurisdiction);
    - ``while_suspended``: whether it may be given while the case's clock is suspended (most may not).

    The union the workflow's update takes, the routes, the stage check and the API's role gate are all
    built from ``COMMANDS`` below; a subclass that leaves any of these out fails at import.
    """

    action: str
    stages: ClassVar[frozenset[Stage]]
    roles: ClassVar[frozenset[Role]]
    while_suspended: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("stages", "roles"):
            if not getattr(cls, name, None):
                raise TypeError(f"command {cls.__name__} must say its {name}")

    @classmethod
    def action_name(cls) -> str:
        return str(cls.model_fields["action"].default)


class CoSign(Command):
    """附议: a resident backs a neighbour's issue."""

    action: Literal["co-sign"] = "co-sign"
    stages = frozenset({Stage.COLLECTING, Stage.REVIEWING})
    roles = RESIDENTS_AND_STAFF
    resident: Name


class Submit(Command):
    """Close collection early and put the topic to review."""

    action: Literal["submit"] = "submit"
    stages = frozenset({Stage.COLLECTING})
    roles = STAFF


class Accept(Command):
    """The review takes the topic up for deliberation."""

    action: Literal["accept"] = "accept"
    stages = frozenset({Stage.REVIEWING})
    roles = STAFF
    note: Text


class FastTrack(Command):
    """A simple matter goes straight to implementation."""

    action: Literal["fast-track"] = "fast-track"
    stages = frozenset({Stage.REVIEWING})
    roles = STAFF
    assignee: Name
    due_in_days: Days | None = None
    note: Text | None = None


class Reject(Command):
    """Refuse the topic, with an explanation to the resident."""

    action: Literal["reject"] = "reject"
    stages = frozenset({Stage.REVIEWING, Stage.DELIBERATING})
    roles = STAFF
    explanation: Text


class Escalate(Command):
    """Hand the case one tier up (上报)."""

    action: Literal["escalate"] = "escalate"
    stages = OPEN_STAGES
    roles = STAFF
    while_suspended = True
    note: Text


class RecordMeeting(Command):
    """Record the deliberation meeting (议事会)."""

    action: Literal["record-meeting"] = "record-meeting"
    stages = frozenset({Stage.DELIBERATING})
    roles = STAFF
    held_at: datetime
    participants: list[Name] = Field(min_length=1, max_length=200)
    minutes: Text


class Decide(Command):
    """The decision, announced for the objection period."""

    action: Literal["decide"] = "decide"
    stages = frozenset({Stage.DELIBERATING})
    roles = STAFF
    decision: Text
    assignee: Name
    due_in_days: Days | None = None


class Object(Command):
    """A resident objects to the announced decision."""

    action: Literal["object"] = "object"
    stages = frozenset({Stage.ANNOUNCING})
    roles = RESIDENTS_AND_STAFF
    resident: Name
    reason: Text


class ReportProgress(Command):
    """How far the work has come."""

    action: Literal["report-progress"] = "report-progress"
    stages = frozenset({Stage.IMPLEMENTING})
    roles = STAFF
    note: Text
    percent: Annotated[int, Field(ge=0, le=100, strict=True)] | None = None


class Complete(Command):
    """The work is done; the follow-up visit comes next."""

    action: Literal["complete"] = "complete"
    stages = frozenset({Stage.IMPLEMENTING})
    roles = STAFF
    summary: Text
    evidence: list[Annotated[str, Field(max_length=500)]] | None = Field(default=None, max_length=50)


class RecordVisit(Command):
    """回访: the resident's satisfaction; unsatisfied reopens the case."""

    action: Literal["record-visit"] = "record-visit"
    stages = frozenset({Stage.FOLLOW_UP})
    roles = STAFF
    satisfaction: Satisfaction
    comment: Text | None = None


class Withdraw(Command):
    """The reporter withdraws the case."""

    action: Literal["withdraw"] = "withdraw"
    stages = OPEN_STAGES
    roles = RESIDENTS_AND_STAFF
    while_suspended = True
    reason: Text


class Merge(Command):
    """The case duplicates another: merge it into that one."""

    action: Literal["merge"] = "merge"
    stages = frozenset({Stage.COLLECTING, Stage.REVIEWING})
    roles = STAFF
    into: Annotated[str, Field(min_length=1, max_length=64)]


class ExtendDeadline(Command):
    """A supervisor moves the current deadline (by working days; by calendar days on cases filed before v2)."""

    action: Literal["extend-deadline"] = "extend-deadline"
    stages = OPEN_STAGES
    roles = SUPERVISORS
    days: Days
    reason: Text


class SetUrgency(Command):
    """Change the case's urgency; the current deadline is counted again from the stage's start."""

    action: Literal["set-urgency"] = "set-urgency"
    stages = frozenset({Stage.COLLECTING, Stage.REVIEWING, Stage.DELIBERATING})
    roles = STAFF
    urgency: Urgency
    reason: Text


class Suspend(Command):
    """挂起: stop the case's clock while the unit waits on the resident or a third party."""

    action: Literal["suspend"] = "suspend"
    stages = frozenset({Stage.REVIEWING, Stage.DELIBERATING, Stage.IMPLEMENTING})
    roles = STAFF
    reason: SuspendReason
    note: Text
    until: AwareDatetime | None = Field(
        default=None, description="resume by itself then (at the latest: the policy's max); with a time zone"
    )


class Resume(Command):
    """解挂: restart the clock with the time that was left."""

    action: Literal["resume"] = "resume"
    stages = OPEN_STAGES
    roles = STAFF
    while_suspended = True
    note: Text


class RequestExtension(Command):
    """延期申请: the handling unit asks for more working days, before the deadline."""

    action: Literal["request-extension"] = "request-extension"
    stages = WORK_STAGES
    roles = STAFF
    days: WorkingDays
    reason: Text


class DecideExtension(Command):
    """延期审批: a supervisor over the handling unit (never the requester) approves or denies."""

    action: Literal["decide-extension"] = "decide-extension"
    stages = WORK_STAGES
    roles = SUPERVISORS
    approve: Annotated[bool, Field(strict=True)]
    days: WorkingDays | None = Field(default=None, description="approved: at most the request (default: the request)")
    note: Text


class Urge(Command):
    """催办: a supervisor over the handling unit presses it to act."""

    action: Literal["urge"] = "urge"
    stages = OPEN_STAGES
    roles = SUPERVISORS
    while_suspended = True
    note: Text


class Supervise(Command):
    """督办: a supervisor puts the case under graded supervision (or changes the grade)."""

    action: Literal["supervise"] = "supervise"
    stages = OPEN_STAGES
    roles = SUPERVISORS
    while_suspended = True
    grade: SupervisionGrade
    note: Text


class EndSupervision(Command):
    """取消督办: the supervision ends."""

    action: Literal["end-supervision"] = "end-supervision"
    stages = OPEN_STAGES
    roles = SUPERVISORS
    while_suspended = True
    note: Text


class Dispatch(Command):
    """下派: the handling unit sends the case down, to a unit inside its own subtree, which must claim it."""

    action: Literal["dispatch"] = "dispatch"
    stages = frozenset({Stage.REVIEWING, Stage.DELIBERATING, Stage.IMPLEMENTING})
    roles = STAFF
    to_unit: UnitCode
    note: Text | None = None


class Claim(Command):
    """签收: the unit the case arrived at acknowledges it (any other command of its caseworkers does too)."""

    action: Literal["claim"] = "claim"
    stages = OPEN_STAGES
    roles = STAFF
    while_suspended = True


class ReturnCase(Command):
    """退单: a unit that has not claimed a case sent to it gives it back to the unit that sent it."""

    action: Literal["return"] = "return"
    stages = OPEN_STAGES
    roles = STAFF
    reason: ReturnReason
    explanation: Text


class RuleReturn(Command):
    """The sending unit (or a supervisor over it) rules on a return: upheld, it keeps the case or dispatches
    it to ``to_unit``; overruled, the case goes back to the returning unit, which must handle it."""

    action: Literal["rule-return"] = "rule-return"
    stages = OPEN_STAGES
    roles = STAFF
    upheld: Annotated[bool, Field(strict=True)]
    to_unit: UnitCode | None = Field(default=None, description="upheld: dispatch the case on to this unit instead")
    note: Text

    @model_validator(mode="after")
    def _to_unit_only_if_upheld(self) -> RuleReturn:
        if self.to_unit is not None and not self.upheld:
            raise ValueError("to_unit is for an upheld return; an overruled one goes back to the returning unit")
        return self


# Every command, in the order the API lists them. The one list the rest is built from.
COMMANDS: tuple[type[Command], ...] = (
    CoSign, Submit, Accept, FastTrack, Reject, Escalate, RecordMeeting, Decide,
    Object, ReportProgress, Complete, RecordVisit, Withdraw, Merge, ExtendDeadline,
    SetUrgency, Suspend, Resume, RequestExtension, DecideExtension, Urge, Supervise, EndSupervision,
    Dispatch, Claim, ReturnCase, RuleReturn,
)  # fmt: skip

ACTION_BODIES: dict[str, type[Command]] = {command.action_name(): command for command in COMMANDS}

if TYPE_CHECKING:
    ActionBody = Command
else:
    ActionBody = Annotated[Union[COMMANDS], Field(discriminator="action")]  # noqa: UP007 (a tuple of classes)


class CallerFacts(BaseModel):
    """Where the caller stands, as the API knows it from the token: the workflow cannot read the units."""

    unit: str | None = Field(description="the caller's unit code; None: the whole system")
    path: str | None = Field(description="that unit's materialized path; None: the whole system")

    def covers(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)


class UnitFacts(BaseModel):
    """A unit a command names (``to_unit``), looked up by the API."""

    code: str
    path: str = Field(description="materialized path /town/community/compound/")


class CaseCommand(BaseModel):
    """The argument of the workflow's ``act`` update: what to do, who does it, and the unit facts the rules
    need (the caller's unit; the unit a dispatch or ruling names). Facts are None in histories from before
    commands carried them."""

    actor: Actor
    body: ActionBody
    caller: CallerFacts | None = None
    target: UnitFacts | None = None


# --- the SLA policy snapshot ---------------------------------------------------------------------------------


Deadlines = dict[Stage, dict[Tier, DurationText]]

WARNINGS_OFF = "off"


def _off_if_null(value: Any) -> Any:
    return WARNINGS_OFF if value is None else value


def _warning(value: str) -> str:
    """``warn_before``: a duration, written canonically, or "off"."""
    if value.strip().lower() == WARNINGS_OFF:
        return WARNINGS_OFF
    try:
        return str(parse_duration(value))
    except DurationError as error:
        raise ValueError(f'warn_before: {error}; or "off" for no warnings') from None


# 预警: how long before a deadline the case warns that it is approaching (a duration, or "off"; null is "off").
WarnBefore = Annotated[str, BeforeValidator(_off_if_null), AfterValidator(_warning)]


class SlaPolicy(BaseModel):
    """The deadlines per stage and tier, as in force when the case was filed.

    Travels in the workflow input so that replay is deterministic and auditors see which rules applied.
    ``scale`` shrinks every interval (demos and tests run days as seconds). Cases filed under v1 carry
    ``days`` (calendar days) and nothing else; v2 cases carry ``deadlines`` (durations with units, e.g.
    "2wd") and the per-urgency overrides.
    """

    name: str = "default"
    scale: float = Field(default=1.0, gt=0)
    objection_threshold: int = Field(default=3, ge=1)
    days: dict[Stage, dict[Tier, float]] = {}  # v1
    deadlines: Deadlines | None = None
    urgency: dict[Urgency, Deadlines] = {}
    max_suspension: DurationText = "30d"
    # Between tiers (v2): how long a unit has to claim a case that reached it, per tier and per urgency.
    claim: dict[Tier, DurationText] = {}
    claim_urgency: dict[Urgency, DurationText] = {}
    # How long a case may be overdue at the town before it gets a yellow, then a red card by itself.
    yellow_card_after: DurationText = "3wd"
    red_card_after: DurationText = "10wd"
    # 预警 (deadline warnings rule change): warn once per deadline when this much of it is left, counted on the
    # deadline's own clock ("1wd": one working day). A deadline in hours or minutes (an emergency's) is warned
    # when a quarter of it is left instead, unless this too is in hours or minutes. "off" (or null): never.
    warn_before: WarnBefore = "1wd"
    # 考核: the ranking's weights (per rate) and penalty points (per card and per claim overdue).
    weights: dict[str, float] = {"response": 30, "resolution": 35, "satisfaction": 35}
    penalty_points: dict[str, float] = {"yellow_card": 5, "red_card": 10, "claim_overdue": 1}


# --- the case ------------------------------------------------------------------------------------------------


TIER_AT_DEPTH = {1: Tier.TOWN, 2: Tier.COMMUNITY, 3: Tier.COMPOUND}


def tier_of(path: str) -> Tier:
    """The tier of the unit at a materialized path (``/town/``, ``/town/community/``, ``/t/c/compound/``)."""
    return TIER_AT_DEPTH[path.count("/") - 1]


def code_of(path: str) -> str:
    """The code of the unit at a materialized path: its last segment."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def parent_of(path: str) -> str:
    return path[: path.rstrip("/").rindex("/") + 1]


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
        depth = next(d for d, t in TIER_AT_DEPTH.items() if t is tier)
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
    urgency: Urgency = Urgency.NORMAL
    claimed: bool = Field(default=False, description="filed by staff of the compound itself: claimed at filing")


class Escalation(BaseModel):
    from_tier: Tier
    to_tier: Tier
    reason: EscalationReason
    at: datetime
    by: str
    note: str | None = None


class Suspension(BaseModel):
    since: datetime
    reason: SuspendReason
    note: str
    until: datetime | None = Field(description="when it resumes by itself: the requested time or the policy's max")
    by: str


class PastSuspension(BaseModel):
    since: datetime
    resumed_at: datetime
    reason: SuspendReason
    by: str
    resumed_by: str


class ExtensionRequest(BaseModel):
    days: int
    reason: str
    by: str
    by_id: str = Field(description="the requester's principal id: a decision by them is refused")
    at: datetime


class ExtensionDecision(BaseModel):
    requested: int
    granted: int
    approved: bool
    by: str
    at: datetime
    note: str | None = None


class UrgeRecord(BaseModel):
    at: datetime
    by: str
    note: str | None = None
    automatic: bool = False
    reason: str | None = Field(default=None, description="an automatic urge's cause (claim_overdue, overdue)")


class SupervisionRecord(BaseModel):
    grade: SupervisionGrade
    since: datetime
    by: str
    automatic: bool = False
    note: str | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None


class DispatchRecord(BaseModel):
    from_unit: str
    to_unit: str
    at: datetime
    by: str
    note: str | None = None


class PendingReturn(BaseModel):
    from_unit: str = Field(description="the unit that returned the case")
    from_path: str = Field(description="its materialized path: an overruled return sends the case back there")
    reason: ReturnReason
    explanation: str
    at: datetime


class ReturnRuling(BaseModel):
    upheld: bool
    to_unit: str | None = Field(description="upheld and dispatched on: where to")
    note: str
    at: datetime
    by: str


class ReturnRecord(BaseModel):
    from_unit: str = Field(description="the unit that returned the case")
    to_unit: str = Field(description="the unit it went back to (the one that had sent it)")
    reason: ReturnReason
    explanation: str
    at: datetime
    by: str
    ruling: ReturnRuling | None = None


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
    reporter: ReporterView
    channel: str
    stage: Stage
    tier: Tier
    status: Literal["open", "closed"]
    outcome: Outcome | None = None
    explanation: str | None = None
    merged_into: str | None = None
    urgency: Urgency = Urgency.NORMAL
    deadline: datetime | None = Field(default=None, description="null when closed, or while the clock is suspended")
    deadline_provisional: bool = Field(
        default=False, description="counted across a year whose official schedule is not loaded yet (Mon–Fri only)"
    )
    overdue: bool = False
    suspended: Suspension | None = None
    suspensions: list[PastSuspension] = []
    extension_request: ExtensionRequest | None = None
    extensions: list[ExtensionDecision] = []
    urges: list[UrgeRecord] = []
    supervision: SupervisionRecord | None = None
    supervision_history: list[SupervisionRecord] = []
    escalations: list[Escalation] = []
    handling_path: str | None = Field(
        default=None, description="the handling unit's materialized path (null on cases from before dispatching)"
    )
    arrived_from: str | None = Field(
        default=None, description="the path of the unit that sent the case to the handling unit; null if filed there"
    )
    claimed: bool = Field(default=True, description="签收: the handling unit has acknowledged the case")
    claim_deadline: datetime | None = Field(default=None, description="unclaimed: by when it must be claimed")
    claims_due: int = Field(default=0, description="how many times the case arrived at a unit that had to claim it")
    claims_overdue: int = Field(default=0, description="how many of those claims came late (an automatic urge each)")
    dispatches: list[DispatchRecord] = []
    returns: list[ReturnRecord] = []
    pending_return: PendingReturn | None = None
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


class CasePublic(BaseModel):
    """A case as any resident of its compound may know it: what is being done, never who raised it.

    The answer to a resident's command on a neighbour's case (co-signing, objecting): no names, no phone
    number, no description, since those are the reporter's to share.
    """

    id: str
    number: str
    unit: str
    title: str
    stage: Stage
    tier: Tier
    status: Literal["open", "closed"]
    outcome: Outcome | None = None
    decision: str | None = None
    deadline: datetime | None = None
    co_signer_count: int
    objection_count: int

    @classmethod
    def of(cls, view: CaseView) -> CasePublic:
        return cls(
            id=view.id, number=view.number, unit=view.unit, title=view.title, stage=view.stage, tier=view.tier,
            status=view.status, outcome=view.outcome, decision=view.decision, deadline=view.deadline,
            co_signer_count=len(view.co_signers), objection_count=len(view.objections),
        )  # fmt: skip


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
