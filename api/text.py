"""Text the read model can store: PostgreSQL's text cannot hold U+0000, so no request may bring one in.

Refused at the door (a 422), because past it the text would travel into a case's workflow and make its
projection into the read model fail on every retry.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

NO_NUL = r"^[^\x00]*$"  # a ``pattern=`` for single strings (query parameters, headers)


def has_nul(value: Any) -> bool:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def refuse_nul(value: T) -> T:
    """A pydantic after-validator for a whole body: any string in it with a NUL makes it invalid."""
    if has_nul(value):
        raise ValueError("text must not contain the NUL character (U+0000)")
    return value
