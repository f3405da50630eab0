"""Whole cases driven by HTTP, shared by the replay tests and the script that records saved histories.

Each takes a stack built with ``SCENARIO_SLA`` and returns the case id when the case has reached the end
the scenario is about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file, walk


def scenario_settings(directory: Path) -> dict[str, Any]:
    """Short windows and a short review deadline (seconds); everything else long."""
    return {"sla_file": sla_file(directory, **{**LONG, "announcing": 1, "reviewing": 1}), "sla_scale": SECONDS}


async def resolved(stack: Stack) -> str:
    """Every stage, one co-sign, progress, a satisfied visit."""
    worker = await stack.headers("caseworker", "community-a1", "社区两委")
    cid: str = (await stack.file(worker))["id"]
    await stack.ok(cid, "co-sign", worker, resident="李大爷")
    await walk(stack, worker, cid, "implementing")
    await stack.ok(cid, "report-progress", worker, note="Half done", percent=50)
    await stack.ok(cid, "complete", worker, summary="Done", evidence=["after.jpg"])
    await stack.ok(cid, "record-visit", worker, satisfaction="satisfied")
    return cid


async def escalated_to_overdue(stack: Stack) -> str:
    """Nobody reviews it: compound → community → town → overdue; then a supervisor extends and rejects."""
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    cid: str = (await stack.file(supervisor))["id"]
    await stack.ok(cid, "submit", supervisor)
    await eventually(lambda: stack.case(cid, supervisor), lambda c: c["overdue"])
    await stack.ok(cid, "extend-deadline", supervisor, days=30, reason="Waiting for the water company")
    await stack.ok(cid, "reject", supervisor, explanation="The pipe belongs to the water company; referred.")
    return cid


async def objected_and_revisited(stack: Stack) -> str:
    """Three objections reopen deliberation; two unsatisfied visits reopen and then escalate."""
    worker = await stack.headers("caseworker", "town-a", "镇干部")
    cid: str = (await stack.file(worker))["id"]
    await walk(stack, worker, cid, "announcing")
    for name in ("张三", "李四", "王五"):
        await stack.ok(cid, "object", worker, resident=name, reason="Blocks the fire lane")
    await eventually(lambda: stack.case(cid, worker), lambda c: c["stage"] == "deliberating")
    await stack.ok(cid, "decide", worker, decision="Paint lines elsewhere", assignee="物业")
    await eventually(lambda: stack.case(cid, worker), lambda c: c["stage"] == "implementing")
    await stack.ok(cid, "complete", worker, summary="Painted")
    await stack.ok(cid, "record-visit", worker, satisfaction="unsatisfied")
    await stack.ok(cid, "complete", worker, summary="Repainted")
    await stack.ok(cid, "record-visit", worker, satisfaction="unsatisfied")
    await stack.ok(cid, "escalate", worker, note="Town takes over")
    await stack.ok(cid, "complete", worker, summary="Town repainted")
    await stack.ok(cid, "record-visit", worker, satisfaction="basically_satisfied")
    return cid


async def withdrawn_after_merge(stack: Stack) -> str:
    worker = await stack.headers("caseworker", "compound-a1x")
    first: str = (await stack.file(worker))["id"]
    second = (await stack.file(worker))["id"]
    await stack.ok(second, "merge", worker, into=first)
    await stack.ok(first, "withdraw", worker, reason="Fixed by the residents themselves")
    return first


SCENARIOS: dict[str, Callable[[Stack], Awaitable[str]]] = {
    "resolved": resolved,
    "escalated_to_overdue": escalated_to_overdue,
    "objected_and_revisited": objected_and_revisited,
    "withdrawn_after_merge": withdrawn_after_merge,
}
