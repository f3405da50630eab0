"""Webhooks against a real HTTP receiver on loopback: signed, once per delivery id, in order per case,
retried while the receiver is down or failing, nothing lost when the worker is killed mid-delivery."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.services.webhooks import EventName
from bench.receiver import Receiver
from core.tables import WebhookDelivery
from core.webhooks import EVENTS, signature, webhook_events
from tests.conftest import StackFactory
from tests.utils.processes import WorkerProcess
from tests.utils.scenarios import warning_settings
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file
from workflows.model import Actor, CaseEvent, Role, Stage, Tier

SECRET = "a-receiver-secret-of-some-length"


async def subscribe(stack: Stack, admin: dict[str, str], receiver: Receiver, events: list[str] | None = None,
                    **fields: Any) -> dict[str, Any]:  # fmt: skip
    body = {"url": receiver.url, "events": events or list(EVENTS), "secret": SECRET, **fields}
    response = await stack.http.post("/v1/webhooks", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def deliveries(stack: Stack, subscription_id: str) -> list[WebhookDelivery]:
    async with AsyncSession(stack.engine) as db:
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        return list((await db.exec(query.order_by(col(WebhookDelivery.case_id), col(WebhookDelivery.seq),
                                                    col(WebhookDelivery.position)))).all())  # fmt: skip


def all_settled(rows: list[WebhookDelivery]) -> bool:
    return bool(rows) and all(r.status != "pending" for r in rows)


# --- pure -------------------------------------------------------------------------------------------------------


def event(action: str, frm: Stage = Stage.REVIEWING, to: Stage = Stage.REVIEWING, **detail: Any) -> CaseEvent:
    actor = Actor(id="x", name="linli", role=Role.SYSTEM)
    return CaseEvent(seq=2, at="2026-12-01T00:00:00Z", action=action, actor=actor, from_stage=frm, to_stage=to,
                     from_tier=Tier.COMPOUND, to_tier=Tier.COMPOUND, detail=detail)  # fmt: skip


def test_case_events_map_to_webhook_events() -> None:
    assert webhook_events(event("file", Stage.COLLECTING, Stage.COLLECTING)) == ["filed"]
    assert webhook_events(event("sla-breach", escalation={"to_tier": "community"})) == ["escalated"]
    assert webhook_events(event("overdue", urged=True)) == ["overdue", "urged"]
    assert webhook_events(event("urge", reason="claim_overdue")) == ["claim_overdue", "urged"]
    assert webhook_events(event("urge")) == ["urged"]
    assert webhook_events(event("dispatch", to_unit="compound-a1y")) == ["dispatched"]
    assert webhook_events(event("rule-return", to_unit="compound-a1y")) == ["dispatched"]
    assert webhook_events(event("rule-return")) == []
    assert webhook_events(event("return")) == ["returned"]
    assert webhook_events(event("decide", Stage.DELIBERATING, Stage.ANNOUNCING)) == ["decision_announced"]
    assert webhook_events(event("record-visit", Stage.FOLLOW_UP, Stage.CLOSED)) == ["closed"]
    assert webhook_events(event("deadline-approaching")) == ["deadline_approaching"]
    assert webhook_events(event("object", Stage.ANNOUNCING, Stage.ANNOUNCING)) == []
    assert list(get_args(EventName)) == list(EVENTS)  # the API's list is the events'


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # Known answer: printf '{"a":1}' | openssl dgst -sha256 -hmac secret-secret-secret
    assert signature(b'{"a":1}', "secret-secret-secret") == (
        "sha256=" + __import__("hmac").new(b"secret-secret-secret", b'{"a":1}', "sha256").hexdigest()
    )
    assert signature(b'{"a":1}', "secret-secret-secret") != signature(b'{"a":2}', "secret-secret-secret")


# --- against the stack ------------------------------------------------------------------------------------------


async def test_an_escalation_is_delivered_once_signed_and_masked(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1.5}), sla_scale=SECONDS)
    admin = await stack.headers("admin")
    town = await stack.headers("supervisor", "town-a", "综治中心")
    async with Receiver() as receiver:
        subscription = await subscribe(stack, admin, receiver, ["escalated"])
        assert "secret" not in subscription
        cid = (await stack.file(town))["id"]
        await stack.ok(cid, "submit", town)
        await eventually(lambda: deliveries(stack, subscription["id"]), lambda rows: len(rows) == 2
                         and all_settled(rows), timeout=40)  # fmt: skip
        await asyncio.sleep(1)  # nothing more arrives: each delivered once
    assert len(receiver.received) == 2
    for r in receiver.received:
        assert r.signed_with(SECRET) and not r.signed_with("another-secret-entirely")
        assert r.headers["x-linli-event"] == "escalated" and r.json["event"] == "escalated"
        assert r.json["id"] == r.delivery and r.json["case"]["id"] == cid
        assert b"13800138000" not in r.body and r.json["case"]["reporter"]["phone"].endswith("8000")
    assert [r.json["case"]["tier"] for r in receiver.received][-1] == "town"
    log = (await stack.http.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=admin)).json()["items"]
    assert [(d["event"], d["status"], [a["status_code"] for a in d["attempts"]]) for d in log] == [
        ("escalated", "delivered", [200])
    ] * 2


async def test_an_approaching_deadline_is_delivered_once_signed(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(**warning_settings(tmp_path))  # a 4 s review, warned with 2 s of it left
    admin = await stack.headers("admin")
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    async with Receiver() as receiver:
        subscription = await subscribe(stack, admin, receiver, ["deadline_approaching"])
        cid = (await stack.file(worker))["id"]
        await stack.ok(cid, "submit", worker)
        await eventually(lambda: deliveries(stack, subscription["id"]), all_settled, timeout=30)
        await stack.ok(cid, "accept", worker, note="on the agenda in time")
        await asyncio.sleep(1)  # nothing more arrives: one warning for the one deadline
    [warned] = receiver.received
    assert warned.signed_with(SECRET) and warned.headers["x-linli-event"] == "deadline_approaching"
    assert warned.json["case"]["id"] == cid and warned.json["case"]["stage"] == "reviewing"
    assert b"13800138000" not in warned.body


async def test_a_receiver_down_for_a_while_then_up_gets_every_event_in_order(stack: Stack) -> None:
    admin = await stack.headers("admin")
    caseworker = await stack.headers("caseworker", "town-a", "综治中心")
    receiver = Receiver()
    subscription = await subscribe(stack, admin, receiver)  # the receiver is not up yet
    cases = [(await stack.file(caseworker, title=f"lamp {i}"))["id"] for i in range(3)]
    for cid in cases:
        await stack.ok(cid, "submit", caseworker)
        await stack.ok(cid, "escalate", caseworker, note="beyond the compound")
        await stack.ok(cid, "suspend", caseworker, reason="waiting_for_third_party", note="parts on order")
        await stack.ok(cid, "resume", caseworker, note="parts arrived")

    def tried(rows: list[WebhookDelivery]) -> bool:
        return len({r.case_id for r in rows if r.attempts >= 2}) == len(cases)

    await eventually(lambda: deliveries(stack, subscription["id"]), tried, timeout=30)
    async with receiver:
        rows = await eventually(lambda: deliveries(stack, subscription["id"]), all_settled, timeout=60)
    assert {r.status for r in rows} == {"delivered"}
    for cid in cases:
        assert receiver.events(cid) == ["filed", "escalated", "suspended", "resumed"]
        sent = [r.json["seq"] for r in receiver.accepted() if r.json["case"]["id"] == cid]
        assert sent == sorted(sent)
    assert all(r.signed_with(SECRET) for r in receiver.received)


async def test_500_is_retried_and_410_ends_that_event(stack: Stack) -> None:
    admin = await stack.headers("admin")
    caseworker = await stack.headers("caseworker", "town-a", "综治中心")
    async with Receiver(status=500) as receiver:
        subscription = await subscribe(stack, admin, receiver, ["filed", "escalated", "suspended"])
        cid = (await stack.file(caseworker))["id"]
        await eventually(lambda: deliveries(stack, subscription["id"]), lambda rows: rows[0].attempts >= 2, timeout=30)
        receiver.status = 200
        await eventually(lambda: deliveries(stack, subscription["id"]), all_settled, timeout=30)

        receiver.status = 410
        await stack.ok(cid, "submit", caseworker)
        await stack.ok(cid, "escalate", caseworker, note="beyond the compound")
        await eventually(lambda: deliveries(stack, subscription["id"]), lambda rows: len(rows) == 2
                         and all_settled(rows))  # fmt: skip
        await asyncio.sleep(2.5)  # a retry would have come by now
        receiver.status = 200
        await stack.ok(cid, "suspend", caseworker, reason="waiting_for_third_party", note="parts on order")
        rows = await eventually(lambda: deliveries(stack, subscription["id"]), lambda rows: len(rows) == 3
                                and all_settled(rows))  # fmt: skip
    assert [(r.event, r.status) for r in rows] == [("filed", "delivered"), ("escalated", "gone"),
                                                   ("suspended", "delivered")]  # fmt: skip
    assert [r.headers["x-linli-event"] for r in receiver.received].count("escalated") == 1
    log = (await stack.http.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=admin)).json()["items"]
    filed = next(d for d in log if d["event"] == "filed")
    codes = [a["status_code"] for a in filed["attempts"]]
    assert codes[-1] == 200 and len(codes) >= 3 and set(codes[:-1]) == {500}
    assert [a["status_code"] for a in next(d for d in log if d["event"] == "escalated")["attempts"]] == [410]


async def test_a_scoped_subscription_hears_of_its_subtree_only(stack: Stack) -> None:
    town_admin = await stack.headers("admin", "town-a")
    other_admin = await stack.headers("admin", "town-b")
    community = await stack.headers("caseworker", "community-a1", "社区")
    a2 = await stack.headers("caseworker", "compound-a2x", "物业")
    async with Receiver() as receiver:
        subscription = await subscribe(stack, town_admin, receiver, ["filed"], unit="community-a1")
        assert subscription["unit"] == "community-a1"
        inside = (await stack.file(community, unit="compound-a1y"))["id"]
        outside = (await stack.file(a2, unit="compound-a2x"))["id"]
        await eventually(lambda: deliveries(stack, subscription["id"]), all_settled)
        await asyncio.sleep(0.5)
    assert [r.json["case"]["id"] for r in receiver.accepted()] == [inside] and outside != inside

    # Outside one's jurisdiction: neither made nor seen.
    refused = await stack.http.post("/v1/webhooks", headers=other_admin, json={
        "url": receiver.url, "events": ["filed"], "secret": SECRET, "unit": "community-a1"})  # fmt: skip
    assert refused.status_code == 403
    assert (await stack.http.get("/v1/webhooks", headers=other_admin)).json()["items"] == []
    assert (
        await stack.http.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=other_admin)
    ).status_code == 404
    listed = (await stack.http.get("/v1/webhooks", headers=town_admin)).json()["items"]
    assert [w["id"] for w in listed] == [subscription["id"]] and "secret" not in listed[0]
    supervisor = await stack.headers("supervisor", "town-a")
    assert (await stack.http.get("/v1/webhooks", headers=supervisor)).status_code == 403

    # Deleted: 204, then gone from the list, and a second delete is 404.
    assert (await stack.http.delete(f"/v1/webhooks/{subscription['id']}", headers=town_admin)).status_code == 204
    assert (await stack.http.get("/v1/webhooks", headers=town_admin)).json()["items"] == []
    assert (await stack.http.delete(f"/v1/webhooks/{subscription['id']}", headers=town_admin)).status_code == 404
    await stack.file(community, unit="compound-a1y")
    assert len(await deliveries(stack, subscription["id"])) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.org/x", "events": ["filed"]},
        {"url": "not a url", "events": ["filed"]},
        {"url": "http://127.0.0.1:9/x", "events": []},
        {"url": "http://127.0.0.1:9/x", "events": ["no_such_event"]},
        {"url": "http://127.0.0.1:9/x", "events": ["filed"], "secret": "short"},
        {"url": "http://127.0.0.1:9/x", "events": ["filed"], "unit": "no-such-unit"},
        {"url": "http://127.0.0.1:9/x", "events": ["filed"], "colour": "red"},
    ],
)
async def test_bad_subscriptions_are_422_and_change_nothing(stack: Stack, body: dict[str, Any]) -> None:
    admin = await stack.headers("admin")
    response = await stack.http.post("/v1/webhooks", headers=admin, json={"secret": SECRET, **body})
    assert response.status_code == 422, response.text
    assert (await stack.http.get("/v1/webhooks", headers=admin)).json()["items"] == []


async def test_kill_9_of_the_worker_mid_delivery_loses_nothing(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(command_timeout=5.0)
    await stack.stop_worker()  # this test needs a worker it can kill
    worker = WorkerProcess(stack.settings, tmp_path / "worker.log")
    worker.start()
    admin = await stack.headers("admin")
    caseworker = await stack.headers("caseworker", "town-a", "综治中心")
    async with Receiver(delay=0.5) as receiver:  # slow: the kill lands while deliveries are being POSTed
        try:
            subscription = await subscribe(stack, admin, receiver, ["filed", "escalated"])

            async def case(i: int) -> str:
                body = {"unit": "compound-a1x", "category": "lighting", "title": f"lamp {i}", "description": "dark",
                        "reporter": {"name": "王阿姨", "phone": "13800138000"}}  # fmt: skip
                filed = await eventually(
                    lambda: stack.http.post("/v1/cases", json=body, headers={**caseworker, "Idempotency-Key": f"f{i}"}),
                    lambda r: r.status_code != 503, interval=0.5, timeout=60,
                )  # fmt: skip
                assert filed.status_code == 201, filed.text
                cid = str(filed.json()["id"])
                for action, fields in (("submit", {}), ("escalate", {"note": "beyond the compound"})):
                    keyed = {**caseworker, "Idempotency-Key": f"{action}{i}"}
                    answer = await eventually(
                        lambda a=action, k=keyed, f=fields: stack.act(cid, a, k, f),  # type: ignore[misc]
                        lambda r: r.status_code != 503, interval=0.5, timeout=60,
                    )  # fmt: skip
                    assert answer.status_code == 200, answer.text
                return cid

            cases = await asyncio.gather(*(case(i) for i in range(12)))
            await eventually(lambda: asyncio.sleep(0, len(receiver.received)), lambda n: n >= 3, timeout=30)
            worker.kill()
            await asyncio.sleep(1)
            worker.start()
            rows = await eventually(lambda: deliveries(stack, subscription["id"]), lambda rows: len(rows) == 24
                                    and all_settled(rows), timeout=120)  # fmt: skip
        finally:
            worker.stop()
    assert {r.status for r in rows} == {"delivered"}
    for cid in cases:
        assert receiver.events(cid) == ["filed", "escalated"]
