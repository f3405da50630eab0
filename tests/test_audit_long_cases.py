"""A long case continues as new when Temporal suggests it, carries on intact, and is audited across all runs.

These tests get their own dev server, one that suggests continue-as-new after ``SUGGEST_AFTER`` events
instead of thousands, so a case with a couple of hundred commands crosses many runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.measure import free_port
from tests.conftest import serving
from tests.utils.long_cases import EarlyContinueAsNewDevServer, long_case, resident
from tests.utils.stack import Stack

SUGGEST_AFTER = 100
CO_SIGNS, OBJECTIONS = 150, 50


@pytest.fixture(scope="module")
def temporal_address() -> Iterator[str]:
    """Overrides the session's dev server for this module (``make_stack`` and ``stack`` use it)."""
    yield from serving(EarlyContinueAsNewDevServer(after=SUGGEST_AFTER, port=free_port(), ui_port=None))


async def all_events(stack: Stack, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    events, cursor = [], None
    while True:
        page = (await stack.http.get(f"/v1/cases/{case_id}/events", params={"cursor": cursor} if cursor else {},
                                     headers=headers)).json()  # fmt: skip
        events += page["items"]
        if not (cursor := page["next_cursor"]):
            return events


async def test_a_case_with_hundreds_of_commands_continues_as_new_intact(stack: Stack) -> None:
    case_id = await long_case(stack, co_signs=CO_SIGNS, objections=OBJECTIONS)
    auditor = await stack.headers("auditor", None, "纪检监察组")

    # The case carried on as if nothing happened: every co-sign, every objection, every event once.
    case = await stack.case(case_id, auditor)
    residents = [resident(i) for i in range(CO_SIGNS)]
    assert case["stage"] == "announcing" and case["co_signers"] == residents
    assert [o["resident"] for o in case["objections"]] == residents[:OBJECTIONS]
    assert case["version"] == 1 + CO_SIGNS + 4 + OBJECTIONS  # filing, co-signs, the walk, objections
    events = await all_events(stack, case_id, auditor)
    assert [e["seq"] for e in events] == list(range(1, case["version"] + 1))

    # …in many runs, none of which grew much past the point where Temporal suggested moving on.
    runs = (await stack.http.get(f"/v1/audit/cases/{case_id}/runs", headers=auditor)).json()["items"]
    assert len(runs) >= 10
    assert [r["status"] for r in runs] == ["continued_as_new"] * (len(runs) - 1) + ["running"]
    assert all(r["history_length"] < SUGGEST_AFTER + 40 for r in runs)
    for before, after in zip(runs, runs[1:], strict=False):
        assert before["continued_as"] == after["run_id"] and after["continued_from"] == before["run_id"]
        history = await stack.http.get(f"/v1/audit/cases/{case_id}/history", params={"run_id": after["run_id"]},
                                       headers=auditor)  # fmt: skip
        started = history.json()["events"][0]["workflowExecutionStartedEventAttributes"]
        assert started["continuedExecutionRunId"] == before["run_id"]

    # The audit spans every run: one timeline from the filing, deterministic and consistent throughout.
    report = await replay(stack, case_id, auditor)
    assert report["deterministic"] is True and report["matches_read_model"] is True, report["error"]
    assert [r["run_id"] for r in report["runs"]] == [r["run_id"] for r in runs]
    assert [e["seq"] for e in report["timeline"] if e["seq"]] == list(range(1, case["version"] + 1))
    assert len({e["run_id"] for e in report["timeline"]}) == len(runs)
    assert report["final_state"] == case

    # And it closes normally in its latest run.
    await stack.ok(case_id, "withdraw", await stack.headers("caseworker", "compound-a1x"), reason="Settled")
    closed = await replay(stack, case_id, auditor)
    assert closed["deterministic"] is True and closed["matches_read_model"] is True
    assert closed["runs"][-1]["status"] == "completed" and closed["final_state"]["outcome"] == "withdrawn"


async def replay(stack: Stack, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await stack.http.post(f"/v1/audit/cases/{case_id}/replay", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
