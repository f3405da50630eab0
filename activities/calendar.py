"""Re-timing open cases on a changed year of the calendar: the activities of the calendar rollout.

Which cases: the open ones in the town (every town, for the national schedule) that were filed before the
year ended (a clock never starts before its case is filed). All of them, not only those whose deadline
already falls in the year: a case keeps the years it is sent, and one whose clock reaches the year later
(a next stage, a resumption, an escalation) must count it on the schedule, not provisionally. A year is
loaded about once a year, so this is one update per open case per year.

Each is sent its town's schedule for the year as the database holds it when it is sent, with the case
workflow's ``calendar`` update; the case counts its deadline again and records ``calendar-updated`` if it
moved. Sending the same schedule twice changes nothing, and a retried activity's updates carry the first
attempt's ids (so the server answers them from the first). If the year is written again while a page is
being sent, the page's cases are sent the newer schedule too, so every case ends on what was written last.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from core.calendar import town_schedules
from core.tables import CaseRecord
from workflows import CASES_TO_RETIME, RETIME_CASES, workflow_id
from workflows.calendar_rollout import CasePage, CasePageRequest, CaseToRetime, RetimeBatch, Retimed
from workflows.case import CaseWorkflow
from workflows.clock import YearSchedule

AT_ONCE = 16  # updates in flight per activity: enough to keep workers busy, never a flood on one worker
ROUNDS = 5  # a page whose schedules keep changing under it is retried as a whole after this many
# A year's edge in any time zone lies within a day of its edge in UTC.
EDGE = timedelta(days=1)


class Retiming:
    """Activities over the read model and the case workflows; the worker registers the bound methods."""

    def __init__(self, engine: AsyncEngine, client: Client, *, at_once: int = AT_ONCE) -> None:
        self.engine, self.client, self.at_once = engine, client, at_once

    @activity.defn(name=CASES_TO_RETIME)
    async def cases_to_retime(self, request: CasePageRequest) -> CasePage:
        year_ends = datetime(request.year + 1, 1, 1, tzinfo=UTC) + EDGE
        query = select(CaseRecord.id, CaseRecord.town).where(
            CaseRecord.status == "open",
            CaseRecord.filed_at < year_ends,
        )
        if request.town is not None:
            query = query.where(CaseRecord.town == request.town)
        if request.after is not None:
            query = query.where(CaseRecord.id > request.after)
        async with AsyncSession(self.engine) as db:
            rows = (await db.exec(query.order_by(CaseRecord.id).limit(request.limit))).all()
        cases = [CaseToRetime(id=case_id, town=town) for case_id, town in rows]
        return CasePage(cases=cases, next=cases[-1].id if len(cases) == request.limit else None)

    @activity.defn(name=RETIME_CASES)
    async def retime_cases(self, batch: RetimeBatch) -> Retimed:
        sent: dict[str, str] = {}  # case id → fingerprint of the schedule it was last sent
        ended: set[str] = set()
        gate = asyncio.Semaphore(self.at_once)
        for _ in range(ROUNDS):
            async with AsyncSession(self.engine) as db:
                schedules = await town_schedules(db, batch.year, {case.town for case in batch.cases})
            due = [(case, schedules[case.town]) for case in batch.cases
                   if case.id not in ended and sent.get(case.id) != _fingerprint(schedules[case.town])]  # fmt: skip
            if not due:
                return Retimed(sent=len(sent), ended=len(ended))

            async def send(case: CaseToRetime, schedule: YearSchedule) -> None:
                async with gate:
                    if await self._send(case, schedule, batch.key):
                        sent[case.id] = _fingerprint(schedule)
                    else:
                        ended.add(case.id)
                    activity.heartbeat()

            # Every send finishes (or fails) before the activity does; then one failure retries the page.
            outcomes = await asyncio.gather(*(send(case, schedule) for case, schedule in due), return_exceptions=True)
            if failed := next((o for o in outcomes if isinstance(o, BaseException)), None):
                raise failed
        raise RuntimeError(f"the {batch.year} calendar kept changing while its cases were re-timed; trying again")

    async def _send(self, case: CaseToRetime, schedule: YearSchedule, key: str) -> bool:
        """Send one case the year; False if its workflow has ended (the case closed since it was listed)."""
        handle = self.client.get_workflow_handle(workflow_id(case.id))
        try:
            await handle.execute_update(
                CaseWorkflow.calendar, schedule, id=f"{key}:{case.id}:{_fingerprint(schedule)}",
                rpc_timeout=timedelta(seconds=30),
            )  # fmt: skip
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            return False
        except WorkflowUpdateFailedError as error:
            # The case refused the year: sending it again would be refused again. Its deadline stays.
            activity.logger.warning(
                "a case refused a calendar year", extra={"case_id": case.id, "year": schedule.year, "error": str(error)}
            )
        return True


def _fingerprint(schedule: YearSchedule) -> str:
    return hashlib.sha256(schedule.model_dump_json().encode()).hexdigest()[:16]
