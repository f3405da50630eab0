"""Units: the jurisdiction tree (admins add to it; everyone reads their part of it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from sqlmodel import select

from api.deps import CurrentCaller, EngineDep, SessionDep, require_role
from api.errors import ApiError, error_responses, forbidden, unprocessable
from api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from api.services.scope import within
from api.services.units import UnitError, UnitPublic, UnitTree, import_trees, public
from core.tables import Unit
from workflows.model import Role

router = APIRouter(prefix="/v1/units", tags=["units"], responses=error_responses(401, 422))


@router.post("", status_code=201, dependencies=[require_role(Role.ADMIN)], responses=error_responses(403, 409))
async def create_units(engine: EngineDep, caller: CurrentCaller, tree: Annotated[UnitTree, Body()]) -> Page[UnitPublic]:
    """Add a tree of units (a town with its communities and compounds, or a subtree under `parent`).

    An admin scoped to a unit adds only under that unit or below it; a new town needs an unscoped admin.
    """
    try:
        created = await import_trees(engine, [tree], within=caller.unit_path)
    except UnitError as error:
        if error.outside:
            raise forbidden(str(error)) from None
        raise (ApiError(409, "conflict", str(error)) if error.conflict else unprocessable(str(error))) from None
    return Page(items=created)


@router.get("")
async def read_units(
    db: SessionDep,
    caller: CurrentCaller,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[UnitPublic]:
    """The units in the caller's jurisdiction, in tree order."""
    query = select(Unit)
    if caller.unit_path:
        query = query.where(within(Unit.path, caller.unit_path))
    if cursor:
        (after,) = decode_cursor(cursor, str)
        query = query.where(Unit.path > after)
    rows = list((await db.exec(query.order_by(Unit.path).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[public(u) for u in rows], next_cursor=encode_cursor(rows[-1].path) if more else None)
