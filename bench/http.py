"""The benchmarks' HTTP client.

The load generator shares the machine's cores with the linli it measures, so what it burns is taken from
linli. It uses aiohttp: at 32 requests in flight httpx spent 2.3 ms of CPU per request against aiohttp's
0.09 ms (measured on /healthz on the 2-core benchmark machine) — with httpx, a quarter of the machine went
to the client.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

# What a request can fail with short of an HTTP status: the connection, or our own timeout.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


@dataclass(frozen=True)
class Reply:
    status: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.text)


class Http:
    """One connection pool to one linli; requests answer with the status and the whole body."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, connections: int = 100,
                 timeout: float = 120) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.headers = headers or {}
        self.connections = connections
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Http:
        connector = aiohttp.TCPConnector(limit=self.connections)
        self._session = aiohttp.ClientSession(headers=self.headers, connector=connector, timeout=self.timeout)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        assert self._session is not None, "use Http in `async with`"
        query = {k: str(v) for k, v in (params or {}).items()}
        async with self._session.request(method, self.base_url + path, json=json, params=query,
                                         headers=headers) as response:  # fmt: skip
            return Reply(response.status, await response.text())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("POST", path, **kwargs)
