"""The migrations build exactly the schema the code describes, on SQLite and PostgreSQL, and run twice."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlmodel import SQLModel

from core.db import create_engine, upgrade_schema


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        await upgrade_schema(engine)  # a second start finds nothing to do

        def differences(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            return list(compare_metadata(context, SQLModel.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
