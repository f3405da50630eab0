"""The rows the read model is made of, one function each: the projection writes them, the API writes a
rejected command's, and the audit's reconciliation derives from them what the read model should hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from core.tables import CaseEventRecord
from workflows.model import Actor, CaseEvent, CaseView, PendingReturn, Role, SupervisionGrade, UnitPath
from workflows.policy import handling_path


def case_row(case: CaseView, units: UnitPath) -> dict[str, Any]:
    cards = [s.grade for s in (*case.supervision_history, *([case.supervision] if case.supervision else []))]
    waiting, since, due = _waiting(case)
    return {
        "id": case.id,
        "number": case.number,
        "unit": case.unit,
        "community": units.community,
        "town": units.town,
        "unit_path": units.path,
        "handling_unit": case.handling_unit,
        "handling_path": handling_path(case, units),
        "claimed": case.claimed,
        "claim_deadline": case.claim_deadline,
        "waiting": waiting,
        "waiting_since": since,
        "waiting_due": due,
        "claims_due": case.claims_due,
        "claims_overdue": case.claims_overdue,
        "yellow_cards": cards.count(SupervisionGrade.YELLOW),
        "red_cards": cards.count(SupervisionGrade.RED),
        "category": case.category,
        "title": case.title,
        "stage": case.stage.value,
        "tier": case.tier.value,
        "status": case.status,
        "outcome": case.outcome.value if case.outcome else None,
        "deadline": case.deadline,
        "overdue": case.overdue,
        "urgency": case.urgency.value,
        "suspended": case.suspended is not None,
        "deadline_provisional": case.deadline_provisional,
        "satisfaction": case.satisfaction.value if case.satisfaction else None,
        "escalation_count": len(case.escalations),
        "sla_breaches": case.breaches,
        "filed_by": case.filed_by,
        "filed_at": case.filed_at,
        "responded_at": case.responded_at,
        "closed_at": case.updated_at if case.status == "closed" else None,
        "updated_at": case.updated_at,
        "version": case.version,
        "view": case.model_dump(mode="json"),
    }


def _waiting(case: CaseView) -> tuple[str | None, datetime | None, datetime | None]:
    """What the open case waits for from someone (supervision's pending queue): a ruling on a return, a claim,
    or a decision on an extension request; with since when, and by when."""
    if case.status != "open":
        return None, None, None
    pending: PendingReturn | None = case.pending_return
    if pending is not None:
        return "return", pending.at, None
    if not case.claimed:
        arrived = max(_arrivals(case), default=case.filed_at)
        return "claim", arrived, case.claim_deadline
    if (request := case.extension_request) is not None:
        return "extension", request.at, case.deadline
    return None, None, None


def _arrivals(case: CaseView) -> list[datetime]:
    """When the case reached a unit: filed, escalated, dispatched, or sent back by a ruling."""
    return [
        *(e.at for e in case.escalations),
        *(d.at for d in case.dispatches),
        *(r.ruling.at for r in case.returns if r.ruling is not None and not r.ruling.upheld),
    ]


def is_escalation(event: CaseEvent) -> bool:
    """A tier change is an escalation only when it says so: a dispatch or a return changes the tier too."""
    return isinstance(event.detail.get("escalation"), dict)


def event_row(case_id: str, event: CaseEvent, *, rejected_because: str | None = None) -> dict[str, Any]:
    """An event of the audit trail. A rejected command is written as the event it would have been, at the
    case's stage and tier as they stood, with the reason and no sequence number (it changed nothing)."""
    return {
        "case_id": case_id,
        "seq": None if rejected_because else event.seq,
        "at": event.at,
        "action": event.action,
        "actor_id": event.actor.id,
        "actor_name": event.actor.name,
        "actor_role": event.actor.role.value,
        "result": "rejected" if rejected_because else "applied",
        "reason": rejected_because,
        "from_stage": event.from_stage.value,
        "to_stage": event.to_stage.value,
        "from_tier": event.from_tier.value,
        "to_tier": event.to_tier.value,
        "detail": event.detail,
        "request_id": event.request_id,
    }


def escalation_row(case_id: str, units: UnitPath, event: CaseEvent) -> dict[str, Any]:
    """A tier change is always an escalation; its reason is in the event's detail."""
    escalation = event.detail.get("escalation", {})
    return {
        "case_id": case_id,
        "seq": event.seq,
        "unit": units.compound,
        "community": units.community,
        "town": units.town,
        "unit_path": units.path,
        "from_tier": event.from_tier.value,
        "to_tier": event.to_tier.value,
        "reason": escalation.get("reason", "manual"),
        "at": event.at,
        "by": event.actor.name,
        "note": event.detail.get("note"),
    }


class EventPublic(BaseModel):
    """An event of the audit trail as the API and the audit show it."""

    seq: int | None = Field(description="sequence number in the case; null for a rejected command")
    at: datetime
    action: str
    actor: Actor
    result: str = Field(description="applied | rejected")
    reason: str | None = None
    from_stage: str | None
    to_stage: str | None
    from_tier: str | None
    to_tier: str | None
    detail: dict[str, Any]


def event_public(r: CaseEventRecord) -> EventPublic:
    actor = Actor(id=r.actor_id, name=r.actor_name, role=Role(r.actor_role))
    return EventPublic(
        seq=r.seq, at=r.at, action=r.action, actor=actor, result=r.result, reason=r.reason, from_stage=r.from_stage,
        to_stage=r.to_stage, from_tier=r.from_tier, to_tier=r.to_tier, detail=r.detail,
    )  # fmt: skip
