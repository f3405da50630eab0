"""A real HTTP receiver for webhooks on loopback (uvicorn, in the caller's event loop): it records what it
is sent, answers with whatever status it is set to, and can go down and come back on the same port. The
webhook tests receive with it, and `bench.lifecycle --webhook` subscribes it to every event."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from bench.measure import free_port
from core.webhooks import signature


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def delivery(self) -> str:
        return self.headers["x-linli-delivery"]

    def signed_with(self, secret: str) -> bool:
        return self.headers.get("x-linli-signature") == signature(self.body, secret)


@dataclass
class Receiver:
    """``status`` is what it answers; ``received`` every request that reached it (including refused ones)."""

    port: int = field(default_factory=free_port)
    status: int = 200
    delay: float = 0.0  # seconds before answering: a slow receiver
    received: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/linli"

    def accepted(self) -> list[Received]:
        """What it answered 2xx to, one per delivery id (a receiver dedupes on X-Linli-Delivery)."""
        seen: dict[str, Received] = {}
        for r in self.received:
            if r.headers.get("x-test-answer", "").startswith("2"):
                seen.setdefault(r.delivery, r)
        return list(seen.values())

    def events(self, case_id: str | None = None) -> list[str]:
        return [r.json["event"] for r in self.accepted() if case_id is None or r.json["case"]["id"] == case_id]

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.status
        headers["x-test-answer"] = str(status)
        self.received.append(Received(headers=headers, body=body))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", interface="asgi3"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Down: the port refuses connections until ``start`` again."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def __aenter__(self) -> Receiver:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
