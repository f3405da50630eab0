"""Webhook deliveries: the outbox rows the projection writes, and the activities that deliver them.

The projection writes a case's deliveries in the transaction that writes its events (``delivery_rows``);
the subscription's delivery workflow (workflows/webhooks.py) takes them on with ``fetch_deliveries`` and
POSTs each with ``deliver``. Delivery is at least once: a receiver that answered but whose answer was lost
(a worker killed mid-POST) is sent the same delivery again, with the same ``X-Linli-Delivery`` id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Row, and_, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription
from core.webhooks import delivery_body, delivery_id, in_scope, signature, webhook_events
from workflows import DELIVER, FETCH_DELIVERIES, GIVE_UP
from workflows.model import ProjectCase
from workflows.policy import handling_path
from workflows.webhooks import Fetched, FetchRequest, Pending

SUBSCRIPTIONS = WebhookSubscription.__table__  # type: ignore[attr-defined]
DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]
ATTEMPTS = WebhookAttempt.__table__  # type: ignore[attr-defined]

POLL_SECONDS = 0.25  # how often a waiting fetch looks at the outbox again
USER_AGENT = "linli-webhooks/1"


def active_subscriptions() -> Any:
    return select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.events, SUBSCRIPTIONS.c.unit_path).where(SUBSCRIPTIONS.c.active)


def delivery_rows(subscriptions: Sequence[Row[Any]], changes: Iterable[ProjectCase]) -> list[dict[str, Any]]:
    """The deliveries the changes' events owe the subscriptions: one per subscription and webhook event."""
    if not subscriptions:
        return []
    now = datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    for change in changes:
        case, units = change.view, change.units
        here = handling_path(case, units)
        scoped = [s for s in subscriptions if in_scope(s.unit_path, units.path, here)]
        for event in change.events:
            for position, name in enumerate(webhook_events(event)):
                for subscription in scoped:
                    if name not in subscription.events:
                        continue
                    id = delivery_id(subscription.id, case.id, event.seq, name)
                    rows[id] = {
                        "id": id, "subscription_id": subscription.id, "case_id": case.id, "seq": event.seq,
                        "position": position, "event": name, "at": event.at,
                        "body": delivery_body(id, name, event, case), "status": "pending", "attempts": 0,
                        "created_at": now, "handed_off": False,
                    }  # fmt: skip
    return list(rows.values())


def insert_deliveries(engine: AsyncEngine) -> Any:
    """A retried projection writes the same ids again: the newest body wins while nothing was sent yet, and a
    delivery already under way is left alone."""
    dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(DELIVERIES)
    return statement.on_conflict_do_update(
        index_elements=["id"],
        set_={"body": statement.excluded.body, "at": statement.excluded.at},
        where=and_(DELIVERIES.c.status == "pending", DELIVERIES.c.attempts == 0),
    )


