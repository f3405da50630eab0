"""Limits on every request body, applied before any route or parser sees it.

A body larger than its limit is a 413; JSON nested deeper than ``MAX_DEPTH`` is a 422. Parsers recurse
once per level (Python's ``json``, pydantic, the Temporal SDK's protobuf reader of uploaded histories), so
a few kilobytes of brackets would otherwise end as a RecursionError and a 500. The middleware reads the
whole body first, so a refused request never reaches a route and nothing is half applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import WHEN, ApiError, error_response, payload_too_large, unprocessable

# Deep enough for anything linli takes (an exported Temporal history nests 10 levels), and far below where
# any parser on the way runs out of stack.
MAX_DEPTH = 64

# The scan works on the body's brackets and quotes only, each step a C loop over bytes (no Python code runs
# per byte or per string): escapes go first, so every quote left delimits a string; then the strings.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_ALL_BUT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether any point of ``body`` lies inside more than ``limit`` open arrays or objects.

    Brackets inside strings do not count. Unbalanced input does: a parser recurses on an opening bracket
    long before it finds that the closing one never comes.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # too few brackets to nest that deep: the common case, two C scans
    if b"\x00" in body or body.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 or UTF-32, which ``json.loads`` reads too: a byte 0x22 need not be a quote, so strings
        # cannot be told apart; count every bracket, which can only err towards refusing.
        marks = body.translate(None, _ALL_BUT_MARKS).replace(b'"', b"")
    else:
        if b"\\" in body:
            body = _ESCAPE.sub(b"", body)
        # Two adjacent quotes enclose nothing, or join two strings with nothing between: either way they
        # can go. That removes most strings (those without brackets) at once; the regex takes the rest.
        marks = _STRING.sub(b"", body.translate(None, _ALL_BUT_MARKS).replace(b'""', b""))
        marks = marks.replace(b'"', b"")  # an unterminated string's quote: what follows it still counts
    if marks.count(b"[") + marks.count(b"{") <= limit:
        return False
    deepest: int = max(accumulate(map(_STEP.__getitem__, marks)))
    return deepest > limit


def _is_json(scope: Scope) -> bool:
    """Whether the framework will parse the body as JSON: declared so, or not declared at all."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
    return True


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimits:
    """ASGI middleware: reads each request's body within its size limit, checks its nesting, then passes
    it on. ``larger`` gives some routes (``(method, path)``) a limit of their own."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, larger: Mapping[tuple[str, str], int] | None = None) -> None:
        self.app, self.max_bytes, self.larger = app, max_bytes, dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get((scope["method"], _route_path(scope)), self.max_bytes)
        try:
            body = await _read_body(scope, receive, limit)
            if body is None:
                return  # the client went away before sending all of it: there is nobody to answer
            if _is_json(scope) and nested_deeper_than(body, MAX_DEPTH):
                raise unprocessable(f"the body is nested deeper than {MAX_DEPTH} levels of arrays and objects")
        except ApiError as refusal:
            await error_response(refusal)(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    # Content-Length lets a too large body be refused unread; it is not trusted beyond that, and a chunked
    # body (no Content-Length) is counted as it arrives.
    declared = _declared_length(scope)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return payload_too_large(f"the body is larger than this route takes ({limit} bytes)")


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then whatever comes next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def document_limits(app: FastAPI) -> None:
    """Declare the 413 in the OpenAPI document, on every operation that takes a body (the 422 they have)."""
    generate = app.openapi
    too_large = {
        "description": WHEN[413],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }

    def openapi() -> dict[str, Any]:
        schema = generate()  # built once and kept by FastAPI; adding again changes nothing
        for operations in schema["paths"].values():
            for operation in operations.values():
                if "requestBody" in operation:
                    operation["responses"].setdefault("413", too_large)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
