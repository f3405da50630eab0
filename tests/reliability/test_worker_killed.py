"""`kill -9` the worker while 200 cases are mid-lifecycle: all reach their end, every event exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.tables import CaseEventRecord
from tests.conftest import StackFactory
from tests.utils.driving import HAPPY_PATH, run_happy_path
from tests.utils.processes import WorkerProcess
from tests.utils.stack import LONG, SECONDS, eventually, sla_file

CASES = 200


async def test_kill_9_worker_mid_lifecycle(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(
        sla_file=sla_file(tmp_path, **{**LONG, "announcing": 0.5}), sla_scale=SECONDS, command_timeout=5.0
    )
    await stack.stop_worker()  # the in-process worker: this test needs one it can kill
    worker = WorkerProcess(stack.settings, tmp_path / "worker.log")
    worker.start()
    try:
        headers = await stack.headers("caseworker", "town-a", "综治中心")
        gate = asyncio.Semaphore(20)

        async def file(i: int) -> str:
            async with gate:
                body = {"unit": ("compound-a1x", "compound-a1y", "compound-a2x")[i % 3], "category": "drainage",
                        "title": f"drain {i}", "description": "blocked", "reporter": {"name": "王阿姨"}}  # fmt: skip
                # Retried with its key while the worker is slow to answer (503), like every other command.
                response = await eventually(
                    lambda: stack.http.post("/v1/cases", json=body, headers={**headers, "Idempotency-Key": f"f{i}"}),
                    lambda r: r.status_code != 503,
                    interval=0.5,
                    timeout=120,
                )
                assert response.status_code == 201, response.text
                return str(response.json()["id"])

        case_ids = await asyncio.gather(*(file(i) for i in range(CASES)))
        done: list[int] = []

        async def drive(case_id: str) -> None:
            async with gate:
                await run_happy_path(stack, case_id, headers, done)

        async def kill_midway() -> None:
            while len(done) < CASES * len(HAPPY_PATH) * 0.4:
                await asyncio.sleep(0.05)
            worker.kill()
            await asyncio.sleep(2)
            worker.start()

        await asyncio.gather(kill_midway(), *(drive(c) for c in case_ids))
    finally:
        worker.stop()

    async with AsyncSession(stack.engine) as db:
        rows = (
            await db.exec(
                select(
                    CaseEventRecord.case_id, func.count(), func.min(CaseEventRecord.seq), func.max(CaseEventRecord.seq)
                )
                .where(CaseEventRecord.result == "applied", col(CaseEventRecord.case_id).in_(case_ids))
                .group_by(CaseEventRecord.case_id)
            )
        ).all()
    # file + 7 commands + the objection period's end = 9 events, numbered 1..9, none twice, none missing.
    assert len(rows) == CASES
    assert {(count, low, high) for _, count, low, high in rows} == {(9, 1, 9)}
    listed = (await stack.http.get("/v1/cases?status=closed&limit=200", headers=headers)).json()["items"]
    assert len(listed) == CASES and {c["outcome"] for c in listed} == {"resolved"}
