"""Projecting the case's events into the read model, the audit trail, the escalations table and the webhook
outbox.

Idempotent by construction: events and escalations are keyed by (case id, seq), the case row by its
version, so a retried activity never writes twice. A retry overwrites what an earlier attempt wrote for
the same key rather than keeping it: when a worker dies mid-task the task runs again (with its own clock),
and only the attempt that completes is the one the history keeps; the read model must agree with it.

Group commit: every case's command waits for its projection, so with many cases in flight the worker
would spend its time committing one small transaction after another (and, on SQLite, queueing for the one
write lock). Instead, changes that arrive while a transaction is being written wait for the next one, and
each transaction writes a whole batch with one statement per table. An activity returns only once the
transaction holding its change has committed. If a batch fails, its changes are written one by one, so a
change that cannot be written fails (and retries) alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel
from temporalio import activity

from activities.webhooks import active_subscriptions, delivery_rows, insert_deliveries
from core.db import upsert
from core.rows import case_row, escalation_row, event_row, is_escalation
from core.tables import CaseEscalationRecord, CaseEventRecord, CaseRecord
from workflows import PROJECT_CASE
from workflows.model import ProjectCase

MAX_BATCH = 128  # changes per transaction: bounds one transaction's time when thousands are queued


class Projection:
    """Activities that write to the read model; the worker registers the bound methods."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Built once, on the tables rather than the ORM classes: the same statement objects every time let
        # SQLAlchemy reuse their compiled form, and plain Core skips the ORM's bulk-write bookkeeping.
        key = ["case_id", "seq"]
        events, escalations, cases = (_table(t) for t in (CaseEventRecord, CaseEscalationRecord, CaseRecord))
        self.upsert_events = upsert(engine, events, key)
        self.upsert_escalations = upsert(engine, escalations, key)
        # An older version of a case never overwrites a newer one (a retried activity racing a later one).
        self.upsert_cases = upsert(engine, cases, ["id"], version="version")
        self.subscriptions = active_subscriptions()
        self.insert_deliveries = insert_deliveries(engine)
        self._waiting: list[tuple[ProjectCase, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    @activity.defn(name=PROJECT_CASE)
    async def project_case(self, change: ProjectCase) -> None:
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((change, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await written
        activity.logger.debug("case projected", extra={"case_id": change.view.id, "version": change.view.version})

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            changes = [change for change, _ in batch]
            failure = await self._attempt(changes)
            if failure is None or len(changes) == 1:
                outcomes = [failure] * len(changes)
            else:  # one change may be at fault: write each alone, so only that one fails
                outcomes = [await self._attempt([change]) for change in changes]
            for (_, written), error in zip(batch, outcomes, strict=True):
                if written.done():  # its activity was cancelled meanwhile
                    continue
                if error is None:
                    written.set_result(None)
                else:
                    written.set_exception(error)

    async def _attempt(self, changes: list[ProjectCase]) -> BaseException | None:
        try:
            await self._write(changes)
            return None
        except Exception as error:
            return error

    async def _write(self, changes: list[ProjectCase]) -> None:
        # Within one statement a key may appear once (PostgreSQL refuses to update a row twice): keep the
        # last event per (case, seq) and the newest version of each case.
        events: dict[tuple[str, int], dict[str, Any]] = {}
        escalations: dict[tuple[str, int], dict[str, Any]] = {}
        cases: dict[str, dict[str, Any]] = {}
        for change in changes:
            case, units = change.view, change.units
            for event in change.events:
                events[case.id, event.seq] = event_row(case.id, event)
                if is_escalation(event):
                    escalations[case.id, event.seq] = escalation_row(case.id, units, event)
            if case.id not in cases or cases[case.id]["version"] <= case.version:
                cases[case.id] = case_row(case, units)
        async with self.engine.begin() as db:
            await _execute(db, self.upsert_events, events)
            await _execute(db, self.upsert_escalations, escalations)
            await _execute(db, self.upsert_cases, cases)
            # The webhook outbox, in the same transaction: an event is never written without its deliveries.
            # The delivery workflows find them there (activities/webhooks.py): the command waits for nobody.
            deliveries = delivery_rows((await db.execute(self.subscriptions)).all(), changes)
            if deliveries:
                await db.execute(self.insert_deliveries, deliveries)


async def _execute(db: AsyncConnection, statement: Any, rows: dict[Any, dict[str, Any]]) -> None:
    if rows:
        await db.execute(statement, list(rows.values()))


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]
