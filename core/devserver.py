"""The Temporal dev server as a child process: the embedded workflow engine for `linli up` and the tests."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import IO

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from core.temporal_cli import find_temporal_cli
from workflows.search_attributes import DECLARATIONS


class DevServer:
    """``temporal server start-dev`` with linli's search attributes, persisted to ``db_file`` if given."""

    def __init__(
        self,
        *,
        port: int = 7233,
        ui_port: int | None = 8233,
        db_file: Path | None = None,
        log: IO[bytes] | None = None,
        binary: Path | None = None,
        ip: str = "127.0.0.1",
    ) -> None:
        self.port, self.ui_port, self.db_file, self.ip = port, ui_port, db_file, ip
        self.binary = binary or find_temporal_cli()
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.ip}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        args = [str(self.binary), "server", "start-dev", "--ip", self.ip, "--port", str(self.port)]
        args += ["--ui-port", str(self.ui_port)] if self.ui_port else ["--headless"]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(self.db_file)]
        for name, kind in DECLARATIONS.items():
            args += ["--search-attribute", f"{name}={kind}"]
        args += ["--log-format", "json", "--log-level", "warn"]
        return args

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the frontend answers and the default namespace exists."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited with code {self.process.returncode}")
            try:
                client = await Client.connect(self.address)
                await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
                return
            except Exception as error:  # not up yet: keep polling until the deadline
                last_error = error
                await asyncio.sleep(0.25)
        raise TimeoutError(f"the Temporal dev server at {self.address} was not ready in {timeout}s: {last_error}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
