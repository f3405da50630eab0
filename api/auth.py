"""Bearer tokens: random, stored only as SHA-256 hashes, each with a role and a jurisdiction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.tables import Principal, Unit
from workflows.model import Actor, Role

TOKEN_PREFIX = "linli_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """The authenticated principal behind a request."""

    id: str
    name: str
    role: Role
    unit_code: str | None
    unit_path: str | None  # None: the whole system (admins, auditors without a unit)

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, name=self.name, role=self.role)

    def covers(self, path: str) -> bool:
        """Is the unit at ``path`` this caller's unit or under it?"""
        return self.unit_path is None or path.startswith(self.unit_path)


async def caller_for_token(db: AsyncSession, token: str) -> Caller | None:
    row = (
        await db.exec(
            select(Principal, Unit.path)
            .outerjoin(Unit, Unit.code == Principal.unit_code)  # type: ignore[arg-type]
            .where(Principal.token_hash == hash_token(token), Principal.revoked_at.is_(None))  # type: ignore[union-attr]
        )
    ).first()
    if row is None:
        return None
    principal, path = row
    return Caller(principal.id, principal.name, Role(principal.role), principal.unit_code, path)
