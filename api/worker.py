"""The worker entry point: runs case workflows and their activities on the task queue.

Outside the determinism boundary (it wires the database into the activities); nothing in workflow code
imports it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.calendar import Retiming
from activities.projection import Projection
from activities.webhooks import Deliveries
from workflows.calendar_rollout import CalendarRolloutWorkflow
from workflows.case import CaseWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow


def build_worker(client: Client, engine: AsyncEngine, task_queue: str, *, sandboxed: bool = False) -> Worker:
    """A worker for the case workflow and its projection, for the calendar's rollouts that re-time cases, and
    for the webhooks' deliveries.

    Unsandboxed by default. The sandbox re-imports the workflow's module for every run and runs each
    activation and each payload's conversion through ``exec``: about a quarter of the worker's CPU per
    command. What it guards against (a non-deterministic call in workflow code) is guarded otherwise here:
    the workflow's rules are pure functions of their inputs, and every replay — the saved-history tests in
    CI and every audit — runs the workflow inside the sandbox, where such a call fails.
    """
    # Workflow details go into structured fields (``temporal_workflow``), not into the message text.
    workflow.logger.workflow_info_on_message = False
    deliveries = Deliveries(engine)
    projection = Projection(engine)
    retiming = Retiming(engine, client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CaseWorkflow, CalendarRolloutWorkflow, WebhookDeliveryWorkflow],
        activities=[
            projection.project_case,
            retiming.cases_to_retime,
            retiming.retime_cases,
            deliveries.fetch,
            deliveries.deliver,
            deliveries.give_up,
        ],
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
    )
