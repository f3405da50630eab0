"""Many requests at once: one filing per key, and each concurrent command applied once or refused with 409."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.tables import CaseEventRecord, CaseFiling
from tests.utils.stack import Stack


async def test_one_idempotency_key_sent_20_times_at_once_files_one_case(stack: Stack) -> None:
    headers = {**(await stack.headers("caseworker", "compound-a1x")), "Idempotency-Key": "wall-2026-11-21-7"}
    body = {"unit": "compound-a1x", "category": "parking", "title": "Cars on the green", "description": "Every night",
            "reporter": {"name": "孙阿姨"}, "channel": "say_it_wall"}  # fmt: skip
    responses = await asyncio.gather(*(stack.http.post("/v1/cases", json=body, headers=headers) for _ in range(20)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    async with AsyncSession(stack.engine) as db:
        assert len((await db.exec(select(CaseFiling))).all()) == 1
    workflows = [w async for w in stack.temporal.list_workflows(f"TaskQueue = '{stack.settings.task_queue}'")]
    assert len(workflows) == 1


async def test_20_concurrent_commands_each_applied_once_or_refused(stack: Stack) -> None:
    headers = await stack.headers("caseworker", "compound-a1x")
    case_id = (await stack.file(headers))["id"]
    # 12 different neighbours back the case, 8 of them twice, all at the same moment.
    residents = [f"居民{i}" for i in range(12)] + [f"居民{i}" for i in range(8)]
    responses = await asyncio.gather(
        *(stack.act(case_id, "co-sign", headers, {"resident": name}) for name in residents)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 12 + [409] * 8, codes
    assert all("already co-signed" in r.json()["detail"] for r in responses if r.status_code == 409)
    case = await stack.case(case_id, headers)
    assert sorted(case["co_signers"]) == sorted(set(residents)) and case["version"] == 13
    async with AsyncSession(stack.engine) as db:
        events = (await db.exec(select(CaseEventRecord).where(col(CaseEventRecord.case_id) == case_id))).all()
    applied = sorted(e.seq for e in events if e.result == "applied" and e.seq is not None)
    assert applied == list(range(1, 14))
    assert sum(e.result == "rejected" for e in events) == 8
