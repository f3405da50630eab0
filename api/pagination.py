"""Keyset pagination: lists are ``{"items": [...], "next_cursor": null | "..."}``; cursors are opaque.

A cursor is the page's last key as base64 JSON, signed with HMAC-SHA256 under the installation's secret
(``LINLI_CURSOR_SECRET``, else one kept in the data dir), so the API reads back only keys it wrote: any
other cursor is a 422 before it gets near a query. The values are checked as well, signed or not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import unprocessable
from core.secrets import data_dir_secret
from core.settings import Settings

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class CursorSigner:
    """Writes and reads cursors: ``<base64 of the JSON key>.<base64 of its HMAC-SHA256>``."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def encode(self, *key: Any) -> str:
        payload = _b64(json.dumps(key, default=str, separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def decode(self, cursor: str, *kinds: type) -> list[Any]:
        """The key ``cursor`` stands for, one value of each of ``kinds``; a cursor not of ours is a 422."""
        try:
            payload, signature = cursor.split(".")
            if not hmac.compare_digest(_unb64(signature), self._sign(payload)):
                raise ValueError
            key = json.loads(_unb64(payload))
            if not isinstance(key, list) or len(key) != len(kinds):
                raise ValueError
            return [_cursor_value(value, kind) for value, kind in zip(key, kinds, strict=True)]
        except ValueError:  # also a bad base64 alphabet, text that is not ASCII or UTF-8, JSON that is not JSON
            raise unprocessable("cursor is not valid: pass back a next_cursor from a previous page") from None

    def _sign(self, payload: str) -> bytes:
        return hmac.digest(self._key, payload.encode("ascii"), hashlib.sha256)


def cursor_signer(settings: Settings) -> CursorSigner:
    """The installation's signer. Every process on one machine shares the data dir's secret; several
    machines behind one address must be given the same ``LINLI_CURSOR_SECRET``."""
    if settings.cursor_secret is not None:
        return CursorSigner(settings.cursor_secret.get_secret_value())
    return CursorSigner(data_dir_secret(settings.data_dir / "cursor-secret", lambda: secrets.token_urlsafe(32)))


# The signer of the app serving the current request, so that routes and services page with one call.
_SIGNER: ContextVar[CursorSigner] = ContextVar("cursor_signer")


class CursorSigning:
    """ASGI middleware: while it serves a request, cursors are written and read with ``signer``."""

    def __init__(self, app: ASGIApp, *, signer: CursorSigner) -> None:
        self.app, self.signer = app, signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _SIGNER.set(self.signer)
        try:
            await self.app(scope, receive, send)
        finally:
            _SIGNER.reset(token)


def encode_cursor(*key: Any) -> str:
    return _SIGNER.get().encode(*key)


def decode_cursor(cursor: str, *kinds: type) -> list[Any]:
    return _SIGNER.get().decode(cursor, *kinds)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    # Strict (the default skips characters outside the alphabet); both failures are ValueErrors: text that
    # is not ASCII, and binascii.Error.
    return base64.b64decode(text.encode("ascii") + b"=" * (-len(text) % 4), altchars=b"-_", validate=True)


INT64 = range(-(2**63), 2**63)


def _cursor_value(value: Any, kind: type) -> Any:
    # The values go into SQL: anything a real page never yields would fail there, as a 500.
    if kind is datetime and isinstance(value, str):
        return _in_utc(datetime.fromisoformat(_text(value)))
    if type(value) is not kind:  # also refuses True for an int
        raise ValueError
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int) and value not in INT64:  # past a BIGINT; SQLite overflows binding it
        raise ValueError
    return value


def _text(value: str) -> str:
    # A lone surrogate is not UTF-8 (SQLite cannot bind it; encode raises UnicodeEncodeError, a
    # ValueError); PostgreSQL cannot hold a NUL.
    if "\x00" in value:
        raise ValueError
    value.encode("utf-8")
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
