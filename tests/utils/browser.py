"""Headless Chromium (Debian's) against the real app served on a loopback port, with no other network."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from bench.measure import free_port
from tests.conftest import IN_CI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network: no background connections, no first-run work, a throwaway profile; every
# host name but the loopback address fails to resolve, so a page can load only what the app serves.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1200,900", "--virtual-time-budget=10000",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--enable-logging=stderr", "--v=1"]  # fmt: skip


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Run Chromium; its stderr carries the page's console (``INFO:CONSOLE`` lines: CSP refusals, failed loads)."""
    if CHROMIUM is None:
        if IN_CI:
            raise RuntimeError("CI=true but Chromium is missing: .ci/run must install Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HOME": str(profile)})  # fmt: skip


def console(run: subprocess.CompletedProcess[str]) -> list[str]:
    """What the page wrote to its console, including the browser's refusals (a CSP violation, a failed load)."""
    return [line for line in run.stderr.splitlines() if ":CONSOLE" in line]


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` (its lifespan already entered) on a free loopback port; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
