"""Whole cases through the HTTP API against the bare engine, in one run.

    python -m bench.lifecycle [--cases 500] [--concurrency 32] [--open-cases 0] [--api-url URL --token T]

Starts its own linli (the Temporal dev server, `linli worker` and `linli api` as separate processes, in a
temporary data dir), drives N cases through the happy path over HTTP — file, submit, accept, record the
meeting, decide, (the objection period, shortened to a fraction of a second, ends by itself), report
progress, complete, a satisfied visit: 8 commands a case — C at a time; then, on the same server, a
baseline: a workflow that only takes updates, driven with the same number of operations (one
update-with-start and 7 updates a case, pausing for the same objection period) through the SDK directly,
C at a time. With ``--webhook`` the linli run is driven twice on the same server: as above, then with a
webhook subscription to every event, delivered to a receiver on loopback, and both are reported (with how
long the last deliveries took to arrive after the last command). With ``--open-cases K`` it
then files K more cases and leaves them open, and reports the worker's peak RSS. It also times `linli up`
from start to ready. The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from bench.baseline import BaselineCase
from bench.http import Http
from bench.measure import free_port, percentile_ms
from bench.receiver import Receiver
from core.codec import Keyring
from core.temporal import converter_for
from core.webhooks import EVENTS

REPO = Path(__file__).resolve().parent.parent
COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("submit", {}),
    ("accept", {"note": "Within reach"}),
    ("record-meeting", {"held_at": "2026-11-20T19:30:00+08:00", "participants": ["物业", "业委会"], "minutes": "ok"}),
    ("decide", {"decision": "物业 repairs it", "assignee": "物业"}),
    ("report-progress", {"note": "underway", "percent": 50}),
    ("complete", {"summary": "repaired"}),
    ("record-visit", {"satisfaction": "satisfied"}),
]
OBJECTION_SECONDS = 0.2  # the objection period the benchmark's cases get, instead of three days
COMPOUNDS = ["changning-yingli-yuntaifu", "tuanjiexilu-nanhuan-shicheng", "longquan-gongyuanlu-changgang"]


def log(message: str) -> None:
    sys.stderr.write(f"bench.lifecycle: {message}\n")
    sys.stderr.flush()


class LocalLinli:
    """Dev server, worker and API as three processes, so the worker's memory can be read on its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.temporal_port, self.api_port = free_port(), free_port()
        sla = directory / "sla.json"
        # The objection period would hold every case three days; shorten it to ~0.2 s, keep the rest real.
        tiers = ("compound", "community", "town")
        days = OBJECTION_SECONDS / 86400
        sla.write_text(json.dumps({"name": "bench", "days": {"announcing": dict.fromkeys(tiers, days)}}))
        self.env = {**os.environ, "LINLI_DATA_DIR": str(directory), "LINLI_TEMPORAL_ADDRESS": self.address,
                    "LINLI_SLA_FILE": str(sla), "LINLI_LOG_LEVEL": "WARNING"}  # fmt: skip
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def linli(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "api.cli", *args], env=self.env, cwd=REPO,
                                capture_output=True, text=True, check=True)  # fmt: skip
        return result.stdout.strip()

    def spawn(self, name: str, *args: str) -> None:
        out = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "api.cli", *args], env=self.env, cwd=REPO,
                                                stdout=out, stderr=out)  # fmt: skip

    async def start(self) -> str:
        self.spawn("dev-server", "dev-server", "--data-dir", str(self.directory), "--port", str(self.temporal_port),
                   "--ui-port", str(free_port()))  # fmt: skip
        await wait_until(lambda: Client.connect(self.address), "the dev server")
        self.linli("db", "init")
        self.linli("units", "import", str(REPO / "deploy" / "demo-units.json"))
        token = self.linli("token", "issue", "--role", "admin", "--name", "bench")
        self.spawn("worker", "worker")
        self.spawn("api", "api", "--port", str(self.api_port))
        async with Http(self.api_url) as http:
            await wait_until(lambda: _ready(http), "the API")
        return token

    def worker_peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.processes['worker'].pid}/status").read_text()
        peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return round(int(peak.split()[1]) / 1024, 1)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


async def _ready(http: Http) -> None:
    reply = await http.get("/readyz")
    if not reply.ok:
        raise RuntimeError(f"/readyz: {reply.status}")


