"""Metrics (DESIGN.md, "Telling people"): the API's /metrics, the worker's Temporal SDK metrics on
LINLI_METRICS_PORT, and the Grafana dashboard naming only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from bench.measure import free_port
from bench.receiver import Receiver
from core.settings import Settings
from core.temporal import metrics_runtime
from tests.conftest import StackFactory
from tests.utils.processes import WorkerProcess
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file
from workflows import WORKFLOW_TYPE

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "linli-dashboard.json"

# What the worker's runtime (core/temporal.py: counters with _total, durations in seconds) exported in a real
# run of temporalio 1.35: a worker that ran a workflow and an activity that failed once, then succeeded.
SDK_METRICS = {
    "temporal_activity_execution_failed_total",
    "temporal_activity_execution_latency_bucket",
    "temporal_activity_schedule_to_start_latency_bucket",
    "temporal_activity_succeed_endtoend_latency_bucket",
    "temporal_activity_task_received_total",
    "temporal_long_request_latency_bucket",
    "temporal_long_request_total",
    "temporal_num_pollers",
    "temporal_request_latency_bucket",
    "temporal_request_total",
    "temporal_sticky_cache_hit_total",
    "temporal_sticky_cache_size",
    "temporal_worker_start_total",
    "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used",
    "temporal_workflow_completed_total",
    "temporal_workflow_endtoend_latency_bucket",
    "temporal_workflow_task_execution_latency_bucket",
    "temporal_workflow_task_queue_poll_succeed_total",
    "temporal_workflow_task_replay_latency_bucket",
    "temporal_workflow_task_schedule_to_start_latency_bucket",
}
# Counters the worker's own activities add through activity.metric_meter(): the SDK keeps the name, adds _total
# (and the activity's labels: activity_type, namespace, task_queue).
WORKER_METRICS = {"linli_webhook_attempts_failed_total"}


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def names(text: str) -> set[str]:
    """Every series name in a scrape, and every family's (a family may have no series yet)."""
    families = list(text_string_to_metric_families(text))
    return {f.name for f in families} | {s.name for f in families for s in f.samples}


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the series called ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(v for n, got, v in samples(text) if n == name and labels.items() <= got.items())


async def scrape(stack: Stack, **headers: str) -> str:
    response = await stack.http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def case_figures(text: str) -> dict[str, float]:
    figures = {n: value(text, f"linli_cases_{n}") for n in ("overdue", "suspended", "unclaimed")}
    for _, labels, v in (s for s in samples(text) if s[0] == "linli_cases_open"):
        figures[f"open {labels['stage']}/{labels['tier']}"] = v
    return figures


async def test_api_counts_requests_by_route_template_and_cases_from_the_read_model(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 1.5}), sla_scale=SECONDS)
    before = await scrape(stack)
    assert value(before, "linli_read_model_up") == 1
    assert case_figures(before)["open collecting/compound"] == 0
    filed = value(before, "linli_http_requests_total", method="POST", route="/v1/cases", status="201")

    town = await stack.headers("supervisor", "town-a", "综治中心")
    caseworker = await stack.headers("caseworker", "compound-a1x")
    late = (await stack.file(town))["id"]
    await stack.ok(late, "submit", town)  # reviewing for 1.5 s a tier: community, town, then overdue
    waiting = (await stack.file(caseworker))["id"]  # stays in collecting at the compound
    paused = (await stack.file(caseworker))["id"]
    await stack.ok(paused, "submit", caseworker)
    await stack.ok(paused, "accept", caseworker, note="Within the compound's reach")
    await stack.ok(paused, "suspend", caseworker, reason="waiting_for_resident", note="Away until Friday")
    assert (await stack.http.get(f"/v1/nowhere/{waiting}")).status_code == 404
    await eventually(lambda: stack.case(late, town), lambda c: c["overdue"], timeout=30)
    views = [await stack.case(cid, town) for cid in (late, waiting, paused)]
    assert [(v["stage"], v["tier"]) for v in views] == [
        ("reviewing", "town"), ("collecting", "compound"), ("deliberating", "compound")
    ]  # fmt: skip

    want = {"open reviewing/town": 1, "open collecting/compound": 1, "open deliberating/compound": 1,
            "overdue": 1, "suspended": 1, "unclaimed": sum(not v["claimed"] for v in views)}  # fmt: skip
    after = await eventually(
        lambda: scrape(stack), lambda t: all(case_figures(t)[k] == n for k, n in want.items()), timeout=20
    )
    assert sum(v for k, v in case_figures(after).items() if k.startswith("open ")) == 3

    # Requests are counted under their route's template: filing, a command, a read, and no route at all.
    assert value(after, "linli_http_requests_total", method="POST", route="/v1/cases", status="201") == filed + 3
    submitted = value(after, "linli_http_requests_total", route="/v1/cases/{case_id}/actions/submit", status="200")
    assert submitted == 2
    assert value(after, "linli_http_requests_total", method="GET", route="/v1/cases/{case_id}") >= 4
    assert value(after, "linli_http_requests_total", route="unmatched", status="404") == 1
    assert value(after, "linli_http_requests_total", route="/metrics", status="200") >= 1  # the earlier scrapes
    assert value(after, "linli_http_request_duration_seconds_count", method="POST", route="/v1/cases") == 3
    assert value(after, "linli_http_request_duration_seconds_bucket", method="POST", route="/v1/cases", le="+Inf") == 3

    # No case id, as a label or anywhere else: routes are templates, the gauges counts.
    for cid in (late, waiting, paused):
        assert cid not in after
    routes = {labels["route"] for _, labels, _ in samples(after) if "route" in labels}
    assert routes and all(r == "unmatched" or r.startswith("/") for r in routes)
    assert all(re.fullmatch(r"[a-z0-9/_{}.-]+", r) for r in routes), routes


