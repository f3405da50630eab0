"""Record the saved histories the replay test keeps CI honest with.

    python -m tests.histories.record

Records only the scenarios that have no saved history yet: the old files stay as they are, so cases
already running under the old code are still proven to replay. To record one again on purpose, rename
its old file first (keep it). Histories are saved decrypted,
so that they replay anywhere (CI, stock tools) without the recording's throwaway key.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from pathlib import Path

from audit.history import fetch_run
from core.devserver import DevServer
from tests.utils.scenarios import ALL_SCENARIOS, settings_for
from tests.utils.stack import Stack
from workflows import workflow_id

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
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(record())
