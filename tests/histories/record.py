"""Record the saved histories the replay test keeps CI honest with.

    python -m tests.histories.record

Run it only when the workflow's behaviour changes on purpose; keep the old files too (rename them),
so cases already running under the old code are still proven to replay.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from pathlib import Path

from core.devserver import DevServer
from core.temporal import workflow_id
from tests.utils.scenarios import SCENARIOS, scenario_settings
from tests.utils.stack import Stack

HERE = Path(__file__).parent


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
            for name, scenario in SCENARIOS.items():
                async with Stack(
                    temporal_address=server.address, database_url=f"sqlite:///{directory / name}.db",
                    data_dir=directory, **scenario_settings(directory),
                ) as stack:  # fmt: skip
                    case_id = await scenario(stack)
                    history = await stack.temporal.get_workflow_handle(workflow_id(case_id)).fetch_history()
                    (HERE / f"{name}.json").write_text(history.to_json())
                    sys.stdout.write(f"recorded {name}: {len(history.events)} events\n")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(record())
