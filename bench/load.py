"""Load: many concurrent clients against a running linli, over real HTTP on the loopback.

    python -m bench.load [--clients 50] [--seconds 60] [--database sqlite|postgresql] [--postgres-url URL]
    python -m bench.load --api-url http://127.0.0.1:8000 --token TOKEN [--clients 50] [--seconds 60]

By default it starts its own linli: `linli up` in a temporary data dir on free ports (the Temporal dev
server; one worker and the API in one process; a SQLite read model, or a scratch PostgreSQL database; the
default policy, so no deadline passes during a run), and issues a caseworker and a supervisor token for the
first town. With `--api-url` it uses that linli and `--token` (an admin's or a supervisor's: it files, acts
and asks the supervision questions); its deadlines must be longer than the run too.

Each client loops until the time is up, picking by weight:
- file (1 in 10): POST /v1/cases at one of the compounds;
- command (4): the next step of one of its own cases: co-sign, submit, then either fast-track, progress,
  complete and a satisfied visit (closed), or escalate, accept, meeting, decide and an objection (left
  announcing);
- read (4): GET /v1/cases/{id}, GET /v1/cases?… or GET /v1/cases/{id}/events;
- supervision (1): /v1/supervision/overdue, /escalations or /stats, with the supervisor's token.
A client follows its cases' views and sends only commands their stage allows, so every answer that is
not a 2xx counts as an error. Prints a table, then the figures as one JSON object (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from api.services.tokens import issue_token
from bench.http import TRANSPORT_ERRORS, Http, Reply
from bench.measure import free_port, percentile_ms
from core.db import create_engine

WEIGHTS = {"file": 1, "command": 4, "read": 4, "supervision": 1}
MAX_CLIENTS, MAX_SECONDS = 1000, 3600
REQUEST_TIMEOUT = 60.0  # the API answers 503 after its own command timeout (30 s) before this
SUPERVISION = ("/v1/supervision/overdue", "/v1/supervision/escalations", "/v1/supervision/stats")

Step = tuple[str, dict[str, Any]]


def lifecycle(fast: bool) -> list[Step]:
    """A case's commands from filing on: every one allowed in the stage the one before leaves it in."""
    start: list[Step] = [("co-sign", {"resident": "李大爷"}), ("submit", {})]
    if fast:  # solvable at once: straight to someone with a deadline
        return [*start, ("fast-track", {"assignee": "物业", "due_in_days": 7, "note": "Within a week"}),
                ("report-progress", {"note": "Parts ordered", "percent": 50}),
                ("complete", {"summary": "Lamp replaced", "evidence": ["after.jpg"]}),
                ("record-visit", {"satisfaction": "satisfied"})]  # fmt: skip
    return [*start, ("escalate", {"note": "Needs the community"}), ("accept", {"note": "On the agenda"}),
            ("record-meeting", {"held_at": "2026-11-20T19:30:00+08:00", "participants": ["党支部", "业委会", "物业"],
                                "minutes": "Agreed to repaint the lines"}),
            ("decide", {"decision": "Repaint the parking lines", "assignee": "物业"}),
            ("object", {"resident": "张三", "reason": "Blocks the fire lane"})]  # fmt: skip


# --- the figures ---------------------------------------------------------------------------------------------


