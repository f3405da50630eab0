"""The replay guard: saved histories (one exported with the Temporal CLI, one long case's chain of runs)
replay through the audit on every CI run; a change made with ``workflow.patched`` keeps them replaying,
the same change made outright does not; and `linli audit replay-all` says so with its exit status."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowHistory
from temporalio.worker import Worker

from activities.projection import Projection
from audit.check import CaseHistories, audit_case
from audit.history import fetch_run
from core.codec import Keyring
from core.tables import CaseRecord
from core.temporal import converter_for
from tests.conftest import StackFactory
from tests.utils.stack import Stack
from tests.utils.variants import AlteredCase, PatchedCase, RetitledCase
from workflows import workflow_id
from workflows.case import CaseWorkflow

HISTORIES = Path(__file__).parent / "histories"
SAVED = sorted(HISTORIES.glob("*.json"))
CONTINUED = sorted((HISTORIES / "continued_as_new").glob("run-*.json"), key=lambda p: int(p.stem.split("-")[1]))
CONVERTER = converter_for(Keyring.generate())  # the saved histories are plaintext: any keys read them


def recorded_id(path: Path) -> str:
    """The workflow id the history was recorded under (its first event names it)."""
    started = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
    return str(started["workflowId"])


def saved(path: Path) -> CaseHistories:
    history = WorkflowHistory.from_json(recorded_id(path), path.read_text())
    return CaseHistories(history.workflow_id, [history], complete=False)


def continued(runs: list[Path] = CONTINUED, *, complete: bool = True) -> CaseHistories:
    case_workflow = recorded_id(runs[0])
    return CaseHistories(case_workflow, [WorkflowHistory.from_json(case_workflow, p.read_text()) for p in runs],
                         complete=complete)  # fmt: skip


def test_the_saved_histories_include_a_cli_export_and_a_continued_case() -> None:
    assert "cli_exported" in [p.stem for p in SAVED] and len(SAVED) >= 5
    assert len(CONTINUED) >= 3


async def test_saved_histories_replay_through_the_audit_api(stack: Stack) -> None:
    auditor = await stack.headers("auditor", None, "纪检监察组")
    for path in SAVED:
        body = {"workflow_id": recorded_id(path), "history": json.loads(path.read_text())}
        response = await stack.http.post("/v1/audit/replay", json=body, headers=auditor)
        assert response.status_code == 200, (path.name, response.text)
        report = response.json()
        assert report["deterministic"] is True, (path.name, report["error"])
        final = report["final_state"]
        # Most end closed; the clock's scenarios stop with the case still open (its workflow running).
        ended = report["runs"][0]["status"] == "completed"
        assert final["status"] == ("closed" if ended else "open") and report["runs"][0]["status"] in (
            "completed",
            "running",
        )
        assert [e["seq"] for e in report["timeline"]] == list(range(1, final["version"] + 1)), path.name
        assert report["matches_read_model"] is None  # this read model never had these cases


async def test_a_continued_case_replays_across_all_its_runs() -> None:
    report = await audit_case(continued(), None, data_converter=CONVERTER)
    assert report.deterministic, report.error
    assert [r.status for r in report.runs] == ["continued_as_new"] * (len(CONTINUED) - 1) + ["completed"]
    for before, after in zip(report.runs, report.runs[1:], strict=False):
        assert before.continued_as == after.run_id and after.continued_from == before.run_id
        assert before.last_seq is not None and after.first_seq == before.last_seq + 1
    final = report.final_state
    assert final is not None and final.outcome == "withdrawn"
    assert len(final.co_signers) == 30 and len(final.objections) == 10
    seqs = [e.seq for e in report.timeline if e.seq is not None]
    assert seqs == list(range(1, final.version + 1))
    assert [e.action for e in report.timeline if e.kind == "run"] == ["continued-as-new"] * (len(CONTINUED) - 1)

    # The newest run alone (as one would upload it) still replays, from the case it was handed.
    last = await audit_case(continued(CONTINUED[-1:], complete=False), None, data_converter=CONVERTER)
    assert last.deterministic and last.final_state == final
    assert last.timeline[0].seq == last.runs[0].first_seq == report.runs[-1].first_seq


async def test_a_broken_chain_of_runs_is_reported() -> None:
    gap = await audit_case(continued(CONTINUED[:1] + CONTINUED[2:]), None, data_converter=CONVERTER)
    assert not gap.deterministic and gap.error is not None and gap.error.kind == "chain_broken"
    headless = await audit_case(continued(CONTINUED[1:]), None, data_converter=CONVERTER)
    assert headless.error is not None and headless.error.kind == "chain_broken"
    assert "missing" in headless.error.message


@pytest.mark.parametrize("path", [*SAVED, HISTORIES / "continued_as_new"], ids=lambda p: p.stem)
async def test_a_patched_change_keeps_old_histories_replaying(path: Path) -> None:
    case = continued() if path.is_dir() else saved(path)
    patched = await audit_case(case, None, [PatchedCase], data_converter=CONVERTER)
    assert patched.deterministic, patched.error
    outright = await audit_case(case, None, [AlteredCase], data_converter=CONVERTER)
    assert not outright.deterministic and outright.error is not None
    assert outright.error.kind == "nondeterminism" and "Nondeterminism" in outright.error.message


async def test_new_cases_take_the_patched_path(stack: Stack) -> None:
    await stack.stop_worker()
    patched = Worker(stack.temporal, task_queue=stack.settings.task_queue, workflows=[PatchedCase],
                     activities=[Projection(stack.engine).project_case])  # fmt: skip
    async with patched:
        worker = await stack.headers("caseworker", "compound-a1x")
        case_id = (await stack.file(worker))["id"]
        await stack.ok(case_id, "submit", worker)
    case = CaseHistories(workflow_id(case_id), [await fetch_run(stack.temporal, workflow_id(case_id))])
    converter = stack.temporal.data_converter
    assert (await audit_case(case, None, [PatchedCase], data_converter=converter)).deterministic
    # Code from before the change cannot replay it: proof the new branch really ran for this case.
    assert (await audit_case(case, None, [CaseWorkflow], data_converter=converter)).error is not None


@pytest.mark.parametrize("path", SAVED[:2], ids=lambda p: p.stem)
async def test_same_commands_but_a_different_case_is_caught(path: Path) -> None:
    report = await audit_case(saved(path), None, [RetitledCase], data_converter=CONVERTER)
    assert not report.deterministic and report.error is not None and report.error.kind == "result_differs"
    assert "title" in report.error.message


def replay_all(stack: Stack, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    env = {**os.environ, "LINLI_DATA_DIR": str(tmp_path), "LINLI_DATABASE_URL": stack.settings.db_url,
           "LINLI_TEMPORAL_ADDRESS": stack.settings.temporal_address, "LINLI_TASK_QUEUE": stack.settings.task_queue,
           "LINLI_LOG_LEVEL": "WARNING"}  # fmt: skip
    command = [sys.executable, "-m", "api.cli", "audit", "replay-all", "--report", str(report), *args]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    return run, (json.loads(report.read_text()) if report.exists() else {})


async def test_replay_all_guards_a_deployment(stack: Stack, tmp_path: Path) -> None:
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    closed = (await stack.file(worker))["id"]
    await stack.ok(closed, "withdraw", worker, reason="Fixed by the residents themselves")
    still_open = (await stack.file(worker))["id"]
    await stack.ok(still_open, "co-sign", worker, resident="李大爷")

    run, report = await asyncio.to_thread(replay_all, stack, tmp_path)
    assert run.returncode == 0, run.stderr
    assert report["summary"] | {"cases": 2, "replayed": 2, "nondeterministic": 0, "ok": True} == report["summary"]
    assert {c["case_id"]: c["status"] for c in report["cases"]} == {closed: "closed", still_open: "open"}
    assert "replayed 2 case(s)" in run.stdout and "replayed 2/2 cases" in run.stderr  # summary, progress

    run, report = await asyncio.to_thread(replay_all, stack, tmp_path, "--status", "open")
    assert run.returncode == 0 and [c["case_id"] for c in report["cases"]] == [still_open]
    run, report = await asyncio.to_thread(replay_all, stack, tmp_path, "--since", "2999-01-01")
    assert run.returncode == 0 and report["cases"] == []

    async with stack.engine.begin() as db:
        await db.execute(update(CaseRecord).where(col(CaseRecord.id) == closed).values(outcome="resolved"))
    run, report = await asyncio.to_thread(replay_all, stack, tmp_path)
    assert run.returncode == 1 and report["summary"]["ok"] is False
    assert report["summary"]["read_model_mismatches"] == 1
    tampered = next(c for c in report["cases"] if c["case_id"] == closed)
    assert [(m["field"], m["history"], m["read_model"]) for m in tampered["mismatches"]] == [
        ("outcome", "withdrawn", "resolved")
    ]

    bad = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "api.cli", "audit", "replay-all", "--since",
                                                   "last tuesday"], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "not a date" in bad.stderr


async def test_replay_all_finds_non_determinism(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack()
    await stack.stop_worker()
    altered = Worker(stack.temporal, task_queue=stack.settings.task_queue, workflows=[AlteredCase],
                     activities=[Projection(stack.engine).project_case])  # fmt: skip
    async with altered:
        case_id = (await stack.file(await stack.headers("caseworker", "compound-a1x")))["id"]
    run, report = await asyncio.to_thread(replay_all, stack, tmp_path)
    assert run.returncode == 1 and report["summary"]["nondeterministic"] == 1
    assert report["cases"][0]["case_id"] == case_id and report["cases"][0]["error"]["kind"] == "nondeterminism"


async def test_the_replay_benchmark_runs_and_reports() -> None:
    from bench import replay as bench

    figures = await bench.main(copies=1, rounds=1)
    assert figures["histories"]["runs"] == len(SAVED) + len(CONTINUED)
    for path in ("sdk_replayer", "audit", "audit_with_read_model"):
        assert figures[path]["runs_per_second"] > 0 and figures[path]["ratio"] > 0, path  # figures, not timings


async def test_replay_all_tells_expired_histories_from_missing_ones(stack: Stack, tmp_path: Path) -> None:
    real = (await stack.file(await stack.headers("caseworker", "compound-a1x")))["id"]
    async with AsyncSession(stack.engine) as db:
        row = await db.get(CaseRecord, real)
        assert row is not None
        # Cases the read model has and Temporal does not: a closed one past retention, an open one lost.
        for case_id, status in (("gone0000closed", "closed"), ("gone00000open", "open")):
            db.add(CaseRecord.model_validate({**row.model_dump(), "id": case_id, "status": status}))
        await db.commit()
    run, report = await asyncio.to_thread(replay_all, stack, tmp_path)
    assert run.returncode == 1 and report["summary"]["missing_history"] == 1
    assert report["summary"]["expired_history"] == 1 and report["summary"]["replayed"] == 1
    assert {c["case_id"]: c["history"] for c in report["cases"]} == {
        "gone0000closed": "expired", "gone00000open": "missing", real: "replayed",
    }  # fmt: skip
