"""The migrations build exactly the schema the code describes, on SQLite and PostgreSQL, run twice, and carry
rows written by an older schema forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import MIGRATIONS, create_engine, upgrade_schema
from core.tables import CaseRecord


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


def _upgrade_to(connection: Connection, revision: str) -> None:
    """``upgrade_schema``, stopped at ``revision``: the database as an older linli left it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_cases_filed_before_the_clock_read_as_normal_and_running(database_url: str) -> None:
    """A case row written at revision 0002 (before urgency and suspension existed) comes through the upgrade
    as v2 reads it: normal urgency, not suspended, its deadline not provisional, the rest untouched."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to, "0002")
            # As the column type writes them: naive UTC on SQLite, timestamptz on PostgreSQL.
            sqlite = connection.dialect.name == "sqlite"
            filed = datetime(2026, 11, 5, 8, tzinfo=None if sqlite else UTC)
            await connection.execute(
                text(
                    "INSERT INTO cases (id, number, unit, community, town, unit_path, handling_unit, category, title,"
                    " stage, tier, status, deadline, overdue, escalation_count, sla_breaches, filed_by, filed_at,"
                    " updated_at, version, view) VALUES ('c2026old', '2026-000001', 'compound-a1x', 'community-a1',"
                    " 'town-a', '/town-a/community-a1/compound-a1x/', 'compound-a1x', 'drainage', 'Blocked drain',"
                    " 'reviewing', 'compound', 'open', :deadline, false, 0, 0, 'p1', :filed, :filed, 2, '{}')"
                ),
                {"filed": filed, "deadline": filed + timedelta(days=2)},
            )
        await upgrade_schema(engine)

        async with AsyncSession(engine) as db:
            case = await db.get(CaseRecord, "c2026old")
        assert case is not None
        assert (case.urgency, case.suspended, case.deadline_provisional) == ("normal", False, False)
        assert (case.title, case.stage, case.deadline) == (
            "Blocked drain",
            "reviewing",
            datetime(2026, 11, 7, 8, tzinfo=UTC),
        )
    finally:
        await engine.dispose()
