"""Driving cases the way a careful client does: every command carries an Idempotency-Key and is retried
with the same key while the system answers 503 (a worker, the engine or the database is away)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.lifecycle import COMMANDS
from tests.utils.stack import Stack
from workflows import workflow_id
from workflows.case import CaseWorkflow

# The same eight commands the lifecycle benchmark drives: file, then these seven.
HAPPY_PATH = COMMANDS


async def send(
    stack: Stack, case_id: str, action: str, headers: dict[str, str], body: dict[str, Any], key: str,
    timeout: float = 120.0,
) -> httpx.Response:  # fmt: skip
    """POST one command until it gets a definite answer (not 503), with the same key every time."""
    deadline = time.monotonic() + timeout
    while True:
        response = await stack.act(case_id, action, {**headers, "Idempotency-Key": key}, body)
        if response.status_code != 503:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"{action} on {case_id}: still 503 after {timeout}s: {response.text}")
        await asyncio.sleep(0.5)


async def wait_for_stage(
    stack: Stack, case_id: str, headers: dict[str, str], stage: str, timeout: float = 120.0
) -> None:
    """Until both the read model and the workflow itself are at ``stage``.

    They can disagree for a moment after a worker dies: the dead worker's last task may have projected a
    timer's transition that the retried task has not applied yet (it handles a waiting command first).
    """
    handle = stack.temporal.get_workflow_handle(workflow_id(case_id))
    deadline = time.monotonic() + timeout
    while True:
        response = await stack.http.get(f"/v1/cases/{case_id}", headers=headers)
        if response.status_code == 200 and response.json()["stage"] == stage:
            live = await handle.query(CaseWorkflow.view)
            if live.stage == stage:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{case_id} did not reach {stage} in {timeout}s: {response.text}")
        await asyncio.sleep(0.3)


async def run_happy_path(stack: Stack, case_id: str, headers: dict[str, str], done: list[int]) -> None:
    """Submit → … → a satisfied visit; waits out the objection period between decide and progress."""
    for action, body in HAPPY_PATH:
        if action == "report-progress":
            await wait_for_stage(stack, case_id, headers, "implementing")
        response = await send(stack, case_id, action, headers, body, key=f"{case_id}:{action}")
        assert response.status_code == 200, f"{action} on {case_id}: {response.status_code} {response.text}"
        done.append(1)