class Recorder:
    """Latency of every successful request by kind and operation; failures counted, a few kept to show."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.errors = 0
        self.error_samples: list[str] = []

    async def call(self, kind: str, op: str, request: Callable[[], Awaitable[Reply]]) -> Any:
        """The response's JSON, or None after recording an error."""
        started = time.perf_counter()
        try:
            response = await request()
        except TRANSPORT_ERRORS as error:
            self._error(op, f"{type(error).__name__}: {error}")
            return None
        elapsed = time.perf_counter() - started
        if not response.ok:
            self._error(op, f"{response.status} {response.text[:300]}")
            return None
        self.seconds[f"{kind}.{op}"].append(elapsed)
        return response.json()

    def _error(self, op: str, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{op}: {what}")

    def figures(self, elapsed: float) -> dict[str, Any]:
        kinds: dict[str, list[float]] = defaultdict(list)
        for name, samples in self.seconds.items():
            kinds[name.split(".")[0]].extend(samples)
        everything = [s for samples in self.seconds.values() for s in samples]
        return {
            "requests": len(everything),
            "throughput_rps": round(len(everything) / elapsed, 1),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "overall": summary(everything, elapsed),
            "kinds": {kind: summary(kinds[kind], elapsed) for kind in WEIGHTS},
            "ops": {name: summary(samples, elapsed) for name, samples in sorted(self.seconds.items())},
        }


def summary(samples: list[float], elapsed: float) -> dict[str, Any]:
    def rank(q: float) -> float:
        return percentile_ms(samples, q, digits=1)

    return {"count": len(samples), "rps": round(len(samples) / elapsed, 1), "p50_ms": rank(0.5),
            "p90_ms": rank(0.9), "p99_ms": rank(0.99)}  # fmt: skip


# --- the clients ---------------------------------------------------------------------------------------------


@dataclass
class Target:
    url: str
    worker: dict[str, str]  # files, acts and reads
    supervisor: dict[str, str]
    compounds: list[str]
    about: str


@dataclass
class Client:
    number: int
    http: Http
    target: Target
    recorder: Recorder
    rng: random.Random
    steps: dict[str, list[Step]] = field(default_factory=dict)  # open cases of this client: what comes next
    filed: list[str] = field(default_factory=list)
    closed: int = 0

    async def run(self, until: float) -> None:
        while time.monotonic() < until:
            kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            if (kind == "command" and not self.steps) or (kind == "read" and not self.filed):
                kind = "file"
            await getattr(self, kind)()

    async def file(self) -> None:
        body = {"unit": self.rng.choice(self.target.compounds), "category": self.rng.choice(["lighting", "parking"]),
                "title": f"Issue {self.number}-{len(self.filed)}", "description": "Raised at the say-it wall",
                "reporter": {"name": "王阿姨", "phone": "13800138000"}, "channel": "say_it_wall"}  # fmt: skip
        headers = {**self.target.worker, "Idempotency-Key": uuid.uuid4().hex}
        case = await self.recorder.call("file", "file", lambda: self.http.post("/v1/cases", json=body, headers=headers))
        if case is not None:
            self.filed.append(case["id"])
            self.steps[case["id"]] = lifecycle(fast=self.rng.random() < 0.5)

    async def command(self) -> None:
        case_id = self.rng.choice(list(self.steps))
        action, body = self.steps[case_id].pop(0)
        headers = {**self.target.worker, "Idempotency-Key": uuid.uuid4().hex}
        url = f"/v1/cases/{case_id}/actions/{action}"
        case = await self.recorder.call("command", action, lambda: self.http.post(url, json=body, headers=headers))
        if case is None or not self.steps[case_id]:  # done, or in a state this client no longer knows
            del self.steps[case_id]
        if case is not None and case["status"] == "closed":
            self.closed += 1

    async def read(self) -> None:
        case_id = self.rng.choice(self.filed)
        reads: list[tuple[str, str, dict[str, str | int]]] = [
            ("case", f"/v1/cases/{case_id}", {}),
            ("events", f"/v1/cases/{case_id}/events", {}),
            ("list", "/v1/cases", {"limit": 20, "status": "open"}),
            ("list", "/v1/cases", {"limit": 20, "unit": self.rng.choice(self.target.compounds)}),
        ]
        op, url, params = self.rng.choice(reads)
        await self.recorder.call("read", op, lambda: self.http.get(url, params=params, headers=self.target.worker))

    async def supervision(self) -> None:
        path = self.rng.choice(SUPERVISION)
        op = path.rsplit("/", 1)[1]
        await self.recorder.call("supervision", op, lambda: self.http.get(path, headers=self.target.supervisor))


async def run_load(target: Target, clients: int, seconds: float, seed: int) -> dict[str, Any]:
    recorder = Recorder()
    async with Http(target.url, connections=clients, timeout=REQUEST_TIMEOUT) as http:
        crowd = [Client(n, http, target, recorder, random.Random(seed * 1000 + n)) for n in range(clients)]
        started, cpu = time.perf_counter(), time.process_time()
        # Each client stops starting requests when the time is up; the last ones in flight are bounded too.
        async with asyncio.timeout(seconds + REQUEST_TIMEOUT + 30):
            await asyncio.gather(*(c.run(time.monotonic() + seconds) for c in crowd))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "elapsed_s": round(elapsed, 1),
        # How much of the machine the clients themselves took: on a small machine they compete with linli.
        "generator_cpu_s": round(cpu, 1),
        "cases_filed": sum(len(c.filed) for c in crowd),
        "cases_closed": sum(c.closed for c in crowd),
        **recorder.figures(elapsed),
    }


# --- the linli under load ------------------------------------------------------------------------------------


def loopback_only(url: str) -> str:
    """This generator sends a lot of traffic: it only ever talks to this machine."""
    host = urlsplit(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"only a linli on this machine (127.0.0.1), not {host!r}")
    return url.rstrip("/")


def _answer(reply: Reply) -> Any:
    if not reply.ok:
        raise SystemExit(f"linli answered {reply.status}: {reply.text[:300]}")
    return reply.json()


async def given_linli(url: str, token: str) -> Target:
    headers = {"Authorization": f"Bearer {token}"}
    async with Http(url, timeout=30) as http:
        units = _answer(await http.get("/v1/units", params={"limit": 200}, headers=headers))
    compounds = [u["code"] for u in units["items"] if u["kind"] == "compound"]
    if not compounds:
        raise SystemExit("the token sees no compound to file cases at")
    return Target(url, headers, headers, compounds, f"the linli at {url}")


