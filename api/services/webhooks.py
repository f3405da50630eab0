"""Webhook subscriptions and their delivery logs, as admins manage and read them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, Field, UrlConstraints, field_validator
from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from api.auth import Caller
from api.errors import forbidden, not_found, unprocessable
from api.services.units import get_unit
from api.text import NO_NUL
from core.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription
from core.webhooks import EVENTS
from workflows import WEBHOOK_TYPE, webhook_workflow_id
from workflows.model import Strict
from workflows.webhooks import DeliveryRun

EventName = Literal[
    "filed",
    "escalated",
    "dispatched",
    "returned",
    "claim_overdue",
    "deadline_approaching",
    "overdue",
    "urged",
    "supervised",
    "decision_announced",
    "suspended",
    "resumed",
    "closed",
]  # fmt: skip  (core.webhooks.EVENTS; a test keeps the two the same)

Url = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]


def _distinct(events: list[EventName]) -> list[EventName]:
    return sorted(set(events), key=EVENTS.index)


class NewWebhook(Strict):
    url: Url = Field(description="where deliveries are POSTed (http or https)")
    events: Annotated[list[EventName], AfterValidator(_distinct)] = Field(min_length=1, max_length=len(EVENTS))
    unit: str | None = Field(default=None, max_length=64, pattern=NO_NUL,
                             description="a unit's code: its subtree's cases only; default: yours")  # fmt: skip
    secret: str = Field(min_length=16, max_length=200, pattern=NO_NUL,
                        description="signs each delivery (X-Linli-Signature); not shown again")  # fmt: skip

    @field_validator("secret")
    @classmethod
    def _not_blank(cls, secret: str) -> str:
        if not secret.strip():
            raise ValueError("the secret must not be blank")
        return secret


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    unit: str | None
    created_by: str
    created_at: datetime
    active: bool


class AttemptPublic(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    id: str = Field(description="the X-Linli-Delivery header: the same on every attempt")
    event: str
    case_id: str
    seq: int
    at: datetime = Field(description="when the case event happened")
    status: str = Field(description="pending | delivered | gone (410) | failed (24 h of retries) | cancelled")
    attempts: list[AttemptPublic]
    created_at: datetime
    delivered_at: datetime | None


def webhook_public(w: WebhookSubscription) -> WebhookPublic:
    return WebhookPublic(id=w.id, url=w.url, events=w.events, unit=w.unit, created_by=w.created_by,
                         created_at=w.created_at, active=w.active)  # fmt: skip


async def create_webhook(db: AsyncSession, caller: Caller, new: NewWebhook) -> WebhookSubscription:
    """A scoped admin's subscription covers at most its own jurisdiction."""
    unit, path = caller.unit_code, caller.unit_path or ""
    if new.unit is not None:
        found = await get_unit(db, new.unit)
        if found is None:
            raise unprocessable(f"unit {new.unit!r} does not exist")
        if not caller.covers(found.path):
            raise forbidden(f"unit {new.unit!r} is outside your jurisdiction")
        unit, path = found.code, found.path
    subscription = WebhookSubscription(
        id=uuid.uuid4().hex, url=str(new.url), events=list(new.events), unit=unit, unit_path=path,
        secret=new.secret, created_by=caller.id,
    )  # fmt: skip
    db.add(subscription)
    await db.commit()
    return subscription


def _visible(caller: Caller) -> object:
    """An admin sees the subscriptions inside its jurisdiction."""
    if caller.unit_path is None:
        return True
    path = caller.unit_path
    return and_(col(WebhookSubscription.unit_path) >= path, col(WebhookSubscription.unit_path) < path[:-1] + "0")


async def find_webhook(db: AsyncSession, caller: Caller, id: str) -> WebhookSubscription:
    """The subscription, or 404, also for one outside the caller's jurisdiction (its existence is not told)."""
    found = await db.get(WebhookSubscription, id)
    if found is None or not (caller.unit_path is None or found.unit_path.startswith(caller.unit_path)):
        raise not_found(f"no webhook {id!r}")
    return found


async def list_webhooks(db: AsyncSession, caller: Caller, after: str | None, limit: int) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(WebhookSubscription.active, _visible(caller))  # type: ignore[arg-type]
    if after is not None:
        query = query.where(col(WebhookSubscription.id) > after)
    return list((await db.exec(query.order_by(col(WebhookSubscription.id)).limit(limit + 1))).all())


async def delete_webhook(db: AsyncSession, caller: Caller, id: str) -> None:
    """Deactivated, not deleted: what was sent stays in its log; what was not is not sent."""
    found = await find_webhook(db, caller, id)
    if not found.active:
        raise not_found(f"no webhook {id!r}")
    found.active = False
    db.add(found)
    await db.commit()


async def delivery_log(
    db: AsyncSession, subscription: WebhookSubscription, after: tuple[datetime, str] | None, limit: int
) -> list[DeliveryPublic]:
    """Newest first, each with its attempts."""
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    if after is not None:
        at, id = after
        query = query.where(or_(col(WebhookDelivery.created_at) < at,
                                and_(col(WebhookDelivery.created_at) == at, col(WebhookDelivery.id) < id)))  # fmt: skip
    query = query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()).limit(limit + 1)
    deliveries = list((await db.exec(query)).all())
    ids = [d.id for d in deliveries]
    attempts: dict[str, list[AttemptPublic]] = {id: [] for id in ids}
    if ids:
        found = await db.exec(
            select(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(ids)).order_by(col(WebhookAttempt.attempt))
        )
        for a in found.all():
            attempts[a.delivery_id].append(AttemptPublic(attempt=a.attempt, at=a.at, status_code=a.status_code,
                                                         error=a.error, duration_ms=a.duration_ms))  # fmt: skip
    return [
        DeliveryPublic(
            id=d.id,
            event=d.event,
            case_id=d.case_id,
            seq=d.seq,
            at=d.at,
            status=d.status,
            attempts=attempts[d.id],
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )  # fmt: skip
        for d in deliveries
    ]


async def start_delivery(client: Client, subscription_id: str, task_queue: str) -> None:
    """The subscription's delivery workflow (workflows/webhooks.py), unless it runs already."""
    await client.start_workflow(
        WEBHOOK_TYPE, DeliveryRun(subscription_id=subscription_id), id=webhook_workflow_id(subscription_id),
        task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )  # fmt: skip


async def start_deliveries(engine: AsyncEngine, client: Client, task_queue: str) -> None:
    """Every active subscription's delivery workflow (a worker starting: in case one was never started)."""
    async with AsyncSession(engine) as db:
        ids = (await db.exec(select(WebhookSubscription.id).where(WebhookSubscription.active))).all()
    for id in ids:
        await start_delivery(client, id, task_queue)
