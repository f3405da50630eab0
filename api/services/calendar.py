"""Loading a year of the calendar (the API's PUT and `linli calendar import`): who may, and re-timing the cases.

The year is written first, then a rollout workflow is started that re-times the open cases on it. The
rollout's id comes from what was written, so a retried write (a client retrying a PUT whose answer it
lost, or the import run again) joins the rollout already running instead of starting a second one; and
since the write is idempotent, retrying until the answer comes back leaves nothing half done.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from api.auth import Caller
from api.errors import forbidden
from core.calendar import CalendarChange, find_town, write_year
from core.settings import Settings
from workflows import ROLLOUT_AGAIN, ROLLOUT_ID_PREFIX
from workflows.calendar_rollout import CalendarRolloutWorkflow, Rollout


async def check_writer(db: AsyncSession, caller: Caller | None, town: str | None) -> None:
    """The national schedule is an unscoped admin's; a town's changes, an admin's whose jurisdiction holds it.

    ``caller`` None: the command line, which has the database itself. Raises CalendarError for a town that
    does not exist or is not a town, and a 403 ApiError for a caller who may not.
    """
    unit = await find_town(db, town) if town else None
    if caller is None:
        return
    if unit is None:
        if caller.unit_path is not None:
            raise forbidden("the national schedule is loaded by an admin of the whole system")
    elif not caller.covers(unit.path):
        raise forbidden(f"town {town!r} is outside your jurisdiction")


def rollout_id(settings: Settings, year: int, town: str | None, change: CalendarChange) -> str:
    """The rollout of this content of this year's layer. The task queue is in the hash: two installations
    sharing a Temporal namespace never share a rollout."""
    content = json.dumps(
        [settings.task_queue, year, town, change.model_dump(mode="json")], sort_keys=True, ensure_ascii=False
    )
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    return f"{ROLLOUT_ID_PREFIX}{year}-{town or 'national'}-{digest}"


async def load_year(
    engine: AsyncEngine, client: Client, settings: Settings, year: int, town: str | None, change: CalendarChange
) -> str:
    """Write the year's layer, then start its rollout (or signal the one running for the same content to start
    over). Returns the rollout's workflow id. Raises CalendarError, writing nothing, for a change that is
    not a valid year's."""
    stored = await write_year(engine, year, town, change)
    workflow_id = rollout_id(settings, year, town, stored)
    await client.start_workflow(
        CalendarRolloutWorkflow.run,
        Rollout(year=year, town=town),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=ROLLOUT_AGAIN,
        rpc_timeout=timedelta(seconds=settings.command_timeout),
    )
    return workflow_id
