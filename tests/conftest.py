"""Fixtures: a real Temporal dev server for the session, a real database (SQLite, and PostgreSQL when
LINLI_TEST_POSTGRES_URL is set; in CI it must be) and a linli stack per test: an in-process worker on its
own task queue and the real FastAPI app, talked to over httpx."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bench.measure import free_port
from core.devserver import DevServer
from tests.utils.stack import Stack

POSTGRES_URL = os.environ.get("LINLI_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    """One dev server for the whole run (in memory, no UI); every test uses its own task queue."""
    if existing := os.environ.get("LINLI_TEST_TEMPORAL_ADDRESS"):
        yield existing
        return
    yield from serving(DevServer(port=free_port(), ui_port=None))


def serving(server: DevServer) -> Iterator[str]:
    """Start ``server``, yield its address once it answers, stop it afterwards (for session/module fixtures)."""
    server.start()
    try:
        asyncio.run(server.wait_ready(timeout=90))
        yield server.address
    finally:
        server.stop()


def _database_params() -> list[str]:
    if POSTGRES_URL is None and IN_CI:
        raise RuntimeError("CI=true but LINLI_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL")
    return ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'linli.db'}"
        return
    yield from _fresh_postgres_database(POSTGRES_URL or "")


def _fresh_postgres_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"linli_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(temporal_address: str, database_url: str, tmp_path: Path) -> AsyncIterator[StackFactory]:
    """Build a running linli (worker + API) with the given settings; torn down after the test."""
    async with AsyncExitStack() as exits:

        async def build(**settings: object) -> Stack:
            stack = Stack(temporal_address=temporal_address, database_url=database_url, data_dir=tmp_path, **settings)
            await exits.enter_async_context(stack)
            return stack

        yield build


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    """linli with real-world SLAs (days): no timer fires during a test."""
    return await make_stack()
