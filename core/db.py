"""The database engine. Built by a function, never at import time, so tests and processes choose their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core import tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def async_url(url: str) -> str:
    """``sqlite:///x.db`` / ``postgresql://…`` as given by operators, with the async driver we ship."""
    if url.startswith("sqlite:///") or url == "sqlite://":
        return url.replace("sqlite://", "sqlite+aiosqlite://", 1)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets the API read while the worker writes; the busy timeout makes writers queue, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x6C696E6C69  # "linli": one PostgreSQL advisory lock id for everyone migrating


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Bring the database to the newest migration. Safe when many processes start at once."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Concurrent CREATE TABLEs on PostgreSQL collide on the catalog; take turns instead.
            await connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def upsert(engine: AsyncEngine, table: Any, key: list[str], *, version: str | None = None) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE: the last write for a key wins, and a key is never written twice.

    Every column but the key and the primary key is overwritten (a surrogate id stays as first written).

    With ``version``, a row already there is updated only if that column is not greater than the new
    row's (so an older version never overwrites a newer one).
    """
    dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table)
    where = None if version is None else table.c[version] <= statement.excluded[version]
    return statement.on_conflict_do_update(
        index_elements=key,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in key and not c.primary_key},
        where=where,
    )
