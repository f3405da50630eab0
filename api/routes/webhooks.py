"""Webhooks: subscriptions (admins), and each one's delivery log (DESIGN.md, "Telling people")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Body, Path, Query, Response
from temporalio.service import RPCError

from api.deps import ClientDep, CurrentCaller, SessionDep, SettingsDep, require_role
from api.errors import ApiError, error_responses
from api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from api.services.webhooks import (
    DeliveryPublic,
    NewWebhook,
    WebhookPublic,
    create_webhook,
    delete_webhook,
    delivery_log,
    find_webhook,
    list_webhooks,
    start_delivery,
    webhook_public,
)
from workflows.model import Role

log = structlog.get_logger(__name__)

router = APIRouter(
    prefix="/v1/webhooks", tags=["webhooks"], dependencies=[require_role(Role.ADMIN)],
    responses=error_responses(401, 403, 422, 503),
)  # fmt: skip

WebhookId = Annotated[str, Path(max_length=32, pattern=r"^[0-9a-f]{1,32}$")]


@router.post("", status_code=201)
async def subscribe(
    db: SessionDep, client: ClientDep, settings: SettingsDep, caller: CurrentCaller, new: Annotated[NewWebhook, Body()]
) -> WebhookPublic:
    """Subscribe a receiver to events of the cases in a unit's subtree (default: your jurisdiction).

    Each delivery is a JSON POST signed with the secret (`X-Linli-Signature: sha256=<hex HMAC-SHA256>`),
    retried with backoff for up to 24 hours until the receiver answers 2xx; 410 ends that delivery."""
    created = await create_webhook(db, caller, new)
    try:
        await start_delivery(client, created.id, settings.task_queue)
    except RPCError as error:  # without its workflow nothing would be delivered: not made after all
        created.active = False
        db.add(created)
        await db.commit()
        log.warning("webhook not made: its delivery workflow did not start", error=str(error))
        raise ApiError(503, "temporal_unavailable", "Temporal did not answer: the subscription was not made") from None
    return webhook_public(created)


@router.get("")
async def read_webhooks(
    db: SessionDep,
    caller: CurrentCaller,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[WebhookPublic]:
    """The active subscriptions in your jurisdiction (secrets are never shown)."""
    after = decode_cursor(cursor, str)[0] if cursor else None
    rows = await list_webhooks(db, caller, after, limit)
    more, rows = len(rows) > limit, rows[:limit]
    return Page(items=[webhook_public(w) for w in rows], next_cursor=encode_cursor(rows[-1].id) if more else None)


@router.delete("/{webhook_id}", status_code=204, responses=error_responses(404))
async def unsubscribe(db: SessionDep, caller: CurrentCaller, webhook_id: WebhookId) -> Response:
    """Stop delivering: what is still pending is not sent; the delivery log stays readable."""
    await delete_webhook(db, caller, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", responses=error_responses(404))
async def read_deliveries(
    db: SessionDep,
    caller: CurrentCaller,
    webhook_id: WebhookId,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[DeliveryPublic]:
    """The subscription's deliveries, newest first, each with every attempt and what the receiver answered."""
    subscription = await find_webhook(db, caller, webhook_id)
    after = tuple(decode_cursor(cursor, datetime, str)) if cursor else None
    rows = await delivery_log(db, subscription, after, limit)
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more else None
    return Page(items=rows, next_cursor=next_cursor)
