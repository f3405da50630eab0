"""Supervision queries at scale: seed N cases into the read model, time the supervisors' questions.

    python -m bench.supervision [--cases 100000] [--repeat 200] [--databases sqlite,postgresql]
                                [--postgres-url postgresql://postgres@127.0.0.1:55432/postgres]

Seeds 3 towns × 10 communities × 10 compounds and N cases with a realistic spread (stages, tiers,
deadlines, escalations; some waiting for a claim, a ruling on a return or an extension decision; cards and
late claims), then times GET /v1/supervision/overdue, /escalations, /pending (a page of 50), /stats and
/ranking (this month) through the real FastAPI app (auth, SQL, serialization; in-process, no network),
for a town supervisor and a community supervisor. The same statement run bare on the database's driver is
timed beside each (``sql_*``), so the ratio shows what the service adds. Prints one JSON object per
database, then a summary. PostgreSQL gets a fresh database of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.services.tokens import issue_token
from api.services.units import UnitTree, import_trees
from bench.measure import percentile_ms
from core.db import create_engine, upgrade_schema
from core.logging import configure_logging
from core.settings import Settings
from core.tables import CaseEscalationRecord, CaseRecord

TOWNS, COMMUNITIES, COMPOUNDS = 3, 10, 10
STAGES = ["collecting", "reviewing", "deliberating", "announcing", "implementing", "follow_up"]
TIERS = ["compound", "community", "town"]


def units() -> list[dict[str, Any]]:
    return [
        {"code": f"t{t}", "name": f"镇{t}", "kind": "town", "children": [
            {"code": f"t{t}-c{c}", "name": f"社区{t}-{c}", "kind": "community", "children": [
                {"code": f"t{t}-c{c}-p{p}", "name": f"小区{t}-{c}-{p}", "kind": "compound"} for p in range(COMPOUNDS)
            ]} for c in range(COMMUNITIES)
        ]} for t in range(TOWNS)
    ]  # fmt: skip


def seed_rows(n: int, now: datetime, rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cases over the last year: ~70% closed; open ones spread over stages; some late, some escalated."""
    cases, escalations = [], []
    for i in range(n):
        t, c, p = rng.randrange(TOWNS), rng.randrange(COMMUNITIES), rng.randrange(COMPOUNDS)
        unit, community, town = f"t{t}-c{c}-p{p}", f"t{t}-c{c}", f"t{t}"
        filed = now - timedelta(days=rng.uniform(0, 365))
        tier_index = rng.choices([0, 1, 2], weights=[80, 15, 5])[0]
        closed = rng.random() < 0.7
        outcome = (
            rng.choices(["resolved", "rejected", "withdrawn", "merged"], weights=[75, 10, 8, 7])[0] if closed else None
        )
        satisfaction = (
            rng.choices(["satisfied", "basically_satisfied", "unsatisfied"], weights=[60, 30, 10])[0]
            if outcome == "resolved" else None
        )  # fmt: skip
        stage = "closed" if closed else rng.choice(STAGES)
        # Open cases: mostly due in the coming weeks, about one in six already late.
        deadline = None if closed else now + timedelta(days=rng.uniform(-20, 100))
        case_id = f"{i:016x}"
        chain = []
        at = filed
        for step in range(tier_index):
            at = at + timedelta(days=rng.uniform(1, 10))
            reason = rng.choices(["sla_breach", "manual", "unsatisfied_visit"], weights=[60, 30, 10])[0]
            by = "linli" if reason == "sla_breach" else "网格员"
            chain.append({"from_tier": TIERS[step], "to_tier": TIERS[step + 1], "reason": reason,
                          "at": at.isoformat(), "by": by, "note": None})  # fmt: skip
            escalations.append({
                "case_id": case_id, "seq": step + 3, "unit": unit, "community": community, "town": town,
                "unit_path": f"/{town}/{community}/{unit}/", "from_tier": TIERS[step], "to_tier": TIERS[step + 1],
                "reason": reason, "at": at, "by": chain[-1]["by"], "note": None,
            })  # fmt: skip
        tier = TIERS[tier_index]
        handling = [unit, community, town][tier_index]
        handling_path = "/" + "".join(f"{code}/" for code in [town, community, unit][: 3 - tier_index])
        waiting, since, due, pending = _waiting(rng, closed, filed, deadline, now)
        cards = rng.choices([0, 1, 2], weights=[94, 4, 2])[0]
        view = {
            "id": case_id, "number": f"{filed.year}-{i:06d}", "unit": unit, "handling_unit": handling,
            "category": rng.choice(["drainage", "lighting", "parking", "greening", "noise"]),
            "title": f"case {i}", "description": "…", "reporter": {"name": "居民", "phone": None},
            "channel": "in_person", "stage": stage, "tier": tier, "status": "closed" if closed else "open",
            "outcome": outcome, "deadline": deadline.isoformat() if deadline else None, "escalations": chain,
            "satisfaction": satisfaction, "filed_by": "bench", "filed_at": filed.isoformat(),
            "updated_at": filed.isoformat(), "version": 5, "handling_path": handling_path, **pending,
        }  # fmt: skip
        cases.append({
            "id": case_id, "number": view["number"], "unit": unit, "community": community, "town": town,
            "unit_path": f"/{town}/{community}/{unit}/", "handling_unit": handling, "handling_path": handling_path,
            "claimed": waiting != "claim", "claim_deadline": due if waiting == "claim" else None, "waiting": waiting,
            "waiting_since": since, "waiting_due": due, "claims_due": 1 + tier_index,
            "claims_overdue": rng.choices([0, 1], weights=[90, 10])[0], "yellow_cards": int(cards == 1),
            "red_cards": int(cards == 2), "category": view["category"],
            "title": view["title"], "stage": stage, "tier": tier, "status": view["status"], "outcome": outcome,
            "deadline": deadline, "overdue": bool(deadline and deadline < now and tier == "town"),
            "satisfaction": satisfaction, "escalation_count": len(chain),
            "sla_breaches": sum(e["reason"] == "sla_breach" for e in chain), "filed_by": "bench", "filed_at": filed,
            "responded_at": None if stage in ("collecting", "reviewing") else filed + timedelta(hours=5),
            "closed_at": filed + timedelta(days=rng.uniform(1, 40)) if closed else None, "updated_at": filed,
            "version": 5, "view": view,
        })  # fmt: skip
    return cases, escalations


