"""Record the saved histories the replay test keeps CI honest with.

    python -m tests.histories.record

Records only the scenarios (and the webhook delivery runs, under webhooks/) that have no saved history yet:
the old files stay as they are, so cases already running under the old code are still proven to replay. To
record one again on purpose, rename its old file first (keep it). Histories are saved decrypted, so that
they replay anywhere (CI, stock tools) without the recording's throwaway key.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from pathlib import Path

from audit.history import fetch_run
from bench.receiver import Receiver
from core.devserver import DevServer
from tests.utils.scenarios import ALL_SCENARIOS, settings_for
from tests.utils.stack import Stack, eventually
from workflows import webhook_workflow_id, workflow_id

HERE = Path(__file__).parent
WEBHOOKS = HERE / "webhooks"


async def record() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = DevServer(port=port, ui_port=None)
    server.start()
    try:
        await server.wait_ready()
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            for name, scenario in ALL_SCENARIOS.items():
                if (HERE / f"{name}.json").exists():
                    continue
                async with Stack(
                    temporal_address=server.address, database_url=f"sqlite:///{directory / name}.db",
                    data_dir=directory, **settings_for(name, directory),
                ) as stack:  # fmt: skip
                    case_id = await scenario(stack)
                    history = await fetch_run(stack.temporal, workflow_id(case_id))  # decrypted
                    (HERE / f"{name}.json").write_text(history.to_json())
                    sys.stdout.write(f"recorded {name}: {len(history.events)} events\n")
            if not (WEBHOOKS / "retried_then_deleted.json").exists():
                await record_webhooks(server.address, directory)
    finally:
        server.stop()


async def record_webhooks(address: str, directory: Path) -> None:
    """A subscription's delivery run from start to end: refused (500) and retried, delivered, a case's events in
    order, then the subscription deleted and the run ended."""
    name = "retried_then_deleted"
    async with Stack(temporal_address=address, database_url=f"sqlite:///{directory / name}.db",
                     data_dir=directory) as stack, Receiver(status=500) as receiver:  # fmt: skip
        admin = await stack.headers("admin")
        caseworker = await stack.headers("caseworker", "town-a", "综治中心")
        body = {"url": receiver.url, "events": ["filed", "escalated", "suspended"], "secret": "s" * 24}
        subscription = (await stack.http.post("/v1/webhooks", json=body, headers=admin)).json()
        case_id = (await stack.file(caseworker))["id"]
        await eventually(lambda: asyncio.sleep(0, len(receiver.received)), lambda n: n >= 2, timeout=30)
        receiver.status = 200
        await stack.ok(case_id, "submit", caseworker)
        await stack.ok(case_id, "escalate", caseworker, note="beyond the compound")
        await stack.ok(case_id, "suspend", caseworker, reason="waiting_for_third_party", note="parts on order")
        await eventually(lambda: asyncio.sleep(0, len(receiver.accepted())), lambda n: n >= 3, timeout=60)
        await stack.http.delete(f"/v1/webhooks/{subscription['id']}", headers=admin)
        handle = stack.temporal.get_workflow_handle(webhook_workflow_id(subscription["id"]))
        await asyncio.wait_for(handle.result(), timeout=120)  # the run sees the deletion and ends
        history = await fetch_run(stack.temporal, handle.id)  # decrypted
        WEBHOOKS.mkdir(exist_ok=True)
        (WEBHOOKS / f"{name}.json").write_text(history.to_json())
        sys.stdout.write(f"recorded webhooks/{name}: {len(history.events)} events\n")


if __name__ == "__main__":
    asyncio.run(record())
