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


def test_up_serves_the_api_and_the_web_ui_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    api, temporal, ui = free_port(), free_port(), free_port()
    env = {**os.environ, "LINLI_DATA_DIR": str(tmp_path), "LINLI_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "api.cli", "up", "--port", str(api), "--temporal-port", str(temporal),
               "--ui-port", str(ui)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = ""
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline and process.poll() is None:
            banner += process.stdout.readline()
        token = re.search(r"Admin token\s+(\S+)", banner)
        assert token, f"no banner: {banner!r}"
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        base = f"http://127.0.0.1:{api}"

        units = httpx.get(f"{base}/v1/units?limit=200", headers=headers).json()["items"]
        assert {u["code"] for u in units} >= {_first_compound(json.loads(DEMO_UNITS.read_text()))}
        compound = next(u["code"] for u in units if u["kind"] == "compound")
        body = {"unit": compound, "category": "lighting", "title": "Street lamp out", "description": "Dark at night",
                "reporter": {"name": "赵叔"}}  # fmt: skip
        filed = httpx.post(f"{base}/v1/cases", json=body, headers=headers, timeout=30)
        assert filed.status_code == 201, filed.text
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ui}/", timeout=10).status_code == 200  # the Temporal Web UI
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0
    assert (tmp_path / "temporal.db").exists() and (tmp_path / "linli.db").exists()
    with httpx.Client() as client:  # everything is down: nothing answers on the three ports
        for port in (api, ui):
            try:
                client.get(f"http://127.0.0.1:{port}/", timeout=2)
                raise AssertionError(f"port {port} still answers")
            except httpx.TransportError:
                pass