def _waiting(
    rng: random.Random, closed: bool, filed: datetime, deadline: datetime | None, now: datetime
) -> tuple[str | None, datetime | None, datetime | None, dict[str, Any]]:
    """About 3% of open cases wait for a claim, 1% for a ruling on a return, 1% for an extension decision."""
    kind = None if closed else rng.choices([None, "claim", "return", "extension"], weights=[95, 3, 1, 1])[0]
    since = min(now, filed + timedelta(days=rng.uniform(0, 5)))
    if kind == "claim":
        due = since + timedelta(days=1)
        return kind, since, due, {"claimed": False, "claim_deadline": due.isoformat()}
    if kind == "return":
        pending = {"from_unit": "x", "from_path": "/x/", "reason": "not_our_remit", "explanation": "…",
                   "at": since.isoformat()}  # fmt: skip
        return kind, since, None, {"pending_return": pending}
    if kind == "extension":
        request = {"days": 3, "reason": "…", "by": "网格员", "by_id": "p", "at": since.isoformat()}
        return kind, since, deadline, {"extension_request": request}
    return None, None, None, {}


async def seed(engine: AsyncEngine, n: int) -> None:
    await import_trees(engine, [UnitTree.model_validate(u) for u in units()])
    cases, escalations = seed_rows(n, datetime.now(UTC), random.Random(20261121))
    async with engine.begin() as db:
        for start in range(0, len(cases), 5000):
            await db.execute(CaseRecord.__table__.insert(), cases[start : start + 5000])  # type: ignore[attr-defined]
        for start in range(0, len(escalations), 5000):
            await db.execute(CaseEscalationRecord.__table__.insert(), escalations[start : start + 5000])  # type: ignore[attr-defined]
    async with engine.connect() as db:  # fresh planner statistics, as a maintained database has
        await db.execute(text("ANALYZE"))
        await db.commit()


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 by the nearest-rank method, in milliseconds."""
    return {"p50_ms": round(statistics.median(samples) * 1000, 2), "p99_ms": percentile_ms(samples, 0.99)}


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    for _ in range(3):  # warm caches and connections
        await call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


def bare_sql(scope: str, now: datetime) -> dict[str, tuple[str, dict[str, Any]]]:
    """The core statement of each query, for the database alone."""
    end = scope[:-1] + "0"
    params = {"lo": scope, "hi": end, "now": now, "n": len(scope),
              "month": datetime(now.year, now.month, 1, tzinfo=UTC)}  # fmt: skip
    return {
        "overdue": ("SELECT * FROM cases WHERE status = 'open' AND deadline < :now AND substr(unit_path, 1, :n) = :lo "
                    "ORDER BY deadline, id LIMIT 51", params),
        "escalations": ("SELECT e.*, c.number, c.title, c.stage, c.tier, c.status FROM case_escalations e "
                        "JOIN cases c ON c.id = e.case_id WHERE e.unit_path >= :lo AND e.unit_path < :hi "
                        "ORDER BY e.at DESC, e.id DESC LIMIT 51", params),
        "stats": ("SELECT community, count(*), sum(CASE WHEN responded_at IS NOT NULL THEN 1 ELSE 0 END), "
                  "sum(CASE WHEN status = 'closed' THEN 1 ELSE 0 END), sum(CASE WHEN outcome = 'resolved' THEN 1 "
                  "ELSE 0 END), sum(escalation_count) FROM cases WHERE unit_path >= :lo AND unit_path < :hi "
                  "GROUP BY community", params),
        "pending": ("SELECT * FROM cases WHERE waiting IN ('claim', 'return', 'extension') AND handling_path >= :lo "
                    "AND handling_path < :hi "
                    "ORDER BY waiting_since, id LIMIT 51", params),
        "ranking": ("SELECT community, count(*), sum(CASE WHEN responded_at IS NOT NULL THEN 1 ELSE 0 END), "
                    "sum(CASE WHEN outcome = 'resolved' THEN 1 ELSE 0 END), sum(claims_due), sum(claims_overdue), "
                    "sum(yellow_cards), sum(red_cards) FROM cases WHERE unit_path >= :lo AND unit_path < :hi "
                    "AND filed_at >= :month GROUP BY community", params),
    }  # fmt: skip


async def measure(url: str, n: int, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    await upgrade_schema(engine)
    started = time.perf_counter()
    await seed(engine, n)
    seeded_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=url, temporal_address="127.0.0.1:1")
        app = create_app(settings)
        results: dict[str, Any] = {}
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
                for who, unit in (("town", "t0"), ("community", "t0-c0")):
                    token, _ = await issue_token(engine, role="supervisor", name=f"bench {who}", unit=unit)
                    headers = {"Authorization": f"Bearer {token}"}
                    scope = f"/t0/{unit}/" if who == "community" else "/t0/"
                    month = datetime.now(UTC).strftime("%Y-%m")
                    for query, path in (("overdue", "/v1/supervision/overdue"),
                                        ("escalations", "/v1/supervision/escalations"),
                                        ("pending", "/v1/supervision/pending"),
                                        ("stats", "/v1/supervision/stats"),
                                        ("ranking", f"/v1/supervision/ranking?period={month}")):  # fmt: skip

                        async def call(path: str = path, headers: dict[str, str] = headers) -> None:
                            response = await http.get(path, headers=headers)
                            assert response.status_code == 200, response.text

                        sql, params = bare_sql(scope, datetime.now(UTC))[query]

                        async def bare(sql: str = sql, params: dict[str, Any] = params) -> None:
                            async with engine.connect() as db:
                                (await db.execute(text(sql), params)).all()

                        api = percentiles(await timed(call, repeat))
                        raw = percentiles(await timed(bare, repeat))
                        results[f"{who}.{query}"] = {**api, "sql_p50_ms": raw["p50_ms"], "sql_p99_ms": raw["p99_ms"]}
    await engine.dispose()
    return {"database": url.split(":", 1)[0], "cases": n, "seed_s": round(seeded_s, 1), "queries": results}


TARGETS_MS = {"overdue": 50, "escalations": 50, "pending": 50, "stats": 200, "ranking": 200}


async def main(argv: list[str] | None = None) -> int:
    configure_logging("WARNING")  # the app's log lines go to stderr; stdout is the figures, one JSON per line
    parser = argparse.ArgumentParser(prog="python -m bench.supervision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per query (default 200)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LINLI_TEST_POSTGRES_URL"),
        help="an admin URL; a scratch database is created there (default $LINLI_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args(argv)
    summary: list[dict[str, Any]] = []
    for database in args.databases.split(","):
        sys.stderr.write(f"bench.supervision: {database}, seeding {args.cases} cases…\n")
        if database == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                result = await measure(f"sqlite:///{tmp}/bench.db", args.cases, args.repeat)
        elif database == "postgresql":
            if not args.postgres_url:
                parser.error("PostgreSQL needs --postgres-url or $LINLI_TEST_POSTGRES_URL")
            result = await _on_scratch_postgres(args.postgres_url, args.cases, args.repeat)
        else:
            parser.error(f"unknown database {database!r}")
        print(json.dumps(result, ensure_ascii=False))
        summary.append(result)
    verdict = {
        f"{r['database']}.{name}": {"p99_ms": q["p99_ms"], "target_ms": TARGETS_MS[name.split(".")[1]],
                                    "met": q["p99_ms"] <= TARGETS_MS[name.split(".")[1]]}
        for r in summary for name, q in r["queries"].items()
    }  # fmt: skip
    print(json.dumps({"summary": verdict, "all_met": all(v["met"] for v in verdict.values())}))
    return 0


async def _on_scratch_postgres(admin_url: str, n: int, repeat: int) -> dict[str, Any]:
    import psycopg

    name = f"linli_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await measure(f"{admin_url.rsplit('/', 1)[0]}/{name}", n, repeat)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
