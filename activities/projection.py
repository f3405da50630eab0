"""Projecting the case's events into the read model and the audit trail.

Idempotent by construction: events are inserted keyed by (case id, seq) and duplicates ignored; the case
row is only overwritten by a view with a higher version. A retried or replayed activity never writes twice.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from temporalio import activity

from core.db import insert_ignoring_duplicates
from core.tables import CaseEventRecord, CaseRecord, Unit
from workflows.case import PROJECT_CASE
from workflows.model import CaseEvent, CaseView, ProjectCase


class Projection:
    """Activities that write to the read model; the worker registers the bound methods."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name=PROJECT_CASE)
    async def project_case(self, change: ProjectCase) -> None:
        case = change.view
        async with self.engine.begin() as db:
            if change.events:
                await db.execute(
                    insert_ignoring_duplicates(self.engine, CaseEventRecord),
                    [event_row(case.id, e) for e in change.events],
                )
            row = case_row(case)
            updated = await db.execute(
                update(CaseRecord)
                .where(CaseRecord.id == case.id, CaseRecord.version < case.version)  # type: ignore[arg-type]
                .values(**row)
            )
            if updated.rowcount == 0:
                path = (await db.execute(select(Unit.path).where(Unit.code == case.unit))).scalar_one()
                await db.execute(insert_ignoring_duplicates(self.engine, CaseRecord), [{**row, "unit_path": path}])
        activity.logger.debug("case projected", extra={"case_id": case.id, "version": case.version})


def case_row(case: CaseView) -> dict[str, object]:
    return {
        "id": case.id,
        "number": case.number,
        "unit": case.unit,
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
        "filed_by": case.filed_by,
        "filed_at": case.filed_at,
        "updated_at": case.updated_at,
        "version": case.version,
        "view": case.model_dump(mode="json"),
    }


def event_row(case_id: str, event: CaseEvent) -> dict[str, object]:
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
    }