@contextlib.asynccontextmanager
async def own_linli(database_url: str | None) -> AsyncIterator[Target]:
    """`linli up` in a temporary data dir on free ports; stopped (Ctrl-C, as a person would) at the end."""
    with tempfile.TemporaryDirectory(prefix="linli-load-") as tmp:
        port = free_port()
        # Only what this run sets: a LINLI_* variable from the caller's shell must not redirect it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_") or k == "LINLI_TEMPORAL_CLI"}
        env.update(LINLI_DATA_DIR=tmp, LINLI_LOG_LEVEL="WARNING", **({"LINLI_DATABASE_URL": database_url}
                                                                     if database_url else {}))  # fmt: skip
        command = [sys.executable, "-m", "api.cli", "up", "--port", str(port), "--temporal-port", str(free_port()),
                   "--ui-port", str(free_port())]  # fmt: skip
        output = Path(tmp) / "up.log"
        with output.open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            admin = await _admin_token(process, output)
            url = f"http://127.0.0.1:{port}"
            yield await _with_town_tokens(url, admin, database_url or f"sqlite:///{tmp}/linli.db")
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _admin_token(process: subprocess.Popen[bytes], output: Path, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        banner = output.read_text(encoding="utf-8", errors="replace")
        if "Press Ctrl-C" in banner:
            return next(line.split()[-1] for line in banner.splitlines() if "Admin token" in line)
        await asyncio.sleep(0.2)
    raise SystemExit(f"linli up did not start:\n{output.read_text(encoding='utf-8', errors='replace')[-3000:]}")


async def _with_town_tokens(url: str, admin: str, database_url: str) -> Target:
    """A caseworker and a supervisor for the first town, issued as `linli token issue` does."""
    async with Http(url, timeout=30) as http:
        units = await http.get("/v1/units", params={"limit": 200}, headers={"Authorization": f"Bearer {admin}"})
    items = _answer(units)["items"]
    town = next(u for u in items if u["kind"] == "town")
    compounds = [u["code"] for u in items if u["kind"] == "compound" and u["path"].startswith(town["path"])]
    engine = create_engine(database_url)
    try:
        worker, _ = await issue_token(engine, role="caseworker", name="bench 网格员", unit=town["code"])
        supervisor, _ = await issue_token(engine, role="supervisor", name="bench 综治中心", unit=town["code"])
    finally:
        await engine.dispose()
    database = database_url.split(":", 1)[0]
    return Target(url, {"Authorization": f"Bearer {worker}"}, {"Authorization": f"Bearer {supervisor}"}, compounds,
                  f"linli up ({database}), town {town['code']} with {len(compounds)} compounds")  # fmt: skip


@contextlib.asynccontextmanager
async def scratch_postgres(admin_url: str) -> AsyncIterator[str]:
    import psycopg

    name = f"linli_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the command ---------------------------------------------------------------------------------------------


def table(figures: dict[str, Any]) -> str:
    lines = [f"{'':12} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}"]
    for name, row in [*figures["kinds"].items(), ("all", figures["overall"])]:
        lines.append(f"{name:12} {row['count']:>9} {row['rps']:>8} {row['p50_ms']:>8} {row['p90_ms']:>8} "
                     f"{row['p99_ms']:>8}")  # fmt: skip
    lines.append(f"errors: {figures['errors']}; the clients' own CPU: {figures['generator_cpu_s']} s "
                 f"in {figures['elapsed_s']} s")  # fmt: skip
    lines += [f"  {sample}" for sample in figures["error_samples"]]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--clients", type=int, default=50, help=f"concurrent clients, 1–{MAX_CLIENTS} (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help=f"how long, up to {MAX_SECONDS} (default 60)")
    parser.add_argument("--api-url", type=loopback_only, help="load this linli instead of starting one")
    parser.add_argument("--token", help="with --api-url: an admin's or a supervisor's token")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="read model of the linli it starts (default sqlite)")  # fmt: skip
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LINLI_TEST_POSTGRES_URL"),
        help="for --database postgresql: an admin URL; a scratch database is made there",
    )
    parser.add_argument("--seed", type=int, default=20261121, help="the clients' choices (default 20261121)")
    return parser


async def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--clients must be 1–{MAX_CLIENTS} and --seconds in (0, {MAX_SECONDS}]")
    if args.api_url and not args.token:
        parser.error("--api-url needs --token")
    if args.database == "postgresql" and not args.postgres_url:
        parser.error("--database postgresql needs --postgres-url or $LINLI_TEST_POSTGRES_URL")
    async with contextlib.AsyncExitStack() as stack:
        if args.api_url:
            target = await given_linli(args.api_url, args.token)
        else:
            database_url = None
            if args.database == "postgresql":
                database_url = await stack.enter_async_context(scratch_postgres(args.postgres_url))
            sys.stderr.write("bench.load: starting linli up…\n")
            target = await stack.enter_async_context(own_linli(database_url))
        sys.stderr.write(f"bench.load: {args.clients} clients for {args.seconds:g} s against {target.about}\n")
        figures = await run_load(target, args.clients, args.seconds, args.seed)
    print(table(figures))
    print(json.dumps({"bench": "load", "target": target.about, "cpus": os.cpu_count(), "clients": args.clients,
                      "seconds": args.seconds, **figures}, ensure_ascii=False))  # fmt: skip
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