async def test_metrics_token_when_set(make_stack: StackFactory) -> None:
    stack = await make_stack(metrics_token="metrics-" + "x" * 16)
    assert (await stack.http.get("/metrics")).status_code == 401
    assert (await stack.http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    text = await scrape(stack, Authorization="Bearer metrics-" + "x" * 16)
    assert value(text, "linli_read_model_up") == 1


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    first, second = (create_app(Settings(data_dir=tmp_path / n)) for n in ("a", "b"))
    assert first.state.metrics.registry is not second.state.metrics.registry


def test_the_worker_runtime_serves_metrics_only_when_a_port_is_set(tmp_path: Path) -> None:
    assert metrics_runtime(Settings(data_dir=tmp_path)) is None
    settings = Settings(data_dir=tmp_path, metrics_port=free_port(), metrics_host="127.0.0.1")
    runtime = metrics_runtime(settings)
    assert runtime is not None and metrics_runtime(settings) is runtime  # one per address per process


async def _text(http: httpx.AsyncClient, url: str) -> str | None:
    try:
        response = await http.get(url)
    except httpx.TransportError:
        return None  # not listening yet
    return response.text if response.status_code == 200 else None


async def test_worker_serves_the_temporal_sdk_metrics_on_its_port(stack: Stack, tmp_path: Path) -> None:
    await stack.stop_worker()  # the case goes to the worker process only
    port, queue = free_port(), stack.settings.task_queue
    worker = WorkerProcess(stack.settings, tmp_path / "worker.log")
    worker.env.update({"LINLI_METRICS_PORT": str(port), "LINLI_METRICS_HOST": "127.0.0.1"})
    worker.start()
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        async with httpx.AsyncClient(timeout=5) as http, Receiver() as receiver:
            before: str = await eventually(lambda: _text(http, url), lambda t: t is not None, timeout=60)
            # A case runs local activities only; its filing's webhook delivery is an activity of its own.
            body = {"url": receiver.url, "events": ["filed"], "secret": "a-receiver-secret-of-some-length"}
            subscribed = await stack.http.post("/v1/webhooks", json=body, headers=await stack.headers("admin"))
            assert subscribed.status_code == 201, subscribed.text
            caseworker = await stack.headers("caseworker", "compound-a1x")
            cid = (await stack.file(caseworker))["id"]
            await stack.ok(cid, "submit", caseworker)

            def worked(text: str | None) -> bool:
                if text is None:
                    return False
                case_tasks = value(text, "temporal_workflow_task_execution_latency_count", workflow_type=WORKFLOW_TYPE)
                return case_tasks >= 2 and all(  # filing and the submit, at least
                    value(text, name, task_queue=queue) > value(before, name, task_queue=queue)
                    for name in ("temporal_workflow_task_execution_latency_count",
                                 "temporal_activity_execution_latency_count",
                                 "temporal_workflow_task_queue_poll_succeed_total")
                )  # fmt: skip

            after: str = await eventually(lambda: _text(http, url), worked, timeout=30)
    finally:
        worker.stop()
    # What a worker exports as soon as it has run a case: the dashboard's SDK names are real ones.
    running = {"temporal_workflow_task_execution_latency_bucket", "temporal_activity_execution_latency_bucket",
               "temporal_workflow_task_schedule_to_start_latency_bucket", "temporal_worker_task_slots_used",
               "temporal_workflow_task_queue_poll_succeed_total", "temporal_request_total"}  # fmt: skip
    assert running <= SDK_METRICS and running <= names(after)
    assert cid not in after


async def test_the_dashboard_names_only_metrics_that_exist(tmp_path: Path) -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    datasource = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert [v["query"] for v in datasource] == ["prometheus"]

    # What the API really exports: a scrape of an app that has answered a POST (so its histogram has series).
    app = create_app(Settings(data_dir=tmp_path, temporal_address="127.0.0.1:1"))  # Temporal: lazy, unused
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linli") as http:
            await http.post("/v1/cases", json={})
            exported = names((await http.get("/metrics")).text)
    assert {"linli_http_requests_total", "linli_http_request_duration_seconds_bucket", "linli_cases_open",
            "linli_cases_overdue", "linli_cases_suspended", "linli_cases_unclaimed"} <= exported  # fmt: skip
    known = exported | SDK_METRICS | WORKER_METRICS

    panels = dashboard["panels"]
    assert len(panels) >= 8
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\b(?:linli|temporal)_[a-zA-Z0-9_]+", target["expr"]))
            assert used, f"{panel['title']}: {target['expr']} names no metric"
            assert used <= known, f"{panel['title']}: unknown {sorted(used - known)}"
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for needed in ("linli_cases_open", "linli_cases_overdue", "linli_cases_suspended", "linli_cases_unclaimed",
                   "histogram_quantile", 'method="POST"', "temporal_workflow_task_execution_latency_bucket",
                   "temporal_activity_execution_failed_total", "linli_webhook_attempts_failed_total"):  # fmt: skip
        assert needed in exprs, needed
