"""Webhooks, the pure part: which webhook events a case event is, what a delivery says, how it is signed.

A function of the event alone, so the projection, the tests and anyone reading a case's trail agree. One
case event can be several webhook events (an overdue case at the town is urged in the same event).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from core.privacy import mask_phones
from workflows.model import CaseEvent, CaseView, Stage

# The namespace of delivery ids: the same (subscription, case, seq, event) is the same delivery, however
# often the projection that writes it is retried; receivers dedupe on it (X-Linli-Delivery).
DELIVERY_NAMESPACE = uuid.UUID("6c696e6c-6900-4077-8562-686f6f6b7300")

EVENTS: tuple[str, ...] = (
    "filed",
    "escalated",
    "dispatched",
    "returned",
    "claim_overdue",
    "deadline_approaching",
    "overdue",
    "urged",
    "supervised",
    "decision_announced",
    "suspended",
    "resumed",
    "closed",
)


def webhook_events(event: CaseEvent) -> list[str]:
    """The webhook events ``event`` raises, in the order subscribers receive them."""
    names: list[str] = []
    action, detail = event.action, event.detail
    if action == "file":
        names.append("filed")
    if isinstance(detail.get("escalation"), dict):
        names.append("escalated")
    if action == "dispatch" or (action == "rule-return" and detail.get("to_unit")):
        names.append("dispatched")
    if action == "return":
        names.append("returned")
    if action == "urge":
        if detail.get("reason") == "claim_overdue":
            names.append("claim_overdue")
        names.append("urged")
    if action == "overdue":
        names.append("overdue")
        if detail.get("urged"):
            names.append("urged")
    if action == "deadline-approaching":
        names.append("deadline_approaching")
    if action == "supervise":
        names.append("supervised")
    if event.to_stage is Stage.ANNOUNCING and event.from_stage is not Stage.ANNOUNCING:
        names.append("decision_announced")
    if action == "suspend":
        names.append("suspended")
    if action == "resume":
        names.append("resumed")
    if event.to_stage is Stage.CLOSED and event.from_stage is not Stage.CLOSED:
        names.append("closed")
    return names


def delivery_id(subscription_id: str, case_id: str, seq: int, event: str) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{subscription_id}/{case_id}/{seq}/{event}"))


def delivery_body(id: str, event: str, case_event: CaseEvent, case: CaseView) -> str:
    """The JSON a receiver gets, exactly as signed: the case as it stood after the event, phones masked."""
    body: dict[str, Any] = {
        "id": id,
        "event": event,
        "at": case_event.at.isoformat(),
        "seq": case_event.seq,
        "case": mask_phones(case.model_dump(mode="json")),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def signature(body: bytes, secret: str) -> str:
    """``X-Linli-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the body's bytes with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def in_scope(scope_path: str, unit_path: str, handling_path: str) -> bool:
    """A subscription scoped to a unit hears of the cases filed in its subtree, and of those handled there
    (dispatched to one of its units); an unscoped one (path "") of every case."""
    return unit_path.startswith(scope_path) or handling_path.startswith(scope_path)
