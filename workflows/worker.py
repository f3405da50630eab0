"""The worker entry point: runs case workflows and their activities on the task queue.

Outside the determinism boundary (it wires the database into the activities); nothing in workflow code
imports it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from activities.projection import Projection
from workflows.case import CaseWorkflow


def build_worker(client: Client, engine: AsyncEngine, task_queue: str) -> Worker:
    # Workflow details go into structured fields (``temporal_workflow``), not into the message text.
    workflow.logger.workflow_info_on_message = False
    projection = Projection(engine)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CaseWorkflow],
        activities=[projection.project_case],
    )
