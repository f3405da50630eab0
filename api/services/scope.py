"""Jurisdictions in queries: "this unit and everything under it" as an index range on a materialized path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func
from sqlalchemy.sql import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import Caller
from api.errors import forbidden, unprocessable
from api.services.units import get_unit
from core.tables import Unit


def within(column: Any, path: str) -> ColumnElement[bool]:
    """``column`` lies in the subtree at ``path`` (which ends in "/").

    A range rather than LIKE: both databases answer it from a plain b-tree index ("0" follows "/").
    """
    return and_(column >= path, column < path[:-1] + "0")


def within_by_scan(column: Any, path: str) -> ColumnElement[bool]:
    """``column`` lies in the subtree at ``path``, written so that no index on ``column`` is used.

    For queries another index should drive (overdue cases come in deadline order): given the range, SQLite's
    planner picks the path index and sorts a whole town's cases; this way it walks the deadline index and
    checks the path stored beside each entry.
    """
    return func.substr(column, 1, len(path)) == path


async def scope_path(db: AsyncSession, caller: Caller, unit: str | None) -> tuple[str | None, Unit | None]:
    """The subtree a query covers: the caller's jurisdiction, narrowed to ``unit`` if given.

    Returns the path (None: everything) and the unit it belongs to (None: the whole system).
    """
    if unit is None:
        own = await get_unit(db, caller.unit_code) if caller.unit_code else None
        return caller.unit_path, own
    found = await get_unit(db, unit)
    if found is None:
        raise unprocessable(f"unit {unit!r} does not exist")
    if caller.covers(found.path):
        return found.path, found
    if caller.unit_path and caller.unit_path.startswith(found.path):
        # Asking for a wider unit than one's own gives one's own part of it.
        return caller.unit_path, await get_unit(db, caller.unit_code or "")
    raise forbidden(f"unit {unit!r} is outside your jurisdiction")
