"""Issuing and revoking tokens (the `linli token` commands and the admin's bootstrap token)."""

from __future__ import annotations

import secrets

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import hash_token, new_token
from core.tables import Principal, Unit, now_utc
from workflows.model import Role

# Roles that act inside a unit need one; the others may be scoped to one or see everything.
ROLES_NEEDING_UNIT = frozenset({Role.RESIDENT, Role.CASEWORKER, Role.SUPERVISOR})
ISSUABLE_ROLES = tuple(r for r in Role if r is not Role.SYSTEM)


class TokenError(ValueError):
    pass


async def issue_token(engine: AsyncEngine, *, role: str, name: str, unit: str | None) -> tuple[str, Principal]:
    """Create a principal and return its token, which is shown once and stored only as a hash."""
    try:
        parsed = Role(role)
    except ValueError:
        raise TokenError(f"unknown role {role!r}; one of: {', '.join(ISSUABLE_ROLES)}") from None
    if parsed is Role.SYSTEM:
        raise TokenError("the system role is the workflow's own and cannot hold a token")
    if parsed in ROLES_NEEDING_UNIT and not unit:
        raise TokenError(f"a {parsed} acts within a unit: give --unit CODE")
    if not name.strip():
        raise TokenError("a token needs a --name: the person or system it is for")
    async with AsyncSession(engine) as db:
        if unit and await db.get(Unit, unit) is None:
            raise TokenError(f"no unit with code {unit!r} (see `linli units import`)")
        token = new_token()
        principal = Principal(
            id=secrets.token_hex(6),
            name=name.strip(),
            role=parsed.value,
            unit_code=unit,
            token_hash=hash_token(token),
        )
        db.add(principal)
        await db.commit()
        await db.refresh(principal)
    return token, principal


async def revoke_token(engine: AsyncEngine, *, token: str | None = None, principal_id: str | None = None) -> int:
    """Revoke by the token itself or by the principal's id; returns how many tokens were revoked."""
    if not token and not principal_id:
        raise TokenError("give the token or --id of the principal to revoke")
    condition = Principal.token_hash == hash_token(token) if token else Principal.id == principal_id
    async with engine.begin() as db:
        result = await db.execute(
            update(Principal).where(condition, Principal.revoked_at.is_(None)).values(revoked_at=now_utc())  # type: ignore[union-attr,arg-type]
        )
    return int(result.rowcount)


BOOTSTRAP_NAME = "linli up"


async def issue_bootstrap_token(engine: AsyncEngine) -> str:
    """The admin token `linli up` prints: a new one at each start, and the previous start's revoked.

    Only a token's hash is stored, so the old one cannot be shown again; leaving it valid would mean one
    more live admin token per restart, each sitting in some terminal's scrollback.
    """
    async with engine.begin() as db:
        await db.execute(
            update(Principal)
            .where(Principal.name == BOOTSTRAP_NAME, Principal.role == Role.ADMIN.value,  # type: ignore[arg-type]
                   Principal.unit_code.is_(None), Principal.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(revoked_at=now_utc())
        )  # fmt: skip
    token, _ = await issue_token(engine, role=Role.ADMIN.value, name=BOOTSTRAP_NAME, unit=None)
    return token
