"""What route handlers take: the database session, the Temporal client, settings and the caller.

Every dependency is ``async def``, even those that never await: FastAPI runs a plain ``def`` dependency in
its thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.auth import Caller, caller_for_token
from api.errors import forbidden, unauthorized
from core.settings import Settings
from workflows.model import Role


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def get_client(request: Request) -> Client:
    return request.app.state.temporal  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_db(engine: Annotated[AsyncEngine, Depends(get_engine)]) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engine, expire_on_commit=False) as db:
        yield db


SessionDep = Annotated[AsyncSession, Depends(get_db)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
ClientDep = Annotated[Client, Depends(get_client)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="A token from `linli token issue`.")


async def current_caller(
    request: Request, db: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    caller = await caller_for_token(db, credentials.credentials, request.app.state.token_cache)
    if caller is None:
        raise unauthorized("unknown or revoked token")
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def require_role(*roles: Role) -> Any:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    async def check(caller: CurrentCaller) -> Caller:
        if caller.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise forbidden(f"a {caller.role} cannot do this; it needs one of: {allowed}")
        return caller

    return Depends(check)