class Deliveries:
    """The delivery activities; the worker registers the bound methods."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._http: httpx.AsyncClient | None = None

    @activity.defn(name=FETCH_DELIVERIES)
    async def fetch(self, request: FetchRequest) -> Fetched:
        """The subscription's pending deliveries that this run of its workflow has not taken on, oldest
        first, marked as taken by ``request.claim``; waits up to ``wait_seconds`` for some to appear.

        Taken by this very fetch (a retry of it) or by an earlier run (ended, or killed): taken again. Only
        what an earlier fetch of this run took is left out: the run has it in hand.
        """
        run_id = request.claim.split("/", 1)[0]
        mine = and_(DELIVERIES.c.subscription_id == request.subscription_id, DELIVERIES.c.status == "pending")
        free = or_(DELIVERIES.c.claimed_by.is_(None), DELIVERIES.c.claimed_by == request.claim,
                   not_(DELIVERIES.c.claimed_by.startswith(f"{run_id}/", autoescape=True)))  # fmt: skip
        query = (
            select(DELIVERIES.c.id, DELIVERIES.c.case_id)
            .where(mine, free)
            .order_by(DELIVERIES.c.created_at, DELIVERIES.c.case_id, DELIVERIES.c.seq, DELIVERIES.c.position)
            .limit(request.limit)
        )
        deadline = time.monotonic() + request.wait_seconds
        while True:
            async with self.engine.begin() as db:
                active = await db.scalar(
                    select(SUBSCRIPTIONS.c.active).where(SUBSCRIPTIONS.c.id == request.subscription_id)
                )
                if not active:  # deleted: what it had not yet been sent is not sent
                    await db.execute(update(DELIVERIES).where(mine).values(status="cancelled"))
                    return Fetched(deliveries=[], active=False)
                rows = (await db.execute(query)).all()
                if rows:
                    ids = [r.id for r in rows]
                    await db.execute(
                        update(DELIVERIES).where(DELIVERIES.c.id.in_(ids)).values(claimed_by=request.claim)
                    )
                    return Fetched(deliveries=[Pending(id=r.id, case_id=r.case_id) for r in rows], active=True)
            if time.monotonic() >= deadline:
                return Fetched(deliveries=[], active=True)
            activity.heartbeat()
            await asyncio.sleep(POLL_SECONDS)

    @activity.defn(name=DELIVER)
    async def deliver(self, id: str) -> str:
        """One POST. 2xx: delivered; 410: the receiver wants no more of it (gone); anything else: raised, so
        Temporal retries it with backoff (workflows/webhooks.py)."""
        query = (
            select(
                DELIVERIES.c.body,
                DELIVERIES.c.event,
                DELIVERIES.c.status,
                SUBSCRIPTIONS.c.url,
                SUBSCRIPTIONS.c.secret,
                SUBSCRIPTIONS.c.active,
            )  # fmt: skip
            .join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == DELIVERIES.c.subscription_id)
            .where(DELIVERIES.c.id == id)
        )
        async with self.engine.connect() as db:
            row = (await db.execute(query)).first()
        if row is None or row.status != "pending":
            return row.status if row is not None else "missing"
        if not row.active:
            await self._finish(id, "cancelled")
            return "cancelled"
        attempt = activity.info().attempt
        body = row.body.encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Linli-Event": row.event,
            "X-Linli-Delivery": id,
            "X-Linli-Attempt": str(attempt),
            "X-Linli-Signature": signature(body, row.secret),
        }
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            response = await self.http().post(row.url, content=body, headers=headers)
            code = response.status_code
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        status = "delivered" if code is not None and 200 <= code < 300 else "gone" if code == 410 else "pending"
        await self._record(id, attempt, code, error, int((time.monotonic() - started) * 1000), status)
        if status == "pending":
            activity.metric_meter().create_counter(
                "linli_webhook_attempts_failed", "webhook delivery attempts that did not succeed"
            ).add(1)
            raise ApplicationError(
                f"receiver answered {code}" if code else (error or "no answer"), type="DeliveryFailed"
            )
        return status

    @activity.defn(name=GIVE_UP)
    async def give_up(self, id: str) -> None:
        await self._finish(id, "failed")

    async def _record(self, id: str, attempt: int, code: int | None, error: str | None, ms: int, status: str) -> None:
        now = datetime.now(UTC)
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        attempt_row = {"delivery_id": id, "attempt": attempt, "at": now, "status_code": code, "error": error,
                       "duration_ms": ms}  # fmt: skip
        changes: dict[str, Any] = {"attempts": attempt, "last_status": code, "last_error": error, "status": status}
        if status == "delivered":
            changes["delivered_at"] = now
        async with self.engine.begin() as db:
            await db.execute(dialect.insert(ATTEMPTS).values(attempt_row).on_conflict_do_nothing())
            await db.execute(update(DELIVERIES).where(DELIVERIES.c.id == id).values(changes))

    async def _finish(self, id: str, status: str) -> None:
        async with self.engine.begin() as db:
            pending = and_(DELIVERIES.c.id == id, DELIVERIES.c.status == "pending")
            await db.execute(update(DELIVERIES).where(pending).values(status=status))

    def http(self) -> httpx.AsyncClient:
        if self._http is None:  # made in the worker's loop, on first use
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=False)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
