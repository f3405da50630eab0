"""Real processes for fault tests: a worker that can be killed with SIGKILL, a PostgreSQL that can be stopped."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`linli worker` in its own process, on the stack's task queue and database."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.env = {
            **os.environ,
            "LINLI_TEMPORAL_ADDRESS": settings.temporal_address,
            "LINLI_TASK_QUEUE": settings.task_queue,
            "LINLI_DATABASE_URL": settings.db_url,
            "LINLI_DATA_DIR": str(settings.data_dir),
            "LINLI_LOG_LEVEL": "WARNING",
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "worker"], env=self.env, cwd=REPO, stdout=out, stderr=out
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the server, whatever it was doing is cut off."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


class PostgresCluster:
    """A throwaway PostgreSQL server (Debian's packages) of the test's own, so it can be stopped and started."""

    def __init__(self, port: int) -> None:
        # Not under pytest's tmp_path: that is private to root, and the server runs as the postgres user.
        self.home = Path(tempfile.mkdtemp(prefix="linli-pg-"))
        self.home.chmod(0o755)
        self.directory, self.port = self.home / "data", port
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            if os.environ.get("CI") == "true":
                raise RuntimeError("CI=true but PostgreSQL's server binaries are missing (apt-get install postgresql)")
            pytest.skip("PostgreSQL server binaries not installed")
        self.pg_ctl = str(bins[-1])

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create(self) -> None:
        script = REPO / ".ci" / "start-postgres"
        subprocess.run(["bash", str(script), str(self.directory), str(self.port)], check=True, capture_output=True)

    def _ctl(self, *args: str) -> None:
        command = [self.pg_ctl, "-D", str(self.directory), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = [shutil.which("runuser") or "runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        opts = f"-k {self.directory} -h 127.0.0.1 -p {self.port} -c fsync=off"
        self._ctl("-l", str(self.directory / "server.log"), "-w", "-o", opts, "start")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.home, ignore_errors=True)
