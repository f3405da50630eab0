"""Residents' personal data stays out of Temporal: every payload reaches the server encrypted; auditors read
histories decrypted, and the case with its phone masked; keys rotate under a running case; a history under
a key the installation no longer has is reported as unreadable, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from secrets import token_bytes
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from api.app import create_app
from api.worker import build_worker
from audit.history import cli_json
from core.codec import ENCODING, KEY_ID, PayloadKey
from core.settings import Settings
from core.tables import CaseRecord
from core.temporal import connect
from tests.conftest import StackFactory
from tests.utils.stack import Stack
from workflows import workflow_id
from workflows.case import CaseWorkflow

PHONE, NAME, DESCRIPTION, CO_SIGNER = "13800138000", "王阿姨", "Water stands for days after rain.", "李大爷"
MASKED = "*******8000"


async def as_temporal_holds_it(stack: Stack, case_id: str) -> WorkflowHistory:
    """The history read with a plain client (no codec), as anyone with access to Temporal reads it."""
    plain = await Client.connect(stack.settings.temporal_address)
    return await plain.get_workflow_handle(workflow_id(case_id)).fetch_history()


def key_ids(history: WorkflowHistory) -> list[str]:
    """The key id of every encrypted workflow input and update result, in history order."""
    ids = []
    for event in history.events:
        payloads = [
            *event.workflow_execution_started_event_attributes.input.payloads,
            *event.workflow_execution_update_completed_event_attributes.outcome.success.payloads,
        ]
        ids += [p.metadata[KEY_ID].decode() for p in payloads if p.metadata.get("encoding") == ENCODING]
    return ids


async def test_temporal_holds_no_personal_data_and_auditors_read_it_decrypted(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    case_id = (await stack.file(caseworker))["id"]  # the reporter 王阿姨, her phone, the description
    await stack.ok(case_id, "co-sign", caseworker, resident=CO_SIGNER)
    await stack.ok(case_id, "submit", caseworker)

    raw = await as_temporal_holds_it(stack, case_id)
    stored = History(events=raw.events).SerializeToString()
    for personal in (PHONE, NAME, DESCRIPTION, CO_SIGNER):
        assert personal.encode() not in stored, personal
    current = stack.settings.payload_keyring.current.id
    assert key_ids(raw) == [current] * 4  # the filing, and the answers to filing, co-sign and submit

    auditor = await stack.headers("auditor", None, "纪检监察组")
    exported = await stack.http.get(f"/v1/audit/cases/{case_id}/history", headers=auditor)
    assert exported.status_code == 200, exported.text
    history = WorkflowHistory.from_json(workflow_id(case_id), exported.text)
    (filing,) = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert filing.metadata["encoding"] == b"json/plain"
    filed = json.loads(filing.data)["filed"]
    assert filed["reporter"] == {"name": NAME, "phone": PHONE} and filed["description"] == DESCRIPTION
    # Decrypted, it replays with the SDK's own tools and no key at all...
    await Replayer(workflows=[CaseWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
    # ...and through the audit, which agrees with the read model: masking creates no difference.
    body = {"workflow_id": workflow_id(case_id), "history": exported.json()}
    uploaded = await stack.http.post("/v1/audit/replay", json=body, headers=auditor)
    assert uploaded.status_code == 200, uploaded.text
    report = uploaded.json()
    assert report["deterministic"] is True and report["matches_read_model"] is True, report["mismatches"]

    # What auditors see of the resident: her name, and her phone masked; caseworkers see it whole.
    assert report["final_state"]["reporter"] == {"name": NAME, "phone": MASKED}
    assert report["timeline"][0]["arguments"]["reporter"] == {"name": NAME, "phone": MASKED}
    assert (await stack.case(case_id, auditor))["reporter"]["phone"] == MASKED
    listed = (await stack.http.get("/v1/cases", headers=auditor)).json()["items"]
    assert [c["reporter"]["phone"] for c in listed] == [MASKED]
    assert (await stack.case(case_id, caseworker))["reporter"]["phone"] == PHONE


async def test_a_changed_phone_in_the_read_model_is_reported_masked(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x")
    case_id = (await stack.file(caseworker))["id"]
    async with AsyncSession(stack.engine) as db:
        record = await db.get(CaseRecord, case_id)
        assert record is not None
        record.view = {**record.view, "reporter": {"name": NAME, "phone": "13900139000"}}
        await db.commit()

    auditor = await stack.headers("auditor", None, "纪检监察组")
    report = (await stack.http.post(f"/v1/audit/cases/{case_id}/replay", headers=auditor)).json()
    assert report["matches_read_model"] is False
    assert [(m["field"], m["history"], m["read_model"]) for m in report["mismatches"]] == [
        ("view.reporter.phone", MASKED, "*******9000")
    ]


def restarted(stack: Stack, payload_keys: str) -> Settings:
    """The stack's configuration as a restart with other payload keys would have it."""
    s = stack.settings
    return Settings(
        data_dir=s.data_dir, database_url=s.db_url, temporal_address=s.temporal_address, task_queue=s.task_queue,
        token_cache_seconds=s.token_cache_seconds, payload_keys=payload_keys,
    )  # fmt: skip