async def wait_until(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await probe()
            return
        except Exception as error:  # not up yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout}s: {error}") from error
            await asyncio.sleep(0.2)


Latencies = dict[str, list[float]]  # seconds, by command


async def drive_linli(api_url: str, token: str, cases: int, concurrency: int) -> tuple[Latencies, float]:
    """Every case's 8 commands over HTTP; returns each command's latency and the wall time."""
    latencies: Latencies = defaultdict(list)
    gate = asyncio.Semaphore(concurrency)
    async with Http(api_url, headers={"Authorization": f"Bearer {token}"}, connections=concurrency * 2) as http:

        async def timed(command: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            start = time.perf_counter()
            reply = await http.post(path, json=body)
            latencies[command].append(time.perf_counter() - start)
            if reply.status not in (200, 201):
                raise RuntimeError(f"{path}: {reply.status} {reply.text}")
            return reply.json()  # type: ignore[no-any-return]

        async def one_case(i: int) -> None:
            async with gate:
                body = {"unit": COMPOUNDS[i % len(COMPOUNDS)], "category": "lighting", "title": f"lamp {i}",
                        "description": "out", "reporter": {"name": "居民"}}  # fmt: skip
                case = await timed("file", "/v1/cases", body)
                for action, payload in COMMANDS:
                    if action == "report-progress":  # the objection period ends by its timer
                        await asyncio.sleep(OBJECTION_SECONDS)
                        while (await http.get(f"/v1/cases/{case['id']}")).json()["stage"] != "implementing":
                            await asyncio.sleep(0.05)
                    await timed(action, f"/v1/cases/{case['id']}/actions/{action}", payload)

        started = time.perf_counter()
        await asyncio.gather(*(one_case(i) for i in range(cases)))
        return latencies, time.perf_counter() - started


async def drive_baseline(address: str, cases: int, concurrency: int) -> tuple[Latencies, float]:
    """The same operations straight through the SDK, on a workflow that only counts them. Each case holds
    its place for the objection period too, as a linli case does, so both runs keep the same number of
    cases in flight."""
    # linli's converter (pydantic JSON, every payload encrypted), so that both sides pay for encryption; under
    # a key of its own, since only the baseline's own worker reads the baseline's payloads.
    client = await Client.connect(address, data_converter=converter_for(Keyring.generate()))
    queue = f"baseline-{uuid.uuid4().hex[:8]}"
    latencies: Latencies = defaultdict(list)
    gate = asyncio.Semaphore(concurrency)
    steps = len(COMMANDS) + 1
    async with Worker(client, task_queue=queue, workflows=[BaselineCase]):

        async def one_case(i: int) -> None:
            async with gate:
                workflow_id = f"{queue}-{i}"
                start = time.perf_counter()
                operation = WithStartWorkflowOperation(
                    BaselineCase.run, steps, id=workflow_id, task_queue=queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )  # fmt: skip
                await client.execute_update_with_start_workflow(
                    BaselineCase.step, "file", start_workflow_operation=operation
                )
                latencies["file"].append(time.perf_counter() - start)
                handle = client.get_workflow_handle(workflow_id)
                for action, _ in COMMANDS:
                    if action == "report-progress":
                        await asyncio.sleep(OBJECTION_SECONDS)
                    start = time.perf_counter()
                    await handle.execute_update(BaselineCase.step, action)
                    latencies[action].append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(one_case(i) for i in range(cases)))
        return latencies, time.perf_counter() - started


async def file_open_cases(api_url: str, token: str, count: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)
    async with Http(api_url, headers={"Authorization": f"Bearer {token}"}, connections=concurrency * 2) as http:

        async def one(i: int) -> None:
            async with gate:
                body = {"unit": COMPOUNDS[i % len(COMPOUNDS)], "category": "noise", "title": f"open {i}",
                        "description": "still open", "reporter": {"name": "居民"}}  # fmt: skip
                reply = await http.post("/v1/cases", json=body)
                if not reply.ok:
                    raise RuntimeError(f"filing: {reply.status} {reply.text}")
                if i and i % 1000 == 0:
                    log(f"{i} open cases filed")

        await asyncio.gather(*(one(i) for i in range(count)))


async def time_linli_up() -> float:
    """Seconds from `linli up` to /readyz answering 200, on an empty data dir."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "LINLI_DATA_DIR": tmp, "LINLI_LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-m", "api.cli", "up", "--port", str(port), "--temporal-port", str(free_port()),
                   "--ui-port", str(free_port())]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with Http(f"http://127.0.0.1:{port}") as http:
                await wait_until(lambda: _ready(http), "linli up")
            return round(time.perf_counter() - started, 2)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)


async def with_webhook(
    api_url: str, token: str, cases: int, concurrency: int, without: dict[str, Any]
) -> dict[str, Any]:
    """The linli run again, with one subscription to every event; the figures next to the run without."""
    async with Receiver() as receiver, Http(api_url, headers={"Authorization": f"Bearer {token}"}) as http:
        body = {"url": receiver.url, "events": list(EVENTS), "secret": uuid.uuid4().hex}
        reply = await http.post("/v1/webhooks", json=body)
        if reply.status != 201:
            raise RuntimeError(f"/v1/webhooks: {reply.status} {reply.text}")
        log(f"without a webhook: {without['commands_per_s']} commands/s; again, with a subscription to every event")
        ours = summarise(*await drive_linli(api_url, token, cases, concurrency))
        finished = time.perf_counter()
        expected = cases * 3  # filed, decision_announced, closed
        while len(receiver.accepted()) < expected and time.perf_counter() - finished < 300:
            await asyncio.sleep(0.1)
        drained = time.perf_counter() - finished
    return {
        **{f"webhook_{k}": v for k, v in ours.items() if k != "p50_ms_by_command"},
        "webhook_deliveries": len(receiver.accepted()),
        "webhook_deliveries_expected": expected,
        "webhook_drain_s": round(drained, 2),
        "webhook_ratio": round(ours["commands_per_s"] / without["commands_per_s"], 3),
        "webhook_p50_vs_without": round(ours["p50_ms"] / without["p50_ms"], 2),
    }


def summarise(by_command: Latencies, wall: float) -> dict[str, Any]:
    latencies = [s for samples in by_command.values() for s in samples]
    return {
        "commands": len(latencies),
        "commands_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": percentile_ms(latencies, 0.99),
        "p50_ms_by_command": {c: round(statistics.median(s) * 1000, 1) for c, s in by_command.items()},
    }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--open-cases", type=int, default=0, help="then file this many open cases; report worker RSS")
    parser.add_argument("--api-url", help="use this running linli instead of starting one (needs --token, --temporal)")
    parser.add_argument("--token", help="an admin token for --api-url")
    parser.add_argument("--temporal", help="its Temporal address, for the baseline (with --api-url)")
    parser.add_argument("--skip-up", action="store_true", help="do not time `linli up`")
    parser.add_argument("--webhook", action="store_true", help="drive linli again with a subscription to every event")
    args = parser.parse_args(argv)
    if args.api_url and not (args.token and args.temporal):
        parser.error("--api-url needs --token and --temporal")

    figures: dict[str, Any] = {"cases": args.cases, "concurrency": args.concurrency}
    async with AsyncExitStack() as stack:
        if args.api_url:
            api_url, token, address, local = args.api_url, args.token, args.temporal, None
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            local = LocalLinli(directory)
            stack.callback(local.stop)
            log(f"starting linli in {directory}")
            token = await local.start()
            api_url, address = local.api_url, local.address

        log(f"linli: {args.cases} cases × 8 commands, {args.concurrency} at a time")
        ours = summarise(*await drive_linli(api_url, token, args.cases, args.concurrency))
        log(f"linli: {ours['commands_per_s']} commands/s; baseline: the same through the SDK on a bare workflow")
        baseline = summarise(*await drive_baseline(address, args.cases, args.concurrency))
        figures.update(ours)
        figures.update({f"baseline_{k}": v for k, v in baseline.items() if k != "commands"})
        figures["ratio"] = round(ours["commands_per_s"] / baseline["commands_per_s"], 3)
        figures["p99_vs_baseline"] = round(ours["p99_ms"] / baseline["p99_ms"], 2)
        if args.webhook:
            figures.update(await with_webhook(api_url, token, args.cases, args.concurrency, ours))
        if local is not None:
            if args.open_cases:
                log(f"filing {args.open_cases} cases and leaving them open")
                await file_open_cases(api_url, token, args.open_cases, args.concurrency)
                figures["open_cases"] = args.open_cases
            figures["worker_peak_rss_mib"] = local.worker_peak_rss_mib()
    if not args.skip_up:
        log("timing `linli up` to ready")
        figures["up_to_ready_s"] = await time_linli_up()
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
