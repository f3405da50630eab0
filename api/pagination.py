"""Keyset pagination: lists are ``{"items": [...], "next_cursor": null | "..."}``; cursors are opaque."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator

from api.errors import unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type) -> list[Any]:
    """The key a cursor stands for, one value of each of ``kinds``; a cursor not of ours is a 422, not a 500."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(kinds):
            raise ValueError
        return [_cursor_value(value, kind) for value, kind in zip(key, kinds, strict=True)]
    except ValueError:  # also a bad base64 alphabet, bytes that are not UTF-8, JSON that is not JSON
        raise unprocessable("cursor is not valid: pass back a next_cursor from a previous page") from None


def _cursor_value(value: Any, kind: type) -> Any:
    # The values go into SQL: a wrong type, or a NUL that PostgreSQL cannot hold, would fail there as a 500.
    if kind is datetime and isinstance(value, str):
        return _in_utc(datetime.fromisoformat(value))
    if type(value) is not kind or (isinstance(value, str) and "\x00" in value):
        raise ValueError
    return value


def _in_utc(moment: datetime) -> datetime:
    """One without a zone is taken as UTC; one with no UTC equivalent (year 1 at +08:00) is refused."""
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _not_a_number(value: Any) -> Any:
    # pydantic would take "0.0" or "1700000000" for Unix time; the contract's times are ISO 8601.
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        raise ValueError("a time is ISO 8601 (2026-11-01 or 2026-11-01T08:00:00+08:00), not a number")
    return value


# A time in a query string (``?since=``, ``?from=``): ISO 8601, in UTC once parsed.
QueryTime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc)]