@asynccontextmanager
async def linli(stack: Stack, settings: Settings, *, worker: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Another API (and worker) on the stack's database and task queue, configured by ``settings``."""
    app = create_app(settings)
    async with AsyncExitStack() as running:
        await running.enter_async_context(app.router.lifespan_context(app))
        if worker:
            await running.enter_async_context(build_worker(await connect(settings), stack.engine, settings.task_queue))
        transport = httpx.ASGITransport(app=app)
        yield await running.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://linli"))


async def post(http: httpx.AsyncClient, path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
    return await http.post(path, json=body if body is not None else {}, headers=headers)


async def test_keys_rotate_under_a_running_case_and_a_lost_key_is_reported(make_stack: StackFactory) -> None:
    k1, k2 = PayloadKey("k1", token_bytes(32)), PayloadKey("k2", token_bytes(32))
    stack = await make_stack(payload_keys=str(k1))
    caseworker = await stack.headers("caseworker", "compound-a1x")
    auditor = await stack.headers("auditor", None, "纪检监察组")
    case_id = (await stack.file(caseworker))["id"]
    await stack.ok(case_id, "submit", caseworker)
    await stack.stop_worker()

    # Worker and API restart with a new key in front of the old one: the case goes on, and replays whole.
    async with linli(stack, restarted(stack, f"{k2},{k1}")) as http:
        accepted = await post(http, f"/v1/cases/{case_id}/actions/accept", caseworker, {"note": "For the meeting"})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["stage"] == "deliberating"
        report = (await post(http, f"/v1/audit/cases/{case_id}/replay", auditor)).json()
        assert report["deterministic"] is True and report["matches_read_model"] is True, report
    raw = await as_temporal_holds_it(stack, case_id)
    assert key_ids(raw) == ["k1", "k1", "k1", "k2"]  # filed and submitted under k1, accepted under k2

    # k1 dropped while histories under it remain: the audit says which key is missing, as a 4xx.
    async with linli(stack, restarted(stack, str(k2)), worker=False) as http:
        for response in (
            await http.get(f"/v1/audit/cases/{case_id}/history", headers=auditor),
            await post(http, f"/v1/audit/cases/{case_id}/replay", auditor),
        ):
            assert response.status_code == 409, response.text
            assert response.json()["error"] == "unreadable_history" and "key 'k1'" in response.json()["detail"]
        upload = {"workflow_id": workflow_id(case_id), "history": json.loads(cli_json(raw))}
        uploaded = await post(http, "/v1/audit/replay", auditor, upload)
        assert uploaded.status_code == 422 and "key 'k1'" in uploaded.json()["detail"], uploaded.text
