"""Nothing is lost when the worker goes away: commands wait, timers fire late, every event lands once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.tables import CaseEventRecord
from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, eventually, sla_file


async def test_worker_stopped_and_restarted_mid_case(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 2}), sla_scale=SECONDS)
    worker_headers = await stack.headers("caseworker", "town-a")
    cid = (await stack.file(worker_headers))["id"]
    await stack.ok(cid, "submit", worker_headers)

    await stack.stop_worker()
    # A command sent while no worker runs waits for one; the review deadline passes meanwhile.
    pending = asyncio.create_task(stack.act(cid, "co-sign", worker_headers, {"resident": "李大爷"}))
    await asyncio.sleep(3)
    assert not pending.done()
    await stack.start_worker()

    response = await asyncio.wait_for(pending, timeout=30)
    assert response.status_code == 200, response.text
    case = await eventually(lambda: stack.case(cid, worker_headers), lambda c: c["tier"] == "community")
    assert case["co_signers"] == ["李大爷"] and case["escalations"][0]["reason"] == "sla_breach"

    # The case carries on normally under the restarted worker.
    case = await stack.ok(cid, "accept", worker_headers, note="Community takes it")
    assert case["stage"] == "deliberating"
    async with AsyncSession(stack.engine) as db:
        rows = (await db.exec(select(CaseEventRecord).where(CaseEventRecord.case_id == cid))).all()
    seqs = sorted(r.seq for r in rows if r.seq is not None)
    assert seqs == list(range(1, case["version"] + 1))  # every event exactly once, none missing


async def test_no_worker_is_a_503_and_a_retry_with_the_key_applies_once(make_stack: StackFactory) -> None:
    stack = await make_stack(command_timeout=1.0)
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    await stack.stop_worker()
    keyed = {**caseworker, "Idempotency-Key": "co-sign-zhao"}
    response = await stack.act(cid, "co-sign", keyed, {"resident": "赵叔"})
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert "Idempotency-Key" in response.json()["detail"]

    await stack.start_worker()
    # A client retries with the same key until a worker answers (the first may still find none).
    retry = await eventually(
        lambda: stack.act(cid, "co-sign", keyed, {"resident": "赵叔"}), lambda r: r.status_code != 503, interval=0.5
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["co_signers"] == ["赵叔"] and retry.json()["version"] == 2
