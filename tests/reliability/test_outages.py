"""Outages of the engine and of the read-model database: open cases and pending timers survive, the
projection catches up, nothing is lost or written twice."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.measure import free_port
from core.devserver import DevServer
from core.tables import CaseEventRecord
from tests.utils.processes import PostgresCluster
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file


async def applied_seqs(stack: Stack, case_id: str) -> list[int]:
    async with AsyncSession(stack.engine) as db:
        rows = (await db.exec(select(CaseEventRecord.seq).where(CaseEventRecord.case_id == case_id))).all()
    return sorted(s for s in rows if s is not None)


async def test_dev_server_restart_keeps_cases_and_timers(database_url: str, tmp_path: Path) -> None:
    server = DevServer(port=free_port(), ui_port=None, db_file=tmp_path / "temporal.db")
    server.start()
    try:
        await server.wait_ready()
        review: dict[str, float] = {"compound": 4, "community": 600, "town": 600}
        days: dict[str, dict[str, float] | float] = {**LONG, "reviewing": review}
        settings: dict[str, Any] = {"sla_file": sla_file(tmp_path, **days), "sla_scale": SECONDS}
        async with Stack(temporal_address=server.address, database_url=database_url, data_dir=tmp_path,
                         **settings) as stack:  # fmt: skip
            headers = await stack.headers("caseworker", "town-a")
            waiting = [(await stack.file(headers))["id"] for _ in range(3)]
            timed = [(await stack.file(headers))["id"] for _ in range(3)]
            for case_id in timed:
                await stack.ok(case_id, "submit", headers)  # a 4 s review deadline starts

            server.stop()  # the engine goes away with timers pending
            await asyncio.sleep(2)
            server.start()
            await server.wait_ready()

            for case_id in timed:  # the timers survived and fired: compound → community
                case = await eventually(partial(stack.case, case_id, headers), lambda c: c["tier"] == "community",
                                        timeout=60)  # fmt: skip
                assert case["stage"] == "reviewing" and case["escalations"][0]["reason"] == "sla_breach"
                assert await applied_seqs(stack, case_id) == [1, 2, 3]
            for case_id in waiting:  # the open cases are all there and take commands
                submitted = await eventually(partial(stack.act, case_id, "submit", headers),
                                             lambda r: r.status_code == 200, timeout=60)  # fmt: skip
                assert submitted.json()["stage"] == "reviewing"
    finally:
        server.stop()


async def test_read_model_database_down_for_20_seconds(temporal_address: str, tmp_path: Path) -> None:
    cluster = PostgresCluster(free_port())
    cluster.create()
    try:
        review: dict[str, float] = {"compound": 3, "community": 600, "town": 600}
        days: dict[str, dict[str, float] | float] = {**LONG, "reviewing": review}
        settings: dict[str, Any] = {"sla_file": sla_file(tmp_path, **days), "sla_scale": SECONDS}
        async with Stack(temporal_address=temporal_address, database_url=cluster.url, data_dir=tmp_path,
                         **settings) as stack:  # fmt: skip
            headers = await stack.headers("caseworker", "town-a")
            escalating = (await stack.file(headers))["id"]
            await stack.ok(escalating, "submit", headers)
            waiting = (await stack.file(headers))["id"]

            cluster.stop()
            down_at = time.monotonic()
            # While it is down the API says so, and changes nothing.
            response = await stack.http.get(f"/v1/cases/{waiting}", headers=headers)
            assert response.status_code == 503 and response.json()["error"] == "unavailable"
            response = await stack.act(waiting, "submit", {**headers, "Idempotency-Key": "submit-while-down"})
            assert response.status_code == 503  # not even the token can be checked: a clear "retry later"
            # Meanwhile the review deadline passes: the workflow escalates and keeps retrying the projection.
            await asyncio.sleep(max(0.0, 20 - (time.monotonic() - down_at)))
            cluster.start()

            case = await eventually(lambda: stack.case(escalating, headers), lambda c: c["tier"] == "community",
                                    timeout=60)  # fmt: skip
            assert case["escalations"][0]["reason"] == "sla_breach"
            assert await applied_seqs(stack, escalating) == [1, 2, 3]
            retry = await eventually(
                lambda: stack.act(waiting, "submit", {**headers, "Idempotency-Key": "submit-while-down"}),
                lambda r: r.status_code != 503, timeout=60,
            )  # fmt: skip
            assert retry.status_code == 200 and retry.json()["stage"] == "reviewing"
            assert await applied_seqs(stack, waiting) == [1, 2]
    finally:
        cluster.remove()
