"""The parts around the cases: health checks, the temporal binary lookup, the CLI's help and tokens."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from core.temporal_cli import TemporalCliMissing, find_temporal_cli
from tests.utils.stack import Stack


async def test_healthz_and_readyz(stack: Stack) -> None:
    assert (await stack.http.get("/healthz")).json() == {"status": "ok"}
    ready = await stack.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "temporal": "ok"}


async def test_readyz_says_what_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, temporal_address="127.0.0.1:1")  # nothing listens on port 1
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli") as http:
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["temporal"].startswith("unreachable")


def test_missing_temporal_cli_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINLI_TEMPORAL_CLI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # neither `temporal` nor `go`
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(TemporalCliMissing, match="install Go"):
        find_temporal_cli()
    not_executable = tmp_path / "temporal.txt"
    not_executable.write_text("")
    with pytest.raises(TemporalCliMissing, match="not an executable"):
        find_temporal_cli(not_executable)


def test_cli_token_issue_prints_only_the_token(tmp_path: Path) -> None:
    env = {**os.environ, "LINLI_DATA_DIR": str(tmp_path)}
    linli = [sys.executable, "-m", "api.cli"]
    run = subprocess.run([*linli, "token", "issue", "--role", "auditor", "--name", "审计组"], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert run.stdout.startswith("linli_") and len(run.stdout.strip().splitlines()) == 1
    bad = subprocess.run([*linli, "token", "issue", "--role", "caseworker", "--name", "x"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--unit" in bad.stderr
    revoke = subprocess.run([*linli, "token", "revoke", run.stdout.strip()], env=env, capture_output=True, text=True)
    assert revoke.returncode == 0 and "revoked 1" in revoke.stdout
    helped = subprocess.run([*linli, "--help"], capture_output=True, text=True, check=True)
    assert "LINLI_DATABASE_URL" in helped.stdout and "up" in helped.stdout


async def test_concurrent_commands_apply_once(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(caseworker))["id"]
    await stack.ok(cid, "submit", caseworker)
    responses = await asyncio.gather(*(stack.act(cid, "accept", caseworker, {"note": f"n{i}"}) for i in range(10)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    case = await stack.case(cid, caseworker)
    assert case["stage"] == "deliberating" and case["version"] == 3
