"""``linli audit replay-all``: replay every case on this code and check the read model; the guard an operator
runs before deploying new workflow code. Exits 1 on any non-determinism or mismatch.

Cases come from both sides, so neither can hide one: the read model's cases and Temporal's case workflows
on our task queue (visibility lists runs; a long case's earlier runs are reached through its newest one).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError

from audit.check import CaseHistories, audit_cases
from audit.facts import read_run
from audit.history import HistoryError, HistoryNotFound, fetch_runs
from audit.report import Mismatch, ReplayError, ReplayReport
from core.db import create_engine
from core.settings import Settings
from core.tables import CaseRecord
from core.temporal import connect
from workflows import WORKFLOW_ID_PREFIX, WORKFLOW_TYPE, case_id_of, workflow_id

Status = Literal["open", "closed", "all"]
PREFETCH = 8  # cases whose histories are fetched while earlier ones replay


class CaseResult(BaseModel):
    """One case's line in the report (the full timeline is one `POST /v1/audit/cases/{id}/replay` away)."""

    case_id: str
    workflow_id: str
    status: str | None
    runs: int
    events: int
    deterministic: bool | None
    error: ReplayError | None = None
    matches_read_model: bool | None = None
    mismatches: list[Mismatch] = []
    rejected_commands: int = 0
    history: Literal["replayed", "expired", "missing"] = "replayed"

    @property
    def failed(self) -> bool:
        return self.deterministic is False or self.matches_read_model is False or self.history == "missing"


@dataclass
class Run:
    settings: Settings
    since: datetime | None
    status: Status
    results: list[CaseResult] = field(default_factory=list)


