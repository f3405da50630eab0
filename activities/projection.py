"""Projecting the case's events into the read model, the audit trail and the escalations table.

Idempotent by construction: events and escalations are keyed by (case id, seq), the case row by its
version, so a retried activity never writes twice. A retry overwrites what an earlier attempt wrote for
the same key rather than keeping it: when a worker dies mid-task the task runs again (with its own clock),
and only the attempt that completes is the one the history keeps; the read model must agree with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from core.db import insert_ignoring_duplicates, upsert
from core.tables import CaseEscalationRecord, CaseEventRecord, CaseRecord
from workflows.case import PROJECT_CASE
from workflows.model import CaseEvent, CaseView, ProjectCase, UnitPath


class Projection:
    """Activities that write to the read model; the worker registers the bound methods."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name=PROJECT_CASE)
    async def project_case(self, change: ProjectCase) -> None:
        case, units = change.view, change.units
        async with self.engine.begin() as db:
            if change.events:
                rows = [event_row(case.id, e) for e in change.events]
                await db.execute(upsert(self.engine, CaseEventRecord, ["case_id", "seq"], list(rows[0])), rows)
            escalations = [escalation_row(case.id, units, e) for e in change.events if e.from_tier != e.to_tier]
            if escalations:
                key = ["case_id", "seq"]
                await db.execute(upsert(self.engine, CaseEscalationRecord, key, list(escalations[0])), escalations)
            row = case_row(case, units)
            updated = await db.execute(
                update(CaseRecord).where(CaseRecord.id == case.id, CaseRecord.version <= case.version).values(**row)  # type: ignore[arg-type]
            )
            if updated.rowcount == 0:
                await db.execute(insert_ignoring_duplicates(self.engine, CaseRecord), [row])
        activity.logger.debug("case projected", extra={"case_id": case.id, "version": case.version})


def case_row(case: CaseView, units: UnitPath) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "unit": case.unit,
        "community": units.community,
        "town": units.town,
        "unit_path": units.path,
        "handling_unit": case.handling_unit,
        "category": case.category,
        "title": case.title,
        "stage": case.stage.value,
        "tier": case.tier.value,
        "status": case.status,
        "outcome": case.outcome.value if case.outcome else None,
        "deadline": case.deadline,
        "overdue": case.overdue,
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


def event_row(case_id: str, event: CaseEvent) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": event.seq,
        "at": event.at,
        "action": event.action,
        "actor_id": event.actor.id,
        "actor_name": event.actor.name,
        "actor_role": event.actor.role.value,
        "result": "applied",
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
