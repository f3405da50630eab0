"""Bearer tokens: random, stored only as SHA-256 hashes, each with a role and a jurisdiction."""

from __future__ import annotations

import hashlib
import secrets
import time
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


class TokenCache:
    """Tokens verified in the last ``ttl`` seconds, so a busy client's every request is not a database query.

    The price is that revoking a token takes up to ``ttl`` seconds to reach a running API; ``ttl=0``
    checks the database on every request. Only tokens found valid are kept: a new token works at once.
    """

    def __init__(self, ttl: float, capacity: int = 10_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._entries: dict[str, tuple[float, Caller]] = {}

    def get(self, token_hash: str) -> Caller | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if time.monotonic() >= entry[0]:
            del self._entries[token_hash]
            return None
        return entry[1]

    def put(self, token_hash: str, caller: Caller) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.capacity:  # the oldest entry goes first (dicts keep insertion order)
            del self._entries[next(iter(self._entries))]
        self._entries[token_hash] = (time.monotonic() + self.ttl, caller)


async def caller_for_token(db: AsyncSession, token: str, cache: TokenCache | None = None) -> Caller | None:
    token_hash = hash_token(token)
    if cache is not None and (known := cache.get(token_hash)) is not None:
        return known
    row = (
        await db.exec(
            select(Principal, Unit.path)
            .outerjoin(Unit, Unit.code == Principal.unit_code)  # type: ignore[arg-type]
            .where(Principal.token_hash == token_hash, Principal.revoked_at.is_(None))  # type: ignore[union-attr]
        )
    ).first()
    if row is None:
        return None
    principal, path = row
    caller = Caller(principal.id, principal.name, Role(principal.role), principal.unit_code, path)
    if cache is not None:
        cache.put(token_hash, caller)
    return caller