async def replay_all(
    settings: Settings, *, since: datetime | None, status: Status, report: Path, err: TextIO = sys.stderr
) -> int:
    """Replay and reconcile every selected case, write the report, say what was found; 0 only if all is well."""
    run = Run(settings, since, status)
    try:
        client = await connect(settings)
    except RuntimeError as error:  # the SDK's "failed client connect"
        err.write(f"linli: Temporal at {settings.temporal_address} cannot be reached: {error}\n")
        return 2
    engine = create_engine(settings.db_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            selected = await _select_cases(run, db, client)
            progress = Progress(len(selected), err)
            cases = _histories(run, client, db, selected, progress)
            async for report_ in audit_cases(cases, db, data_converter=client.data_converter):
                run.results.append(_result(report_))
                progress.advance(report_.workflow_id)
            progress.done()
    except RPCError as error:
        err.write(f"linli: Temporal at {settings.temporal_address} cannot be read: {error}\n")
        return 2
    except SQLAlchemyError as error:
        err.write(f"linli: the read model cannot be read: {type(error).__name__}\n")
        return 2
    finally:
        await engine.dispose()
    body = _report_json(run)
    report.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    summary = body["summary"]
    sys.stdout.write(
        f"replayed {summary['replayed']} case(s) in {summary['runs']} run(s): {summary['nondeterministic']} "
        f"non-deterministic, {summary['read_model_mismatches']} disagreeing with the read model, "
        f"{summary['missing_history']} missing from Temporal; report: {report}\n"
    )
    return 0 if summary["ok"] else 1


async def _select_cases(run: Run, db: AsyncSession, client: Client) -> list[str]:
    """Case ids from the read model and from Temporal's visibility, filtered alike."""
    query = select(CaseRecord.id)
    if run.status != "all":
        query = query.where(CaseRecord.status == run.status)
    if run.since is not None:
        query = query.where(col(CaseRecord.filed_at) >= run.since)
    ids = set((await db.exec(query)).all())
    visibility = f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{run.settings.task_queue}'"
    visibility += " AND ExecutionStatus != 'ContinuedAsNew'"  # a long case's newest run stands for all of it
    if run.status == "open":
        visibility += " AND ExecutionStatus = 'Running'"
    elif run.status == "closed":
        visibility += " AND ExecutionStatus != 'Running'"
    if run.since is not None:
        # The newest run started at or after the filing, so this never misses a case; the exact filter follows.
        visibility += f" AND StartTime >= '{run.since.isoformat()}'"
    async for execution in client.list_workflows(visibility):
        if execution.id.startswith(WORKFLOW_ID_PREFIX):
            ids.add(case_id_of(execution.id))
    return sorted(ids)


async def _histories(
    run: Run, client: Client, db: AsyncSession, case_ids: list[str], progress: Progress
) -> AsyncIterator[CaseHistories]:
    """Each case's runs, fetched a few cases ahead so that Temporal's answers arrive while others replay."""
    upcoming = iter(case_ids)
    fetching: deque[tuple[str, asyncio.Task[list[WorkflowHistory]]]] = deque()

    def fetch_ahead() -> None:
        while len(fetching) < PREFETCH and (case_id := next(upcoming, None)) is not None:
            fetching.append((case_id, asyncio.create_task(fetch_runs(client, workflow_id(case_id)))))

    try:
        fetch_ahead()
        while fetching:
            case_id, task = fetching.popleft()
            fetch_ahead()
            try:
                runs = await task
            except HistoryNotFound:
                run.results.append(await _without_history(db, case_id))
            except HistoryError as error:
                run.results.append(_unreadable(case_id, str(error)))
            else:
                if run.since is None or _filed_since(runs[0], run.since):
                    yield CaseHistories(workflow_id(case_id), runs)
                    continue
            progress.advance(workflow_id(case_id))
    finally:
        for _, task in fetching:
            task.cancel()


def _filed_since(first_run: WorkflowHistory, since: datetime) -> bool:
    try:
        return read_run(first_run).input.filed.filed_at >= since
    except HistoryError:
        return True  # unreadable: keep it, so the report says so


async def _without_history(db: AsyncSession, case_id: str) -> CaseResult:
    """In the read model but not in Temporal: expected once a closed case passes the namespace's retention;
    for an open case it means the read model holds a case no workflow is running."""
    record = await db.get(CaseRecord, case_id)
    status = record.status if record else None
    return CaseResult(
        case_id=case_id, workflow_id=workflow_id(case_id), status=status, runs=0, events=0, deterministic=None,
        history="expired" if status == "closed" else "missing",
    )  # fmt: skip


def _unreadable(case_id: str, message: str) -> CaseResult:
    error = ReplayError(run_id=None, kind="unreadable_history", message=message)
    return CaseResult(case_id=case_id, workflow_id=workflow_id(case_id), status=None, runs=0, events=0,
                      deterministic=False, error=error)  # fmt: skip


def _result(report: ReplayReport) -> CaseResult:
    final = report.final_state
    return CaseResult(
        case_id=report.case_id,
        workflow_id=report.workflow_id,
        status=final.status if final else None,
        runs=len(report.runs),
        events=final.version if final else 0,
        deterministic=report.deterministic,
        error=report.error,
        matches_read_model=report.matches_read_model,
        mismatches=report.mismatches,
        rejected_commands=len(report.rejected),
    )


def _report_json(run: Run) -> dict[str, Any]:
    results = sorted(run.results, key=lambda r: r.case_id)
    replayed = [r for r in results if r.history == "replayed"]
    summary = {
        "cases": len(results),
        "replayed": len(replayed),
        "runs": sum(r.runs for r in replayed),
        "deterministic": sum(1 for r in replayed if r.deterministic),
        "nondeterministic": sum(1 for r in replayed if r.deterministic is False),
        "read_model_mismatches": sum(1 for r in replayed if r.matches_read_model is False),
        "missing_history": sum(1 for r in results if r.history == "missing"),
        "expired_history": sum(1 for r in results if r.history == "expired"),
        "ok": not any(r.failed for r in results),
    }
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "temporal": {
            "address": run.settings.temporal_address,
            "namespace": run.settings.temporal_namespace,
            "task_queue": run.settings.task_queue,
        },  # fmt: skip
        "filters": {"since": run.since.isoformat() if run.since else None, "status": run.status},
        "summary": summary,
        "cases": [r.model_dump(mode="json") for r in results],
    }


class Progress:
    """A progress bar on stderr; on a pipe or a log, a line at every tenth instead of a redrawn bar."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.count = total, stream, 0
        self.tty = stream.isatty()
        self._step = max(1, total // 10)

    def advance(self, label: str) -> None:
        self.count += 1
        if self.tty:
            filled = self.WIDTH * self.count // max(self.total, 1)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {self.count}/{self.total} {label[:40]:<40}")
        elif self.count % self._step == 0 or self.count == self.total:
            self.stream.write(f"replayed {self.count}/{self.total} cases\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
