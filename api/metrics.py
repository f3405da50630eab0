"""``GET /metrics``: the API's Prometheus metrics (DESIGN.md, "Telling people").

- ``linli_http_requests_total{method,route,status}`` and ``linli_http_request_duration_seconds{method,route}``,
  counted by an ASGI middleware. ``route`` is the route's template (``/v1/cases/{case_id}``), never the path
  as sent, so no case id, unit code or token is ever a label; a request no route matches is ``unmatched``.
- Business gauges read from the read model at scrape time: ``linli_cases_open{stage,tier}``,
  ``linli_cases_overdue``, ``linli_cases_suspended``, ``linli_cases_unclaimed`` (the same conditions as
  supervision's lists), ``linli_webhook_deliveries{status}`` once the webhooks' table exists, and
  ``linli_read_model_up`` (0 when the database did not answer: the HTTP metrics are served regardless).

Each app has its own registry (``app.state.metrics``), so several apps in one process do not clash. The
endpoint needs no token unless ``LINLI_METRICS_TOKEN`` is set (then ``Authorization: Bearer <it>``); without
one, keep ``/metrics`` off the public side of the reverse proxy. It gives counts only, never a case.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import unauthorized
from api.services.supervision import _late_now
from core.logging import get_logger
from core.settings import Settings
from core.tables import CaseRecord, now_utc
from workflows.model import OPEN_STAGES, Tier

log = get_logger("linli.metrics")

PATH = "/metrics"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From a cached read (a millisecond) to a command that waited the whole command timeout (30 s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SCRAPE_TIMEOUT = 5.0  # seconds the read model has to answer a scrape

router = APIRouter()


class HttpMetrics:
    """The request counter and latency histogram of one app, in that app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "linli_http_requests", "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "linli_http_request_duration_seconds", "Time to answer an HTTP request, by method and route template",
            ["method", "route"], registry=registry, buckets=BUCKETS,
        )  # fmt: skip
        # The labelled children, so a request costs a dict lookup rather than prometheus_client's label checks.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        counter = self._counted.get((method, route, status))
        if counter is None:
            counter = self._counted[(method, route, status)] = self.requests.labels(method, route, str(status))
        counter.inc()
        timer = self._timed.get((method, route))
        if timer is None:
            timer = self._timed[(method, route)] = self.duration.labels(method, route)
        timer.observe(seconds)


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (set by the router on the scope), or "unmatched"."""
    route = scope.get("route")
    if route is None:
        # FastAPI names no route for a mounted app (the static assets), only the app it reached ("endpoint").
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        mounts = (r for r in getattr(scope.get("app"), "routes", ()) if isinstance(r, Mount))
        route = next((m for m in mounts if m.app is endpoint), None)
        if route is None:
            return UNMATCHED
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request. Its cost per request is a clock read, a wrapped
    ``send`` and two dict lookups; the template is read from the scope the router has already filled in."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it has started its answer

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.observe(scope["method"], route_template(scope), status, time.perf_counter() - started)


# --- business gauges, from the read model --------------------------------------------------------------------


@dataclass
class CaseFigures:
    open: dict[tuple[str, str], int] = field(default_factory=dict)
    overdue: int = 0
    suspended: int = 0
    unclaimed: int = 0
    extra: list[Metric] = field(default_factory=list)


async def case_figures(connection: AsyncConnection) -> CaseFigures:
    """The figures the gauges show, in four small queries on the read model's indexes."""
    is_open = col(CaseRecord.status) == "open"
    by_stage = select(col(CaseRecord.stage), col(CaseRecord.tier), func.count()).where(is_open)
    rows = (await connection.execute(by_stage.group_by(col(CaseRecord.stage), col(CaseRecord.tier)))).all()

    async def count(*where: Any) -> int:
        return int((await connection.execute(select(func.count()).select_from(CaseRecord).where(*where))).scalar_one())

    return CaseFigures(
        open={(str(stage), str(tier)): int(n) for stage, tier, n in rows},
        overdue=await count(*_late_now(now_utc())),  # supervision's "overdue now"
        suspended=await count(is_open, col(CaseRecord.suspended).is_(True)),
        # supervision's pending claims: only an open case waits (core/rows.py), so no status filter
        unclaimed=await count(col(CaseRecord.waiting) == "claim"),
        extra=await extra_gauges(connection),
    )


WEBHOOK_DELIVERIES = "webhook_deliveries"


async def extra_gauges(connection: AsyncConnection) -> list[Metric]:
    """Gauges of other parts' tables, when they are there: ``linli_webhook_deliveries{status}`` counts the
    rows of ``webhook_deliveries`` by their ``status`` (skipped while that table or column does not exist)."""

    def delivery_columns(sync: Any) -> set[str]:
        inspector = inspect(sync)
        if not inspector.has_table(WEBHOOK_DELIVERIES):
            return set()
        return {c["name"] for c in inspector.get_columns(WEBHOOK_DELIVERIES)}

    if "status" not in await connection.run_sync(delivery_columns):
        return []
    rows = await connection.execute(text(f"SELECT status, COUNT(*) FROM {WEBHOOK_DELIVERIES} GROUP BY status"))
    gauge = GaugeMetricFamily("linli_webhook_deliveries", "Webhook deliveries by status", labels=["status"])
    for status, n in rows.all():
        gauge.add_metric([str(status)], int(n))
    return [gauge]


def case_families(figures: CaseFigures | None) -> list[Metric]:
    up = GaugeMetricFamily("linli_read_model_up", "1 if the read model answered this scrape, else 0")
    up.add_metric([], 1 if figures is not None else 0)
    if figures is None:
        return [up]
    opened = GaugeMetricFamily("linli_cases_open", "Open cases by stage and tier", labels=["stage", "tier"])
    # Every stage and tier, with zeros: a series that empties goes to 0 instead of vanishing from the graph.
    known = {(str(s), str(t)): 0 for s in sorted(OPEN_STAGES) for t in Tier}
    for (stage, tier), n in sorted({**known, **figures.open}.items()):
        opened.add_metric([stage, tier], n)
    return [
        up,
        opened,
        _gauge("linli_cases_overdue", "Open cases past their deadline, not suspended", figures.overdue),
        _gauge("linli_cases_suspended", "Open cases whose clock is stopped", figures.suspended),
        _gauge("linli_cases_unclaimed", "Open cases waiting for their handling unit to claim them", figures.unclaimed),
        *figures.extra,
    ]


def _gauge(name: str, documentation: str, value: int) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


class _Scrape(Collector):
    """One scrape: the registry's metrics, then the figures read for this scrape (no state shared between
    concurrent scrapes)."""

    def __init__(self, registry: CollectorRegistry, families: Iterable[Metric]) -> None:
        self.registry, self.families = registry, families

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.families


async def read_figures(engine: AsyncEngine) -> CaseFigures | None:
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT), engine.connect() as connection:
            return await case_figures(connection)
    except Exception as error:  # a scrape still answers (with linli_read_model_up 0) when the database does not
        log.warning("metrics: the read model did not answer", error=repr(error))
        return None


@router.get(PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            raise unauthorized("/metrics needs the LINLI_METRICS_TOKEN bearer token")
    figures = await read_figures(request.app.state.engine)
    body = generate_latest(_Scrape(request.app.state.metrics.registry, case_families(figures)))
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


def install_metrics(app: FastAPI) -> None:
    """``GET /metrics`` and the middleware that counts requests, with a registry of this app's own. Add it
    last, so that it times everything the other middleware does too."""
    app.state.metrics = HttpMetrics(CollectorRegistry(auto_describe=True))
    app.include_router(router)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
