"""The ranking (考核) and the pending queue on a fixed dataset, figures worked out by hand (README: "Ranking
(考核)" has the formula). Default policy: weights response 30, resolution 35, satisfaction 35 (Σ 100); penalty
points yellow card 5, red card 10, claim overdue 1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import Caller
from api.errors import ApiError
from api.services.supervision import (
    PendingItem,
    PendingKind,
    RankingReport,
    ReturnDetail,
    UnitRank,
    competition_ranks,
    pending,
    period_bounds,
    ranking,
    ranking_csv,
)
from api.services.units import UnitTree, import_trees
from core.db import create_engine, upgrade_schema
from core.tables import CaseRecord
from tests.utils.stack import UNITS, Stack
from workflows.model import Role, SlaPolicy, tier_of
from workflows.policy import build_policy

NOW = datetime.now(UTC)
NOV = datetime(2026, 11, 10, tzinfo=UTC)
NOV_LAST = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)  # still November
OCT_FIRST = datetime(2026, 10, 1, tzinfo=UTC)  # not November, but the first moment of Q4
DEC_FIRST = datetime(2026, 12, 1, tzinfo=UTC)  # the end of November is exclusive
PATHS = {
    "town-a": "/town-a/",
    "community-a1": "/town-a/community-a1/",
    "community-a2": "/town-a/community-a2/",
    "compound-a1x": "/town-a/community-a1/compound-a1x/",
    "compound-a1y": "/town-a/community-a1/compound-a1y/",
    "compound-a2x": "/town-a/community-a2/compound-a2x/",
    "compound-b1x": "/town-b/community-b1/compound-b1x/",
}

# n, compound, status, outcome, satisfaction, responded, sla breaches, claims due, claims overdue, yellow, red, filed
RANKED = [
    (1, "compound-a1x", "closed", "resolved", "satisfied", True, 0, 1, 0, 0, 0, NOV),
    (2, "compound-a1x", "closed", "resolved", "unsatisfied", True, 1, 1, 1, 1, 0, NOV),
    (3, "compound-a1x", "open", None, None, True, 0, 2, 1, 0, 1, NOV),
    (4, "compound-a1y", "closed", "resolved", "satisfied", True, 0, 1, 0, 2, 0, NOV),
    (5, "compound-a1y", "closed", "withdrawn", "satisfied", True, 1, 2, 2, 1, 0, NOV),
    (6, "compound-a2x", "closed", "resolved", "satisfied", True, 0, 1, 0, 0, 0, NOV),
    (7, "compound-a2x", "open", None, None, False, 0, 1, 0, 0, 0, NOV),
    (8, "compound-a2x", "closed", "resolved", "basically_satisfied", True, 0, 0, 0, 0, 0, NOV_LAST),
    (9, "compound-a2x", "closed", "resolved", "satisfied", True, 0, 1, 1, 0, 1, OCT_FIRST),
    (10, "compound-b1x", "open", None, None, False, 0, 1, 1, 1, 0, NOV),
    (11, "compound-a2x", "closed", "resolved", "satisfied", True, 0, 1, 1, 0, 1, DEC_FIRST),
]


def ranked(n: int, unit: str, status: str, outcome: str | None, satisfaction: str | None, responded: bool,
           breaches: int, claims_due: int, claims_overdue: int, yellow: int, red: int,
           filed: datetime) -> CaseRecord:  # fmt: skip
    return record(
        f"case{n:02d}", unit, status=status, outcome=outcome, satisfaction=satisfaction, sla_breaches=breaches,
        responded_at=filed + timedelta(hours=5) if responded else None, claims_due=claims_due,
        claims_overdue=claims_overdue, yellow_cards=yellow, red_cards=red, filed_at=filed,
    )  # fmt: skip


def record(case_id: str, unit: str, *, handling: str | None = None, **columns: Any) -> CaseRecord:
    """A case filed at ``unit``, handled at ``handling`` (default: ``unit``)."""
    _, town, community, _, _ = PATHS[unit].split("/")
    handling = handling or unit
    filed = columns.pop("filed_at", NOV)
    status = columns.pop("status", "open")
    return CaseRecord(
        id=case_id, number=f"2026-{case_id}", unit=unit, community=community, town=town, unit_path=PATHS[unit],
        handling_unit=handling, handling_path=PATHS[handling], tier=tier_of(PATHS[handling]).value,
        category="c", title=f"case {case_id}", stage="closed" if status == "closed" else "implementing",
        status=status, filed_by="p", filed_at=filed, updated_at=filed, version=1, view=columns.pop("view", {}),
        **columns,
    )  # fmt: skip


# What waits on whom. Filed in September: outside every period ranked here. Times relative to now.
def waiting(case_id: str, unit: str, kind: str, days_ago: int, due: datetime | None, **columns: Any) -> CaseRecord:
    since = NOW - timedelta(days=days_ago)
    return record(case_id, unit, filed_at=datetime(2026, 9, 10, tzinfo=UTC), waiting=kind, waiting_since=since,
                  waiting_due=due, **columns)  # fmt: skip


def returned(from_unit: str, reason: str, days_ago: int) -> dict[str, Any]:
    at = (NOW - timedelta(days=days_ago)).isoformat()
    explanation = f"not for {from_unit}"
    return {"pending_return": {"from_unit": from_unit, "from_path": PATHS[from_unit], "reason": reason,
                               "explanation": explanation, "at": at}}  # fmt: skip


CLAIM_LATE, CLAIM_DUE, CASE_DUE = NOW - timedelta(days=3), NOW + timedelta(days=1), NOW + timedelta(days=2)
RETURNS = {"w3": returned("compound-a1y", "not_our_remit", 5), "w5": returned("community-a2", "wrong_jurisdiction", 1)}
EXTENSION = {"extension_request": {"days": 5, "reason": "waiting for parts", "by": "李师傅", "by_id": "p-li",
                                   "at": (NOW - timedelta(days=3)).isoformat()}}  # fmt: skip


def waiting_rows() -> list[CaseRecord]:
    """Fresh rows each time (a row once saved belongs to its database)."""
    return [
        # w1: unclaimed at compound-a1x for 4 days, its claim deadline 3 days gone.
        waiting("w1", "compound-a1x", "claim", 4, CLAIM_LATE, claimed=False, claim_deadline=CLAIM_LATE),
        # w2: unclaimed at compound-a2x, a day left to claim it.
        waiting("w2", "compound-a2x", "claim", 2, CLAIM_DUE, claimed=False, claim_deadline=CLAIM_DUE),
        # w3: community-a1 dispatched it to compound-a1y, which returned it: community-a1 must rule.
        waiting("w3", "compound-a1y", "return", 5, None, handling="community-a1", view=RETURNS["w3"]),
        # w4: compound-a2x asks for 5 more days; due is the case's deadline.
        waiting("w4", "compound-a2x", "extension", 3, CASE_DUE, deadline=CASE_DUE, view=EXTENSION),
        # w5: filed in community-a2's compound, returned by community-a2 to the town: the town rules, not a2.
        waiting("w5", "compound-a2x", "return", 1, None, handling="town-a", view=RETURNS["w5"]),
        # w6: town-b's, the oldest of all: no town-a supervisor sees it.
        waiting("w6", "compound-b1x", "claim", 6, CLAIM_DUE, claimed=False, claim_deadline=CLAIM_DUE),
        # w7: open, waiting on nobody.
        record("w7", "compound-a1x", filed_at=datetime(2026, 9, 10, tzinfo=UTC)),
    ]


async def seeded(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as db:
        db.add_all([*(ranked(*row) for row in RANKED), *waiting_rows()])
        await db.commit()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade_schema(engine)
    await import_trees(engine, [UnitTree.model_validate(u) for u in UNITS])
    await seeded(engine)
    yield engine
    await engine.dispose()


def supervisor(unit: str) -> Caller:
    return Caller("s", "supervisor", Role.SUPERVISOR, unit, PATHS.get(unit, f"/{unit}/"))


async def rank(engine: AsyncEngine, unit: str, period: str, policy: SlaPolicy | None = None) -> RankingReport:
    async with AsyncSession(engine) as db:
        return await ranking(db, supervisor(unit), unit=None, period=period, policy=policy or build_policy())


def row(item: UnitRank) -> tuple[Any, ...]:
    return (item.unit, item.filed, item.response_rate, item.resolution_rate, item.satisfaction_rate,
            item.on_time_rate, item.claim_on_time_rate, item.yellow_cards, item.red_cards, item.claims_overdue,
            item.penalty_points, item.score, item.rank)  # fmt: skip


# --- ranking -------------------------------------------------------------------------------------------------


async def test_town_ranking_for_november(engine: AsyncEngine) -> None:
    town = await rank(engine, "town-a", "2026-11")
    assert (town.unit, town.period) == ("town-a", "2026-11")
    assert (town.period_from, town.period_to) == (datetime(2026, 11, 1, tzinfo=UTC), DEC_FIRST)
    assert town.weights == {"response": 30, "resolution": 35, "satisfaction": 35}
    assert town.penalty_points == {"yellow_card": 5, "red_card": 10, "claim_overdue": 1}
    a2, a1 = town.items  # by rank
    # community-a2 in November: cases 6, 7, 8 (8 on the last second; 9 is October's, 11 December's).
    # Responded 6, 8 → 2/3; handled 6, 8, both resolved → 1.0; rated 6, 8, both satisfied → 1.0; on time 2/2.
    # Claims due 1 + 1 + 0, none late → 1.0. No cards: penalty 0.
    # Score (30 × 0.6667 + 35 × 1 + 35 × 1) × 100 / 100 − 0 = 90.001 → 90.0.
    assert row(a2) == ("community-a2", 3, 0.6667, 1.0, 1.0, 1.0, 1.0, 0, 0, 0, 0, 90.0, 1)
    # community-a1: cases 1-5, all responded → 1.0; handled 1, 2, 4, 5, resolved 1, 2, 4 → 0.75; rated the same
    # four, satisfied 1, 4, 5 → 0.75; on time 1, 4 (2 and 5 breached) → 0.5. Claims due 1+1+2+1+2 = 7, late
    # 0+1+1+0+2 = 4 → 3/7. Cards: yellow 1 (#2) + 2 (#4) + 1 (#5) = 4, red 1 (#3).
    # Penalty 4 × 5 + 1 × 10 + 4 × 1 = 34. Score (30 × 1 + 35 × 0.75 + 35 × 0.75) − 34 = 82.5 − 34 = 48.5.
    assert row(a1) == ("community-a1", 5, 1.0, 0.75, 0.75, 0.5, 0.4286, 4, 1, 4, 34.0, 48.5, 2)
    assert (a1.name, a1.kind) == ("营里社区", "community")


async def test_equal_scores_share_a_rank(engine: AsyncEngine) -> None:
    community = await rank(engine, "community-a1", "2026-11")
    a1x, a1y = community.items  # same rank: by unit code
    # compound-a1x, cases 1-3: response 1.0, resolution 2/2, satisfaction 1/2 (#2 unsatisfied), on time 1/2;
    # claims 4 due, 2 late → 0.5; yellow 1, red 1: penalty 5 + 10 + 2 = 17. Score 30 + 35 + 17.5 − 17 = 65.5.
    assert row(a1x) == ("compound-a1x", 3, 1.0, 1.0, 0.5, 0.5, 0.5, 1, 1, 2, 17.0, 65.5, 1)
    # compound-a1y, cases 4-5: response 1.0, resolution 1/2 (#5 withdrawn), satisfaction 2/2, on time 1/2;
    # claims 3 due, 2 late → 1/3; yellow 3: penalty 15 + 2 = 17. Score 30 + 17.5 + 35 − 17 = 65.5: a tie.
    assert row(a1y) == ("compound-a1y", 2, 1.0, 0.5, 1.0, 0.5, 0.3333, 3, 0, 2, 17.0, 65.5, 1)
    assert competition_ranks([70.0, 80.0, 80.0, 60.0]) == [3, 1, 1, 4]


async def test_a_null_rate_counts_zero_and_an_empty_unit_still_ranks(engine: AsyncEngine) -> None:
    (b1,) = (await rank(engine, "town-b", "2026-11")).items
    # Case 10: open, not responded → 0.0; nothing handled or rated → null, counted 0; its one claim came late.
    # Penalty 5 (yellow) + 1 = 6; score 0 − 6.
    assert row(b1) == ("community-b1", 1, 0.0, None, None, None, 0.0, 1, 0, 1, 6.0, -6.0, 1)
    # December: community-a2 has case 11 only (score 100 − 10 − 1 = 89); community-a1 has nothing: all null, 0.
    a2, a1 = (await rank(engine, "town-a", "2026-12")).items
    assert (a2.unit, a2.score, a2.rank) == ("community-a2", 89.0, 1)
    assert row(a1) == ("community-a1", 0, None, None, None, None, None, 0, 0, 0, 0.0, 0.0, 2)


async def test_quarter_and_the_policy_values(engine: AsyncEngine) -> None:
    q4 = await rank(engine, "town-a", "2026-Q4")
    assert (q4.period_from, q4.period_to) == (OCT_FIRST, datetime(2027, 1, 1, tzinfo=UTC))
    a2, a1 = q4.items
    # community-a2 in Q4: cases 6, 7, 8, 9 (the first moment of October), 11 (the first of December).
    # Responded 4/5 = 0.8; handled 6, 8, 9, 11, all resolved and rated satisfied, all on time; claims 4 due,
    # 2 late (#9, #11) → 0.5; red 2: penalty 20 + 2 = 22. Score 30 × 0.8 + 35 + 35 − 22 = 94 − 22 = 72.
    assert row(a2) == ("community-a2", 5, 0.8, 1.0, 1.0, 1.0, 0.5, 0, 2, 2, 22.0, 72.0, 1)
    assert row(a1)[1:] == (5, 1.0, 0.75, 0.75, 0.5, 0.4286, 4, 1, 4, 34.0, 48.5, 2)  # as in November

    # The weights and points are the policy's: here resolution 1 and on time 3, and only a red card costs (100).
    policy = SlaPolicy(weights={"resolution": 1, "on_time": 3}, penalty_points={"red_card": 100})
    a2, a1 = (await rank(engine, "town-a", "2026-11", policy)).items
    assert (a2.unit, a2.penalty_points, a2.score, a2.rank) == ("community-a2", 0.0, 100.0, 1)  # (1 + 3) × 100 / 4
    # (1 × 0.75 + 3 × 0.5) × 100 / 4 = 56.25, less one red card; the yellow cards and late claims cost nothing.
    assert (a1.unit, a1.penalty_points, a1.score, a1.rank) == ("community-a1", 100.0, -43.75, 2)


async def test_ranking_csv(engine: AsyncEngine) -> None:
    lines = ranking_csv(await rank(engine, "town-a", "2026-11")).splitlines()
    assert lines[0] == (
        "unit,name,kind,filed,response_rate,resolution_rate,satisfaction_rate,on_time_rate,claim_on_time_rate,"
        "yellow_cards,red_cards,claims_overdue,penalty_points,score,rank"
    )
    assert lines[1:] == [
        "community-a2,南环社区,community,3,0.6667,1.0,1.0,1.0,1.0,0,0,0,0.0,90.0,1",
        "community-a1,营里社区,community,5,1.0,0.75,0.75,0.5,0.4286,4,1,4,34.0,48.5,2",
    ]
    (b1,) = ranking_csv(await rank(engine, "town-b", "2026-11")).splitlines()[1:]
    assert b1 == "community-b1,公园路社区,community,1,0.0,,,,0.0,1,0,1,6.0,-6.0,1"  # a null is an empty cell


@pytest.mark.parametrize(
    "period", ["2026-13", "2026-00", "2026-Q0", "2026-Q5", "2026-1", "26-11", "2026/11", "2026-q4", "", "0000-01"]
)
def test_bad_periods_are_refused(period: str) -> None:
    with pytest.raises(ApiError) as refused:
        period_bounds(period)
    assert refused.value.status == 422
    assert "YYYY-MM" in refused.value.detail or "out of range" in refused.value.detail


def test_period_bounds() -> None:
    assert period_bounds("2026-12") == (DEC_FIRST, datetime(2027, 1, 1, tzinfo=UTC))
    assert period_bounds("2026-02") == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert period_bounds("2026-Q1") == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert period_bounds("2026-Q3") == (datetime(2026, 7, 1, tzinfo=UTC), OCT_FIRST)


# --- pending -------------------------------------------------------------------------------------------------


async def queue(
    engine: AsyncEngine, who: str, kind: PendingKind | None = None, *, unit: str | None = None
) -> list[PendingItem]:
    async with AsyncSession(engine) as db:
        page = await pending(db, supervisor(who), unit=unit, kind=kind, cursor=None, limit=50)
    assert page.next_cursor is None
    return page.items


def ids(items: list[PendingItem]) -> list[str]:
    return [i.case.id for i in items]


async def test_pending_in_the_town_oldest_first(engine: AsyncEngine) -> None:
    items = await queue(engine, "town-a")
    assert ids(items) == ["w3", "w1", "w4", "w2", "w5"]  # never town-b's w6, nor w7 that waits on nobody
    w3, w1, w4, w2, w5 = items
    assert (w1.kind, w1.due, w1.since) == ("claim", CLAIM_LATE, NOW - timedelta(days=4))
    assert w1.detail.model_dump() == {"claim_deadline": CLAIM_LATE, "overdue": True}
    assert w2.detail.model_dump() == {"claim_deadline": CLAIM_DUE, "overdue": False}
    assert w1.case.model_dump() == {"id": "w1", "number": "2026-w1", "title": "case w1", "stage": "implementing",
                                    "tier": "compound", "handling_unit": "compound-a1x", "deadline": None}  # fmt: skip
    assert (w3.kind, w3.due, w3.case.handling_unit, w3.case.tier) == ("return", None, "community-a1", "community")
    assert w3.detail.model_dump() == {"from_unit": "compound-a1y", "reason": "not_our_remit",
                                      "explanation": "not for compound-a1y", "at": NOW - timedelta(days=5)}  # fmt: skip
    assert (w5.kind, w5.case.handling_unit, w5.case.tier) == ("return", "town-a", "town")
    assert isinstance(w5.detail, ReturnDetail) and w5.detail.reason == "wrong_jurisdiction"
    assert (w4.kind, w4.due, w4.case.deadline) == ("extension", CASE_DUE, CASE_DUE)
    extension = {"days": 5, "reason": "waiting for parts", "by": "李师傅", "at": NOW - timedelta(days=3)}
    assert w4.detail.model_dump() == extension  # not the requester's principal id


async def test_pending_is_scoped_by_the_handling_unit(engine: AsyncEngine) -> None:
    # community-a2 does not see community-a1's, nor w5: filed in its compound, but the town must rule on it.
    assert ids(await queue(engine, "community-a2")) == ["w4", "w2"]
    assert ids(await queue(engine, "community-a1")) == ["w3", "w1"]
    assert ids(await queue(engine, "compound-a1x")) == ["w1"]
    assert ids(await queue(engine, "town-a", unit="community-a2")) == ["w4", "w2"]
    assert ids(await queue(engine, "town-b")) == ["w6"]
    with pytest.raises(ApiError) as refused:
        await queue(engine, "community-a2", unit="community-a1")
    assert refused.value.status == 403


async def test_pending_by_kind(engine: AsyncEngine) -> None:
    assert ids(await queue(engine, "town-a", "claim")) == ["w1", "w2"]
    assert ids(await queue(engine, "town-a", "return")) == ["w3", "w5"]
    assert ids(await queue(engine, "town-a", "extension")) == ["w4"]
    assert ids(await queue(engine, "community-a1", "extension")) == []


# --- over HTTP -----------------------------------------------------------------------------------------------


async def test_over_http_pages_and_roles(stack: Stack) -> None:
    await seeded(stack.engine)
    town = await stack.headers("supervisor", "town-a")
    caseworker = await stack.headers("caseworker", "town-a")

    seen, cursor = [], ""
    while True:
        response = await stack.http.get(f"/v1/supervision/pending?limit=2{cursor}", headers=town)
        assert response.status_code == 200, response.text
        page = response.json()
        seen.append([item["case"]["id"] for item in page["items"]])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [["w3", "w1"], ["w4", "w2"], ["w5"]]
    claims = (await stack.http.get("/v1/supervision/pending?kind=claim", headers=town)).json()["items"]
    assert [(i["kind"], i["detail"]["overdue"]) for i in claims] == [("claim", True), ("claim", False)]
    assert set(claims[0]) == {"kind", "case", "since", "due", "detail"}

    response = await stack.http.get("/v1/supervision/ranking?period=2026-11", headers=town)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"unit", "period", "period_from", "period_to", "weights", "penalty_points", "items"}
    scores = [(i["unit"], i["score"], i["rank"]) for i in body["items"]]
    assert scores == [("community-a2", 90.0, 1), ("community-a1", 48.5, 2)]
    csv = await stack.http.get("/v1/supervision/ranking?period=2026-Q4&format=csv", headers=town)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1].startswith("community-a2,南环社区,community,5,")

    bad = await stack.http.get("/v1/supervision/ranking?period=2026-13", headers=town)
    assert bad.status_code == 422 and "YYYY-MM" in bad.json()["detail"]
    assert (await stack.http.get("/v1/supervision/ranking", headers=town)).status_code == 422  # period required
    assert (await stack.http.get("/v1/supervision/pending?kind=urge", headers=town)).status_code == 422
    for path in ("/v1/supervision/pending", "/v1/supervision/ranking?period=2026-11"):
        assert (await stack.http.get(path, headers=caseworker)).status_code == 403
        assert (await stack.http.get(path)).status_code == 401
