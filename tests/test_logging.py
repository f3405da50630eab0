"""Logs are JSON, every line about a case names the case, action and actor, and phones are masked."""

from __future__ import annotations

import json

import pytest

from core.logging import configure_logging
from tests.utils.stack import Stack


async def test_case_logs_carry_case_action_actor_and_mask_phones(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    worker = await stack.headers("caseworker", "compound-a1x")
    cid = (await stack.file(worker, reporter={"name": "王阿姨", "phone": "13800138000"}))["id"]
    await stack.ok(cid, "submit", worker)
    await stack.act(cid, "submit", worker)  # rejected: logged too

    output = capsys.readouterr().err
    assert "13800138000" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    about_case = [line for line in lines if line.get("case_id") == cid]
    events = {line["event"] for line in about_case}
    assert {"case filed", "case command applied", "case command rejected", "case event"} <= events
    for line in about_case:
        assert line.get("action") and line.get("actor"), line
    filed = next(line for line in about_case if line["event"] == "case filed")
    assert filed["reporter_phone"] == "*******8000"
