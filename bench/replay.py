"""Replay throughput: histories per second through the audit against the bare SDK Replayer, in one run.

    python -m bench.replay [--copies 20] [--rounds 3]

The histories are the saved ones the tests replay (tests/histories: single-run cases, one exported with the
Temporal CLI, and a long case's chain of runs), each cloned ``--copies`` times under fresh run ids. Timed
over the same histories, alternating, best of ``--rounds``:

- ``sdk_replayer``: ``Replayer.replay_workflows`` with the worker's workflow and data converter, nothing else;
- ``audit``: our path without a database: replay with capture, the history's own checks, the timeline;
- ``audit_with_read_model``: the same plus reconciliation against a SQLite read model holding every case.

Prints one JSON object; ``ratio`` is runs per second relative to the bare Replayer (target ≥ 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import temporalio
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from audit.check import CaseHistories, audit_cases
from audit.report import ReplayReport
from core.codec import Keyring
from core.db import create_engine
from core.rows import case_row, escalation_row, event_row
from core.tables import CaseEscalationRecord, CaseEventRecord, CaseRecord
from core.temporal import converter_for
from workflows.case import CaseWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"
TARGET_RATIO = 0.8
# The worker's converter (payloads encrypted); the saved histories are plaintext, which it reads as they are.
CONVERTER = converter_for(Keyring.generate())


def saved_cases() -> list[CaseHistories]:
    """Every saved case: each top-level file is one run; the continued_as_new directory is one case."""
    cases = [_case([path]) for path in sorted(HISTORIES.glob("*.json"))]
    chain = sorted((HISTORIES / "continued_as_new").glob("run-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return [*cases, _case(chain)] if chain else cases


def _case(paths: list[Path]) -> CaseHistories:
    first = json.loads(paths[0].read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
    workflow_id = str(first["workflowId"])
    return CaseHistories(workflow_id, [WorkflowHistory.from_json(workflow_id, p.read_text()) for p in paths])


def clone(case: CaseHistories) -> CaseHistories:
    """The same case under fresh run ids, links between its runs kept."""
    new_ids = {run.run_id: str(uuid.uuid4()) for run in case.runs}
    runs = []
    for run in case.runs:
        history = History(events=run.events)
        copy = History()
        copy.CopyFrom(history)
        started = copy.events[0].workflow_execution_started_event_attributes
        started.original_execution_run_id = new_ids[run.run_id]
        started.first_execution_run_id = new_ids.get(started.first_execution_run_id, started.first_execution_run_id)
        if started.continued_execution_run_id:
            started.continued_execution_run_id = new_ids[started.continued_execution_run_id]
        last = copy.events[-1]
        if last.HasField("workflow_execution_continued_as_new_event_attributes"):
            continued = last.workflow_execution_continued_as_new_event_attributes
            continued.new_execution_run_id = new_ids[continued.new_execution_run_id]
        runs.append(WorkflowHistory(case.workflow_id, list(copy.events)))
    return CaseHistories(case.workflow_id, runs)


async def sdk_replayer(cases: list[CaseHistories]) -> None:
    async def histories() -> AsyncIterator[WorkflowHistory]:
        for case in cases:
            for run in case.runs:
                yield run

    results = await Replayer(workflows=[CaseWorkflow], data_converter=CONVERTER).replay_workflows(
        histories(), raise_on_replay_failure=False
    )
    assert not results.replay_failures, results.replay_failures


async def audit(cases: list[CaseHistories], db: AsyncSession | None = None) -> list[ReplayReport]:
    async def stream() -> AsyncIterator[CaseHistories]:
        for case in cases:
            yield case

    reports = [report async for report in audit_cases(stream(), db, data_converter=CONVERTER)]
    assert all(r.deterministic for r in reports), [r.error for r in reports if r.error]
    return reports


async def project(engine: AsyncEngine, reports: list[ReplayReport], cases: list[CaseHistories]) -> None:
    """A read model holding each case as the projection would have written it."""
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    from audit.facts import read_run

    async with AsyncSession(engine) as db:
        for report, case in zip(reports, cases, strict=True):
            assert report.final_state is not None
            filed = read_run(case.runs[0]).input.filed
            # The report masks the reporter's phone; the read model holds it as filed.
            final = report.final_state.model_copy(update={"reporter": filed.reporter})
            db.add(CaseRecord.model_validate(case_row(final, filed.units)))
            for entry in report.timeline:
                if entry.seq is None:
                    continue
                event = _event(report, entry.seq)
                db.add(CaseEventRecord.model_validate(event_row(report.case_id, event)))
                if event.from_tier != event.to_tier:
                    db.add(CaseEscalationRecord.model_validate(escalation_row(report.case_id, filed.units, event)))
        await db.commit()


def _event(report: ReplayReport, seq: int) -> Any:
    """The case event behind a timeline entry, rebuilt from the entry (what the projection was given)."""
    from workflows.model import CaseEvent

    entry = next(e for e in report.timeline if e.seq == seq)
    return CaseEvent(seq=seq, at=entry.at, action=entry.action, actor=entry.actor, from_stage=entry.from_stage,
                     to_stage=entry.to_stage, from_tier=entry.from_tier, to_tier=entry.to_tier,
                     detail=entry.detail)  # fmt: skip


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def main(copies: int, rounds: int) -> dict[str, Any]:
    originals = saved_cases()
    cases = [clone(case) for _ in range(copies) for case in originals]
    runs = sum(len(c.runs) for c in cases)
    events = sum(len(r.events) for c in cases for r in c.runs)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'read-model.db'}")
        try:
            await project(engine, await audit(originals), originals)  # also warms up the audit path
            await sdk_replayer(originals)
            async with AsyncSession(engine) as db:
                paths: dict[str, Callable[[], Awaitable[Any]]] = {
                    "sdk_replayer": lambda: sdk_replayer(cases),
                    "audit": lambda: audit(cases),
                    "audit_with_read_model": lambda: audit(cases, db),
                }
                best = dict.fromkeys(paths, float("inf"))
                for round_ in range(rounds):
                    # Alternate the order, so a busy neighbour or a warm cache favours no path.
                    for name in list(paths) if round_ % 2 == 0 else reversed(list(paths)):
                        best[name] = min(best[name], await timed(paths[name]))
        finally:
            await engine.dispose()
    base = runs / best["sdk_replayer"]
    figures = {name: {"seconds": round(s, 3), "runs_per_second": round(runs / s, 1),
                      "ratio": round(runs / s / base, 3)} for name, s in best.items()}  # fmt: skip
    return {
        "benchmark": "replay",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "temporalio": temporalio.__version__},
        "histories": {"cases": len(cases), "runs": runs, "events": events, "copies": copies, "rounds": rounds},
        **figures,
        "target_ratio": TARGET_RATIO,
        "meets_target": figures["audit"]["ratio"] >= TARGET_RATIO,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=20, help="clones of each saved case (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best counts (default 3)")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(main(args.copies, args.rounds)), indent=2) + "\n")
