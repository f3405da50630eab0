"""The four rates on a fixed dataset, figures worked out by hand (README: "Supervision" has the formulas)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import Caller
from api.services.supervision import StatsReport, UnitStats, stats, stats_csv
from api.services.units import UnitTree, import_trees
from core.db import create_engine, upgrade_schema
from core.tables import CaseRecord
from tests.utils.stack import UNITS
from workflows.model import Role

NOW = datetime.now(UTC)
IN_PERIOD = datetime(2026, 11, 5, tzinfo=UTC)
BEFORE = datetime(2026, 10, 15, tzinfo=UTC)
PATHS = {
    "compound-a1x": "/town-a/community-a1/compound-a1x/",
    "compound-a1y": "/town-a/community-a1/compound-a1y/",
    "compound-a2x": "/town-a/community-a2/compound-a2x/",
    "compound-b1x": "/town-b/community-b1/compound-b1x/",
}

# n, compound, status, outcome, satisfaction, responded, sla breaches, escalations, deadline, filed
DATASET = [
    (1, "compound-a1x", "closed", "resolved", "satisfied", True, 0, 0, None, IN_PERIOD),
    (2, "compound-a1x", "closed", "resolved", "basically_satisfied", True, 1, 1, None, IN_PERIOD),
    (3, "compound-a1y", "closed", "withdrawn", "unsatisfied", True, 0, 0, None, IN_PERIOD),
    (4, "compound-a1y", "closed", "rejected", None, True, 0, 0, None, IN_PERIOD),
    (5, "compound-a1y", "closed", "merged", None, False, 0, 0, None, IN_PERIOD),
    (6, "compound-a1x", "open", None, None, True, 2, 2, NOW - timedelta(days=2), IN_PERIOD),
    (7, "compound-a2x", "open", None, None, False, 0, 0, NOW + timedelta(days=2), IN_PERIOD),
    (8, "compound-a2x", "closed", "resolved", "satisfied", True, 0, 0, None, IN_PERIOD),
    (9, "compound-b1x", "closed", "resolved", "satisfied", True, 0, 0, None, IN_PERIOD),
    (10, "compound-a2x", "closed", "resolved", "satisfied", True, 0, 0, None, BEFORE),
]


def record(n: int, unit: str, status: str, outcome: str | None, satisfaction: str | None, responded: bool,
           breaches: int, escalations: int, deadline: datetime | None, filed: datetime) -> CaseRecord:  # fmt: skip
    _, town, community, _, _ = PATHS[unit].split("/")
    return CaseRecord(
        id=f"case{n:02d}", number=f"2026-{n:06d}", unit=unit, community=community, town=town, unit_path=PATHS[unit],
        handling_path=PATHS[unit],
        handling_unit=unit, category="c", title=f"case {n}", stage="closed" if status == "closed" else "implementing",
        tier="compound", status=status, outcome=outcome, deadline=deadline, satisfaction=satisfaction,
        escalation_count=escalations, sla_breaches=breaches, filed_by="p", filed_at=filed,
        responded_at=filed + timedelta(hours=5) if responded else None, updated_at=filed, version=1, view={},
    )  # fmt: skip


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade_schema(engine)
    await import_trees(engine, [UnitTree.model_validate(u) for u in UNITS])
    async with AsyncSession(engine) as db:
        db.add_all(record(*row) for row in DATASET)
        await db.commit()
    yield engine
    await engine.dispose()


def supervisor(unit: str) -> Caller:
    path = next(p for u, p in PATHS.items() if f"/{unit}/" in p)
    return Caller("s", "supervisor", Role.SUPERVISOR, unit, path[: path.index(f"/{unit}/") + len(unit) + 2])


async def report(engine: AsyncEngine, unit: str, **period: Any) -> StatsReport:
    async with AsyncSession(engine) as db:
        return await stats(db, supervisor(unit), unit=None, period_from=period.get("since"), period_to=None)


def figures(row: UnitStats) -> tuple[Any, ...]:
    return (row.filed, row.responded, row.closed, row.handled, row.resolved, row.on_time, row.rated, row.satisfied,
            row.escalations, row.overdue_now)  # fmt: skip


def rates(row: UnitStats) -> tuple[float | None, ...]:
    return (row.response_rate, row.resolution_rate, row.satisfaction_rate, row.on_time_rate)


async def test_town_rates_by_community(engine: AsyncEngine) -> None:
    town = await report(engine, "town-a")
    a1, a2 = town.items
    assert (a1.unit, a2.unit) == ("community-a1", "community-a2")
    # community-a1 holds cases 1-6. Responded: all but the merged #5. Closed: 1-5; handled leaves out the
    # merged #5. Resolved: 1, 2. On time (handled, no breach): 1, 3, 4. Rated (closed with a visit): 1, 2, 3,
    # of which satisfied or basically satisfied: 1, 2. Escalations 1 (#2) + 2 (#6). Overdue now: #6.
    assert figures(a1) == (6, 5, 5, 4, 2, 3, 3, 2, 3, 1)
    assert rates(a1) == (round(5 / 6, 4), 0.5, round(2 / 3, 4), 0.75)
    # community-a2: cases 7, 8, 10; #7 is open, not yet responded, its deadline ahead.
    assert figures(a2) == (3, 2, 2, 2, 2, 2, 2, 2, 0, 0)
    assert rates(a2) == (round(2 / 3, 4), 1.0, 1.0, 1.0)
    # The town: the sum, never town-b's #9.
    assert figures(town.total) == (9, 7, 7, 6, 4, 5, 5, 4, 3, 1)
    assert rates(town.total) == (round(7 / 9, 4), round(4 / 6, 4), 0.8, round(5 / 6, 4))


async def test_community_rates_by_compound_and_period(engine: AsyncEngine) -> None:
    community = await report(engine, "community-a1")
    a1x, a1y = community.items
    assert figures(a1x) == (3, 3, 2, 2, 2, 1, 2, 2, 3, 1)  # cases 1, 2, 6
    assert rates(a1x) == (1.0, 1.0, 1.0, 0.5)
    assert figures(a1y) == (3, 2, 3, 2, 0, 2, 1, 0, 0, 0)  # cases 3, 4, 5
    assert rates(a1y) == (round(2 / 3, 4), 0.0, 0.0, 1.0)

    since_november = await report(engine, "town-a", since=datetime(2026, 11, 1, tzinfo=UTC))
    a2 = since_november.items[1]
    assert figures(a2) == (2, 1, 1, 1, 1, 1, 1, 1, 0, 0)  # #10 was filed in October
    assert rates(a2) == (0.5, 1.0, 1.0, 1.0)


async def test_empty_unit_has_no_rates_rather_than_zero(engine: AsyncEngine) -> None:
    town_b = await report(engine, "town-b")
    assert figures(town_b.total)[0] == 1
    compound = await report(engine, "compound-a2x")
    assert [r.unit for r in compound.items] == ["compound-a2x"]
    async with AsyncSession(engine) as db:
        caller = supervisor("town-a")
        later = await stats(db, caller, unit=None, period_from=datetime(2027, 1, 1, tzinfo=UTC), period_to=None)
    assert later.total.filed == 0 and later.total.response_rate is None


async def test_csv_has_a_line_per_unit_and_the_total(engine: AsyncEngine) -> None:
    lines = stats_csv(await report(engine, "town-a")).splitlines()
    assert lines[0].startswith("unit,name,kind,filed,responded")
    assert [line.split(",")[0] for line in lines[1:]] == ["community-a1", "community-a2", "town-a"]
    assert lines[-1].split(",")[3] == "9"
