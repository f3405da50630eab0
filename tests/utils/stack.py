"""A running linli for tests: the real app over httpx, a real worker, a real database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from api.services.tokens import issue_token
from api.services.units import UnitTree, import_trees
from api.worker import build_worker
from core.db import create_engine, upgrade_schema
from core.settings import Settings
from core.temporal import data_converter

# town-a › community-a1 › compound-a1x, compound-a1y ; community-a2 › compound-a2x
# town-b › community-b1 › compound-b1x
UNITS = [
    {"code": "town-a", "name": "昌宁镇", "kind": "town", "children": [
        {"code": "community-a1", "name": "营里社区", "kind": "community", "children": [
            {"code": "compound-a1x", "name": "云台府小区", "kind": "compound"},
            {"code": "compound-a1y", "name": "惠民小区", "kind": "compound"},
        ]},
        {"code": "community-a2", "name": "南环社区", "kind": "community", "children": [
            {"code": "compound-a2x", "name": "实成小区", "kind": "compound"},
        ]},
    ]},
    {"code": "town-b", "name": "龙泉街道", "kind": "town", "children": [
        {"code": "community-b1", "name": "公园路社区", "kind": "community", "children": [
            {"code": "compound-b1x", "name": "长钢小区", "kind": "compound"},
        ]},
    ]},
]  # fmt: skip


class Stack:
    def __init__(self, *, temporal_address: str, database_url: str, data_dir: Path, **overrides: Any) -> None:
        self.settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            temporal_address=temporal_address,
            task_queue=f"linli-test-{uuid.uuid4().hex[:8]}",
            **{"token_cache_seconds": 1.0, **overrides},  # revocation tests need not wait the default 5 s
        )
        self.app = create_app(self.settings)
        self.worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Stack:
        self.engine = create_engine(self.settings.db_url)
        await upgrade_schema(self.engine)
        await import_trees(self.engine, [UnitTree.model_validate(u) for u in UNITS])
        converter = data_converter(self.settings)  # the API's and the worker's: payloads encrypted
        self.temporal = await Client.connect(self.settings.temporal_address, data_converter=converter)
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://linli")
        await self.start_worker()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_worker()
        await self.http.aclose()
        await self._lifespan.__aexit__(None, None, None)
        await self.engine.dispose()

    async def start_worker(self) -> None:
        self.worker = build_worker(
            self.temporal, self.engine, self.settings.task_queue, sandboxed=self.settings.workflow_sandbox
        )
        self._worker_task = asyncio.create_task(self.worker.run())

    async def stop_worker(self) -> None:
        if self.worker is not None:
            await self.worker.shutdown()
            assert self._worker_task is not None
            await self._worker_task
            self.worker = None

    async def headers(self, role: str, unit: str | None = None, name: str | None = None) -> dict[str, str]:
        token, _ = await issue_token(self.engine, role=role, name=name or f"{role}-{unit}", unit=unit)
        return {"Authorization": f"Bearer {token}"}

    async def file(self, headers: dict[str, str], unit: str = "compound-a1x", **fields: Any) -> dict[str, Any]:
        body = {
            "unit": unit,
            "category": "drainage",
            "title": "Blocked drain behind building 3",
            "description": "Water stands for days after rain.",
            "reporter": {"name": "王阿姨", "phone": "13800138000"},
            **fields,
        }
        response = await self.http.post("/v1/cases", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def act(
        self, case_id: str, action: str, headers: dict[str, str], body: dict[str, Any] | None = None, **kw: Any
    ) -> httpx.Response:
        return await self.http.post(f"/v1/cases/{case_id}/actions/{action}", json=body or {}, headers=headers, **kw)

    async def ok(self, case_id: str, action: str, headers: dict[str, str], **body: Any) -> dict[str, Any]:
        response = await self.act(case_id, action, headers, body)
        assert response.status_code == 200, f"{action}: {response.status_code} {response.text}"
        return response.json()  # type: ignore[no-any-return]

    async def case(self, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.http.get(f"/v1/cases/{case_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


async def eventually(
    read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout: float = 30.0, interval: float = 0.1
) -> Any:
    """Poll ``read`` until ``check`` holds for its result (for things timers make true later)."""
    deadline = time.monotonic() + timeout
    value = await read()
    while not check(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await read()
    return value


def sla_file(directory: Path, extra: dict[str, Any] | None = None, /, **days: dict[str, float] | float) -> Path:
    """A policy file; with ``sla_scale=SECONDS`` a "day" lasts one second, so values read as seconds.

    ``stage=number`` sets all three tiers; ``stage={"compound": n, ...}`` sets some. ``extra``: other policy
    settings (``{"claim": "2d", "yellow_card_after": "3d"}``); the claim deadline and the cards are long
    unless given, so that a test of something else at ``SECONDS`` is not urged or carded meanwhile, and
    deadline warnings are off unless ``warn_before`` is given, so that its events are the ones it expects.
    """
    import json

    tiers = ("compound", "community", "town")
    table = {s: (v if isinstance(v, dict) else dict.fromkeys(tiers, v)) for s, v in days.items()}
    path = directory / f"sla-{uuid.uuid4().hex[:6]}.json"
    quiet = {"claim": "600d", "yellow_card_after": "600d", "red_card_after": "600d", "warn_before": "off"}
    path.write_text(json.dumps({"name": "test", "days": table, **quiet, **(extra or {})}))
    return path


SECONDS = 1 / 86_400  # sla_scale under which one policy "day" is one second

# Long everywhere: a test shortens only the stage it is about.
LONG = dict.fromkeys(("collecting", "reviewing", "deliberating", "announcing", "implementing", "follow_up"), 600.0)


async def walk(stack: Stack, headers: dict[str, str], case_id: str, to: str) -> dict[str, Any]:
    """Drive a case forward from collecting to ``to`` by the ordinary path (announcing ends by its timer)."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("submit", {}),
        ("accept", {"note": "Within the compound's reach"}),
        ("record-meeting", {"held_at": "2026-11-20T19:30:00+08:00", "participants": ["党支部", "业委会", "物业"],
                            "minutes": "Options discussed; agreed."}),
        ("decide", {"decision": "The property company fixes it", "assignee": "物业"}),
    ]  # fmt: skip
    stops = {"reviewing": 1, "deliberating": 2, "announcing": 4, "implementing": 4, "follow_up": 4}
    case: dict[str, Any] = {}
    for action, body in steps[: stops[to]]:
        case = await stack.ok(case_id, action, headers, **body)
    if to in ("implementing", "follow_up"):
        case = await eventually(lambda: stack.case(case_id, headers), lambda c: c["stage"] == "implementing")
    if to == "follow_up":
        case = await stack.ok(case_id, "complete", headers, summary="Drain dredged", evidence=["photo-1.jpg"])
    assert case["stage"] == to, case
    return case
