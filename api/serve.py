"""Long-running parts: the API, the worker, the dev server, and `linli up` which runs all three.

Each stops cleanly on Ctrl-C or SIGTERM: the API stops taking requests, the worker finishes its tasks,
and the dev server (whose state is persisted in the data dir) is stopped last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Generator
from pathlib import Path

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.worker import Worker

from api.app import create_app
from api.services.tokens import issue_bootstrap_token
from api.services.units import UnitTree, count_units, import_trees
from api.services.webhooks import start_deliveries
from api.worker import build_worker
from core.db import create_engine, upgrade_schema
from core.devserver import DevServer
from core.logging import get_logger
from core.settings import Settings
from core.temporal import connect

log = get_logger("linli.serve")

DEMO_UNITS = Path(__file__).resolve().parent.parent / "deploy" / "demo-units.json"


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides when everything stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def run_until_exit(self) -> None:
        """Serve; a failed startup (uvicorn's SystemExit) just ends the task, with ``started`` False."""
        with contextlib.suppress(SystemExit):
            await self.serve()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _api_server(settings: Settings, host: str, port: int) -> _ApiServer:
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    return _ApiServer(config)


async def _run_until_stopped(stop: asyncio.Event, *tasks: asyncio.Task[object]) -> None:
    """Wait for a stop signal, or for any part to end by itself (which then stops the rest)."""
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    for task in done:
        if task is not stopper and task.exception() is not None:
            log.error("a part of linli stopped with an error", error=repr(task.exception()))


async def serve_api(settings: Settings, host: str, port: int) -> bool:
    """Serve until stopped; False if the server never started (port taken, database unreachable…)."""
    stop = _stop_event()
    server = _api_server(settings, host, port)
    task = asyncio.create_task(server.run_until_exit())
    await _run_until_stopped(stop, task)
    server.should_exit = True
    await task
    return bool(server.started)


async def _worker(settings: Settings, engine: AsyncEngine) -> Worker:
    client = await connect(settings, worker=True)  # with the SDK's metrics on LINLI_METRICS_PORT, if set
    worker = build_worker(client, engine, settings.task_queue, sandboxed=settings.workflow_sandbox)
    await start_deliveries(engine, client, settings.task_queue)  # a subscription's, if it never started
    return worker


async def serve_worker(settings: Settings) -> None:
    stop = _stop_event()
    engine = create_engine(settings.db_url)
    await upgrade_schema(engine)
    worker = await _worker(settings, engine)
    task = asyncio.create_task(worker.run())
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    await _run_until_stopped(stop, task)
    await worker.shutdown()
    await engine.dispose()


async def serve_dev_server(server: DevServer) -> None:
    stop = _stop_event()
    server.start()
    await server.wait_ready()
    log.info("Temporal dev server ready", address=server.address, ui=server.ui_url, db=str(server.db_file))
    await stop.wait()
    server.stop()


async def serve_up(settings: Settings, *, port: int, temporal_port: int, ui_port: int) -> None:
    """`linli up`: dev server, worker and API in the foreground, on the data dir's embedded defaults."""
    stop = _stop_event()
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"temporal_address": f"127.0.0.1:{temporal_port}"})
    with open(data_dir / "temporal.log", "ab") as temporal_log:
        dev_server = DevServer(
            port=temporal_port, ui_port=ui_port, db_file=data_dir / "temporal.db", log=temporal_log,
            binary=settings.temporal_cli,
        )  # fmt: skip
        dev_server.start()
        try:
            await dev_server.wait_ready()
            engine = create_engine(settings.db_url)
            await upgrade_schema(engine)
            if await count_units(engine) == 0:
                await _load_demo_units(engine)
            token = await issue_bootstrap_token(engine)
            worker = await _worker(settings, engine)
            api = _api_server(settings, "127.0.0.1", port)
            tasks = [asyncio.create_task(worker.run()), asyncio.create_task(api.run_until_exit())]
            while not api.started and not tasks[1].done():
                await asyncio.sleep(0.05)
            _print_banner(settings, port, dev_server, token)
            await _run_until_stopped(stop, *tasks)
            api.should_exit = True
            await worker.shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)
            await engine.dispose()
        finally:
            dev_server.stop()


async def _load_demo_units(engine: AsyncEngine) -> None:
    if not DEMO_UNITS.is_file():
        log.warning("no demo units to load; add units with `linli units import FILE`", looked_in=str(DEMO_UNITS))
        return
    trees = [UnitTree.model_validate(t) for t in json.loads(DEMO_UNITS.read_text(encoding="utf-8"))]
    await import_trees(engine, trees)


def _print_banner(settings: Settings, port: int, dev_server: DevServer, token: str) -> None:
    lines = [
        "linli is up.",
        f"  API          http://127.0.0.1:{port}   (docs: http://127.0.0.1:{port}/docs)",
        f"  Temporal UI  {dev_server.ui_url}",
        f"  Temporal     {dev_server.address}   task queue {settings.task_queue}",
        f"  Data         {settings.data_dir}",
        f"  Admin token  {token}",
        "",
        f"  export LINLI_TOKEN={token}",
        f'  curl -H "Authorization: Bearer $LINLI_TOKEN" http://127.0.0.1:{port}/v1/units',
        "Press Ctrl-C to stop.",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
