"""Audit: a case's history as the Temporal CLI prints it (decrypted), replayed on today's code into a timeline,
and checked against the read model; what it reports when the code or the read model has gone wrong."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col
from temporalio.client import WorkflowHistory
from temporalio.worker import Worker

from activities.projection import Projection
from audit.history import cli_json, decrypt
from core.tables import CaseEventRecord, CaseRecord
from core.temporal_cli import find_temporal_cli
from tests.conftest import StackFactory
from tests.utils.scenarios import escalated_to_overdue, objected_and_revisited, resolved, scenario_settings
from tests.utils.stack import Stack
from tests.utils.variants import AlteredCase
from workflows import workflow_id


async def auditor(stack: Stack) -> dict[str, str]:
    return await stack.headers("auditor", None, "纪检监察组")


async def replay(stack: Stack, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await stack.http.post(f"/v1/audit/cases/{case_id}/replay", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def trail(stack: Stack, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await stack.http.get(f"/v1/cases/{case_id}/events", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def temporal_show(address: str, case_id: str, *extra: str) -> bytes:
    command = [str(find_temporal_cli()), "workflow", "show", "-w", workflow_id(case_id), "--address", address]
    return subprocess.run([*command, "-o", "json", *extra], capture_output=True, check=True).stdout


async def test_history_is_what_the_temporal_cli_prints(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(**scenario_settings(tmp_path))
    case_id = await objected_and_revisited(stack)
    headers = await auditor(stack)

    response = await stack.http.get(f"/v1/audit/cases/{case_id}/history", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    printed = await asyncio.to_thread(temporal_show, stack.settings.temporal_address, case_id)
    # The CLI prints the payloads as Temporal holds them, encrypted; the audit prints what the CLI would
    # with them decrypted: the same printer (byte for byte the CLI's), the same history, decrypted.
    shown = WorkflowHistory.from_json(workflow_id(case_id), printed.decode())
    assert cli_json(shown) == printed
    assert response.content == cli_json(await decrypt(shown, stack.temporal.data_converter)) != printed

    run_id = json.loads(printed)["events"][0]["workflowExecutionStartedEventAttributes"]["originalExecutionRunId"]
    by_run = await stack.http.get(f"/v1/audit/cases/{case_id}/history", params={"run_id": run_id}, headers=headers)
    assert by_run.content == response.content
    runs = (await stack.http.get(f"/v1/audit/cases/{case_id}/runs", headers=headers)).json()["items"]
    assert [(r["run_id"], r["status"], r["continued_from"]) for r in runs] == [(run_id, "completed", None)]


async def test_cli_exported_history_replays_through_the_api(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(**scenario_settings(tmp_path))
    case_id = await objected_and_revisited(stack)
    headers = await auditor(stack)
    exported = json.loads(await asyncio.to_thread(temporal_show, stack.settings.temporal_address, case_id))

    response = await stack.http.post(
        "/v1/audit/replay", json={"workflow_id": workflow_id(case_id), "history": exported}, headers=headers
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["deterministic"] is True and report["error"] is None
    assert report["matches_read_model"] is True and report["mismatches"] == []
    assert report["final_state"] == await stack.case(case_id, headers)
    assert report["policy"]["name"] == "test" and report["policy"]["objection_threshold"] == 3

    # The timeline tells the same story as the read model's audit trail, from the history alone.
    timeline = report["timeline"]
    events = await trail(stack, case_id, headers)
    assert [e["seq"] for e in timeline] == [e["seq"] for e in events] == list(range(1, 19))
    keys = ("action", "actor", "from_stage", "to_stage", "from_tier", "to_tier")
    assert [{k: e[k] for k in keys} for e in timeline] == [{k: e[k] for k in keys} for e in events]
    assert all(e["run_id"] == report["runs"][0]["run_id"] for e in timeline)

    objections = [e for e in timeline if e["action"] == "object"]
    assert [e["arguments"]["resident"] for e in objections] == ["张三", "李四", "王五"]
    assert all(e["actor"]["name"] == "镇干部" and e["actor"]["role"] == "caseworker" for e in objections)
    periods = [e for e in timeline if e["action"] == "objection-period-ended"]
    assert [e["to_stage"] for e in periods] == ["deliberating", "implementing"]
    assert all(e["kind"] == "deadline" and e["timer"]["fired_at"] <= e["at"] for e in periods)
    assert [e["detail"] for e in periods] == [{"objections": 3, "threshold": 3}, {"objections": 0, "threshold": 3}]
    escalations = [(e["action"], e["escalation"]["reason"], e["from_tier"], e["to_tier"]) for e in timeline
                   if e["escalation"]]  # fmt: skip
    assert escalations == [
        ("record-visit", "unsatisfied_visit", "compound", "community"), ("escalate", "manual", "community", "town"),
    ]  # fmt: skip


async def test_case_replay_shows_deadlines_escalations_and_rejected_commands(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = await make_stack(**scenario_settings(tmp_path))
    case_id = await escalated_to_overdue(stack)
    supervisor = await stack.headers("supervisor", "town-a", "综治中心")
    late = await stack.act(case_id, "accept", supervisor, {"note": "Too late"})
    assert late.status_code == 409
    admin = await stack.headers("admin", None, "admin")

    report = await replay(stack, case_id, admin)
    assert report["deterministic"] is True and report["matches_read_model"] is True
    assert [r["status"] for r in report["runs"]] == ["completed"]
    assert [(e["action"], e["from_tier"], e["to_tier"], e["to_stage"]) for e in report["timeline"]] == [
        ("file", "compound", "compound", "collecting"),
        ("submit", "compound", "compound", "reviewing"),
        ("sla-breach", "compound", "community", "reviewing"),
        ("sla-breach", "community", "town", "reviewing"),
        ("overdue", "town", "town", "reviewing"),
        ("extend-deadline", "town", "town", "reviewing"),
        ("reject", "town", "town", "closed"),
    ]
    breaches = [e for e in report["timeline"] if e["kind"] == "deadline"]
    assert all(e["actor"]["role"] == "system" and e["timer"]["armed_for_seconds"] > 0 for e in breaches)
    assert [e["escalation"]["reason"] for e in breaches[:2]] == ["sla_breach", "sla_breach"]
    assert report["timeline"][0]["arguments"]["title"] == "Blocked drain behind building 3"
    assert report["final_state"]["outcome"] == "rejected"

    # The refused command never reached the history, so only the read model's trail knows it.
    assert [(r["action"], r["actor"]["name"], r["result"]) for r in report["rejected"]] == [
        ("accept", "综治中心", "rejected")
    ]
    assert "closed" in report["rejected"][0]["reason"]
    assert all(e["action"] != "accept" for e in report["timeline"])


async def test_altered_workflow_is_reported_nondeterministic(stack: Stack) -> None:
    # Cases run for a while on code that sleeps before watching its deadline; today's code does not.
    await stack.stop_worker()
    altered = Worker(stack.temporal, task_queue=stack.settings.task_queue, workflows=[AlteredCase],
                     activities=[Projection(stack.engine).project_case])  # fmt: skip
    async with altered:
        worker = await stack.headers("caseworker", "compound-a1x", "网格员")
        case_id = (await stack.file(worker))["id"]
        await stack.ok(case_id, "co-sign", worker, resident="李大爷")
    headers = await auditor(stack)

    report = await replay(stack, case_id, headers)
    assert report["deterministic"] is False
    assert report["error"]["kind"] == "nondeterminism" and report["error"]["run_id"] == report["runs"][0]["run_id"]
    assert "Nondeterminism" in report["error"]["message"] and "Timer" in report["error"]["message"]
    assert report["matches_read_model"] is None and report["final_state"] is None
    # What the history records is still shown; what it did to the case cannot be, and the entry says so.
    co_sign = next(e for e in report["timeline"] if e["action"] == "co-sign")
    assert co_sign["actor"]["name"] == "网格员" and co_sign["arguments"] == {"resident": "李大爷"}
    assert co_sign["seq"] is None and co_sign["to_stage"] is None and "replay stopped" in co_sign["reason"]

    history = (await stack.http.get(f"/v1/audit/cases/{case_id}/history", headers=headers)).json()
    uploaded = await stack.http.post("/v1/audit/replay", json={"workflow_id": workflow_id(case_id),
                                                               "history": history}, headers=headers)  # fmt: skip
    assert uploaded.status_code == 200 and uploaded.json()["error"] == report["error"]


async def test_tampered_read_model_is_reported(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(**scenario_settings(tmp_path))
    case_id = await resolved(stack)
    headers = await auditor(stack)
    assert (await replay(stack, case_id, headers))["matches_read_model"] is True

    async with stack.engine.begin() as db:
        await db.execute(update(CaseRecord).where(col(CaseRecord.id) == case_id).values(stage="implementing"))
        event = (col(CaseEventRecord.case_id) == case_id) & (col(CaseEventRecord.seq) == 3)
        await db.execute(update(CaseEventRecord).where(event).values(actor_name="someone else"))
        event = (col(CaseEventRecord.case_id) == case_id) & (col(CaseEventRecord.seq) == 5)
        await db.execute(delete(CaseEventRecord).where(event))

    report = await replay(stack, case_id, headers)
    assert report["deterministic"] is True and report["matches_read_model"] is False
    found = {(m["record"], m["seq"], m["field"]): (m["history"], m["read_model"]) for m in report["mismatches"]}
    assert found.keys() == {("case", None, "stage"), ("event", 3, "actor_name"), ("event", 5, None)}
    assert found["case", None, "stage"] == ("closed", "implementing")
    assert found["event", 3, "actor_name"] == ("社区两委", "someone else")
    assert found["event", 5, None][0]["action"] == "record-meeting" and found["event", 5, None][1] is None


async def test_concurrent_commands_are_audited_once_each(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员")
    case_id = (await stack.file(caseworker))["id"]
    await stack.ok(case_id, "submit", caseworker)
    responses = await asyncio.gather(*(stack.act(case_id, "accept", caseworker, {"note": f"n{i}"}) for i in range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7

    report = await replay(stack, case_id, await auditor(stack))
    assert report["deterministic"] is True and report["matches_read_model"] is True
    accepts = [e for e in report["timeline"] if e["action"] == "accept"]
    applied = [e for e in accepts if e["result"] == "applied"]
    assert len(applied) == 1 and applied[0]["seq"] == 3 and applied[0]["to_stage"] == "deliberating"
    # Refused by the validator: never in the history. Refused by the handler after acceptance (both passed
    # validation in one activation): in the history, so in the timeline, marked rejected, with the reason.
    assert all(e["result"] == "rejected" and e["seq"] is None and "not possible" in e["reason"]
               for e in accepts if e not in applied)  # fmt: skip
    assert len(report["rejected"]) == 7 and {r["action"] for r in report["rejected"]} == {"accept"}
