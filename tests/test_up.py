"""`linli up` as a user runs it: one foreground command, a case by HTTP, Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.measure import free_port

DEMO_UNITS = Path(__file__).resolve().parent.parent / "deploy" / "demo-units.json"


def _first_compound(trees: list[dict[str, object]]) -> str:
    for tree in trees:
        if tree["kind"] == "compound":
            return str(tree["code"])
        if found := _first_compound(tree.get("children", [])):  # type: ignore[arg-type]
            return found
    return ""


class Up:
    """One `linli up` in the foreground, as a user starts it; its log goes to a file beside the data dir."""

    def __init__(self, tmp_path: Path) -> None:
        self.data, self.log = tmp_path / "data", tmp_path / "up.log"
        self.api, self.temporal, self.ui = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.api}"

    def start(self) -> str:
        """Start it and return the admin token from its banner."""
        env = {**os.environ, "LINLI_DATA_DIR": str(self.data), "LINLI_LOG_LEVEL": "INFO"}
        command = [sys.executable, "-m", "api.cli", "up", "--port", str(self.api), "--temporal-port",
                   str(self.temporal), "--ui-port", str(self.ui)]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        banner = ""
        assert self.process.stdout is not None
        deadline = time.monotonic() + 90
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline and self.process.poll() is None:
            banner += self.process.stdout.readline()
        token = re.search(r"Admin token\s+(\S+)", banner)
        assert token, f"no banner: {banner!r}"
        return token.group(1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def test_up_serves_the_api_and_the_web_ui_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    up = Up(tmp_path)
    try:
        headers = {"Authorization": f"Bearer {up.start()}"}
        base = up.base
        units = httpx.get(f"{base}/v1/units?limit=200", headers=headers).json()["items"]
        assert {u["code"] for u in units} >= {_first_compound(json.loads(DEMO_UNITS.read_text()))}
        compound = next(u["code"] for u in units if u["kind"] == "compound")
        body = {"unit": compound, "category": "lighting", "title": "Street lamp out", "description": "Dark at night",
                "reporter": {"name": "赵叔"}}  # fmt: skip
        filed = httpx.post(f"{base}/v1/cases", json=body, headers=headers, timeout=30)
        assert filed.status_code == 201, filed.text
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{up.ui}/", timeout=10).status_code == 200  # the Temporal Web UI
    finally:
        code = up.stop()
    assert code == 0
    assert (up.data / "temporal.db").exists() and (up.data / "linli.db").exists()
    with httpx.Client() as client:  # everything is down: nothing answers on the three ports
        for port in (up.api, up.ui):
            try:
                client.get(f"http://127.0.0.1:{port}/", timeout=2)
                raise AssertionError(f"port {port} still answers")
            except httpx.TransportError:
                pass


def test_a_restart_revokes_the_previous_admin_token_and_logs_none(tmp_path: Path) -> None:
    up = Up(tmp_path)
    try:
        first = up.start()
    finally:
        assert up.stop() == 0
    try:
        second = up.start()
        units = f"{up.base}/v1/units"
        assert httpx.get(units, headers={"Authorization": f"Bearer {second}"}).status_code == 200
        assert httpx.get(units, headers={"Authorization": f"Bearer {first}"}).status_code == 401
    finally:
        assert up.stop() == 0
    # The banner is the one place a token is shown: no log file, the dev server's included, holds either.
    logs = [up.log, *up.data.glob("*.log")]
    assert len(logs) >= 2
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert first not in text and second not in text, log
