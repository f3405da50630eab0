"""Record the audit's saved histories, kept beside the others so CI replays them on every run:

- ``cli_exported.json``: a case exported with the real Temporal CLI (``temporal workflow show -o json``);
- ``continued_as_new/run-N.json``: every run of a long case that continued as new.

    python -m tests.histories.record_audit

Like ``record``, run it only when the workflow's behaviour changes on purpose, and keep the old files.
Like it too, it saves histories decrypted: the CLI's export has its payloads decoded and is written back
in the CLI's own shape (``cli_json``, which the audit tests hold to the CLI byte for byte).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import WorkflowHistory

from audit.history import cli_json, decrypt, fetch_runs
from core.devserver import DevServer
from core.temporal_cli import find_temporal_cli
from tests.utils.long_cases import EarlyContinueAsNewDevServer, long_case
from tests.utils.scenarios import SCENARIOS, scenario_settings
from tests.utils.stack import Stack
from workflows import workflow_id

HERE = Path(__file__).parent
CONTINUED = HERE / "continued_as_new"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def record() -> None:
    targets = [HERE / "cli_exported.json", CONTINUED]
    if existing := [str(t) for t in targets if t.exists()]:
        sys.exit(f"already recorded: {', '.join(existing)}; rename them to keep them, then record again")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        server = DevServer(port=_port(), ui_port=None)
        async with _running(server):
            async with Stack(temporal_address=server.address, database_url=f"sqlite:///{directory / 'a.db'}",
                             data_dir=directory, **scenario_settings(directory)) as stack:  # fmt: skip
                await _export_with_cli(stack, server.address)
        early = EarlyContinueAsNewDevServer(after=60, port=_port(), ui_port=None)
        async with _running(early):
            # Real-world deadlines, so that none passes while the case is driven.
            async with Stack(temporal_address=early.address, database_url=f"sqlite:///{directory / 'b.db'}",
                             data_dir=directory) as stack:  # fmt: skip
                await _record_continued(stack)


@asynccontextmanager
async def _running(server: DevServer) -> AsyncIterator[None]:
    server.start()
    try:
        await server.wait_ready()
        yield
    finally:
        server.stop()


async def _export_with_cli(stack: Stack, address: str) -> None:
    case_id = await SCENARIOS["resolved"](stack)
    shown = subprocess.run(
        [str(find_temporal_cli()), "workflow", "show", "-w", workflow_id(case_id), "--address", address, "-o", "json"],
        capture_output=True, check=True,
    )  # fmt: skip
    exported = WorkflowHistory.from_json(workflow_id(case_id), shown.stdout.decode())
    history = await decrypt(exported, stack.temporal.data_converter)
    (HERE / "cli_exported.json").write_bytes(cli_json(history))
    sys.stdout.write(f"recorded cli_exported: {len(history.events)} events\n")


async def _record_continued(stack: Stack) -> None:
    case_id = await long_case(stack, co_signs=30, objections=10)
    worker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    await stack.ok(case_id, "withdraw", worker, reason="Settled between neighbours")
    runs = await fetch_runs(stack.temporal, workflow_id(case_id))
    CONTINUED.mkdir()
    for number, history in enumerate(runs, start=1):
        (CONTINUED / f"run-{number}.json").write_text(history.to_json())
    sys.stdout.write(f"recorded continued_as_new: {len(runs)} runs\n")


if __name__ == "__main__":
    asyncio.run(record())
