"""Keyset pagination: lists are ``{"items": [...], "next_cursor": null | "..."}``; cursors are opaque."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from api.errors import unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The key a cursor stands for; a cursor that is not one of ours is a 422, not a 500."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise unprocessable("cursor is not valid: pass back a next_cursor from a previous page") from None
    if not isinstance(key, list) or len(key) != arity:
        raise unprocessable("cursor is not valid: pass back a next_cursor from a previous page")
    return key


def as_utc(moment: datetime | None) -> datetime | None:
    """A time from a query string: one without a zone is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
